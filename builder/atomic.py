"""Write files and folders so that a crash or Ctrl-C never leaves a half-written result:
write to a temporary sibling, then rename into place."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

# Everything clonekit derives from private chats (datasets, runs, caches, exports) is
# readable by its owner only. The CLI sets PRIVATE_UMASK for the whole process; writers
# of the most sensitive files also set these modes explicitly (library callers, tests).
PRIVATE_UMASK = 0o077
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def private_mkdir(path: str | os.PathLike) -> Path:
    """``mkdir -p`` whose new folders are owner-only (existing ones are left as they are)."""
    path = Path(path)
    missing = [p for p in [path, *path.parents] if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for p in missing:
        os.chmod(p, PRIVATE_DIR_MODE)
    return path


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp file path beside ``target``; on success it replaces ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write_text(target: str | os.PathLike, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp folder beside ``target``; on success it is renamed to ``target``,
    which must not exist yet (versions are never overwritten)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        os.rename(tmp, target)  # fails if target exists: never overwrite
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
