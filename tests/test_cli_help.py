"""`clonekit --help` and every subcommand's --help stay fast: they must not import the
heavy libraries (checked by module, not by timing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from clonekit.cli import COMMANDS

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("polars", "torch", "transformers", "textual", "openai", "peft", "numpy")
PROBE = """
import sys
from clonekit.cli import main
try:
    main(sys.argv[1:] + ["--help"])
except SystemExit:
    pass
print("LOADED:" + ",".join(m for m in {heavy!r} if m in sys.modules))
"""


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_imports_nothing_heavy(command):
    argv = [command] if command else []
    proc = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "usage: clonekit" in proc.stdout
    loaded = proc.stdout.rsplit("LOADED:", 1)[1].strip()
    assert loaded == "", f"`clonekit {command} --help` imported {loaded}"
