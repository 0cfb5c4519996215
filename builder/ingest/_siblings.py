"""Reading a small file that sits next to an export file (Slack's and PyWxDump's
``users.json``), whether the export is a folder on disk or a zip ("a.zip!/dir/file")."""

from __future__ import annotations

import os
import zipfile
from pathlib import PurePosixPath

MAX_SIBLING_BYTES = 64 * 1024**2


def read_sibling(doc_name: str, filename: str, levels_up: int = 0) -> bytes | None:
    """The bytes of ``filename`` in the folder of ``doc_name`` (``levels_up`` folders
    higher), or None when it is absent, unreadable or implausibly large."""
    name = doc_name.replace("\\", "/")
    if "!/" in name:
        zip_path, member = name.split("!/", 1)
        parent = PurePosixPath(member).parent
        for _ in range(levels_up):
            parent = parent.parent
        target = filename if str(parent) in (".", "") else str(parent / filename)
        try:
            with zipfile.ZipFile(zip_path) as zf:
                info = zf.getinfo(target)
                return zf.read(info) if info.file_size <= MAX_SIBLING_BYTES else None
        except (OSError, KeyError, zipfile.BadZipFile, RuntimeError):
            return None
    folder = os.path.dirname(os.path.abspath(doc_name))
    for _ in range(levels_up):
        folder = os.path.dirname(folder)
    path = os.path.join(folder, filename)
    try:
        if os.path.getsize(path) > MAX_SIBLING_BYTES:
            return None
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None
