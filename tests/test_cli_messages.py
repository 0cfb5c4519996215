"""What the CLI tells a user and leaves on disk: no --help points at a document the
repository does not have, and everything derived from private chats is owner-only
whatever the user's umask."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from clonekit.cli import COMMANDS

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_names_only_documents_that_exist(command):
    argv = [command, "--help"] if command else ["--help"]
    out = subprocess.run([sys.executable, "-m", "clonekit", *argv], cwd=REPO, capture_output=True, text=True,
                         timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)}).stdout
    for doc in re.findall(r"[\w./-]*\b[A-Z][A-Z_]{2,}\.md\b", out):  # documents (README.md, docs/CONFIG.md)
        if Path(doc).name == "FILE.md":
            continue  # a placeholder for an output file
        assert (REPO / doc).is_file() or (REPO / "docs" / Path(doc).name).is_file(), f"`clonekit {command} --help` names {doc}"


def test_build_output_is_owner_only_under_an_open_umask(tmp_path):
    from builder.demo_workspace import create_demo_workspace

    ws = create_demo_workspace(tmp_path / "ws")
    env = {**os.environ, "PYTHONPATH": str(REPO), "CLONEKIT_DATASETS": str(ws.datasets_root),
           "CLONEKIT_CACHE": str(ws.root / ".clonekit-cache")}
    out = subprocess.run([sys.executable, "-m", "clonekit", "build", "-q"], cwd=ws.root, env=env, capture_output=True,
                         text=True, timeout=120, preexec_fn=lambda: os.umask(0o022))
    assert out.returncode == 0, out.stderr
    made = [p for p in ws.datasets_root.rglob("*")]
    assert made and all(p.stat().st_mode & 0o777 == (0o700 if p.is_dir() else 0o600) for p in made), \
        {str(p): oct(p.stat().st_mode & 0o777) for p in made}
