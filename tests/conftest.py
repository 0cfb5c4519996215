from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Real sample exports from public parser projects. They are not ours to ship: they sit in
# the shared folder beside a developer checkout (and CI's clone), not in a user's clone.
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"


@pytest.fixture
def shared_fixtures() -> Path:
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"{SHARED_FIXTURES} is absent (a user's clone): third-party fixtures are not shipped")
    return SHARED_FIXTURES
