from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Real sample exports from public parser projects. They are not ours to ship: they sit in
# the shared folder beside a developer checkout (and CI's clone), not in a user's clone.
# CLONEKIT_SHARED_FIXTURES points elsewhere (the conftest's own test uses a missing folder).
SHARED_FIXTURES = Path(os.environ.get("CLONEKIT_SHARED_FIXTURES") or REPO.parent / "shared" / "fixtures")


FIXTURES_ABSENT = "third-party fixtures are not shipped"


@pytest.fixture
def shared_fixtures() -> Path:
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"{SHARED_FIXTURES} is absent (a user's clone): {FIXTURES_ABSENT}")
    return SHARED_FIXTURES


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Every skip for the absent fixtures gets one location, so `-ra` folds them into a
    single summary line ("SKIPPED [49] tests/conftest.py: ... absent") instead of one per test."""
    report = yield
    if report.skipped and isinstance(report.longrepr, tuple) and FIXTURES_ABSENT in str(report.longrepr[2]):
        report.longrepr = (__file__, shared_fixtures.__wrapped__.__code__.co_firstlineno, report.longrepr[2])
    return report
