"""A user's clone has no ../shared/fixtures: the tests that need them are skipped with one
summary line, not one line per test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_absent_fixtures_fold_into_one_summary_line(tmp_path):
    env = {**os.environ, "CLONEKIT_SHARED_FIXTURES": str(tmp_path / "absent")}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/builder/test_discord.py", "tests/builder/test_signal.py"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120).stdout
    skipped = [line for line in out.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 1, out[-3000:]
    assert "tests/conftest.py" in skipped[0] and "is absent" in skipped[0]
    count = int(skipped[0].split("[")[1].split("]")[0])
    assert count >= 5 and f"{count} skipped" in out.splitlines()[-1], out[-500:]
