"""Completes a typed path against the file system (relative paths from the workspace)."""

from __future__ import annotations

import os
from pathlib import Path

from textual.suggester import Suggester


class PathSuggester(Suggester):
    def __init__(self, base: Path) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.base = base

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        typed = Path(value).expanduser()
        folder_part, _, stem = value.rpartition("/")
        folder = typed.parent if not value.endswith("/") else typed
        if value.endswith("/"):
            stem = ""
            folder_part = value.rstrip("/")
        if not folder.is_absolute():
            folder = self.base / folder
        try:
            names = sorted(e.name for e in os.scandir(folder) if not e.name.startswith("."))
        except OSError:
            return None
        for name in names:
            if name.startswith(stem) and name != stem:
                prefix = f"{folder_part}/" if folder_part or value.startswith("/") else ""
                suffix = "/" if (folder / name).is_dir() else ""
                return f"{prefix}{name}{suffix}"
        return None
