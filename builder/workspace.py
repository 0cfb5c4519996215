"""A workspace: a folder with ``clonekit.toml`` (the build config the TUI edits), the
exports it names, and ``datasets/`` and ``runs/`` beside them.

The TOML is read with tomllib and written back with tomli-w, so every value round-trips
(comments do not survive a save). Every change is validated as a whole BuildConfig
before it is written, so the file on disk is always one `clonekit build --config
clonekit.toml` accepts; run from the workspace folder, that command writes the same
version the TUI writes.

Tables that BuildConfig does not know ([synth], [train], [chat]: settings of the other
screens) are kept in memory only, unless BuildConfig grows a field for them, so the TUI
never adds a key the build command would reject; such tables already in the file (put
there by hand) are written back untouched."""

from __future__ import annotations

import copy
import os
import tomllib
from pathlib import Path
from typing import Any

from builder.atomic import atomic_write_text
from builder.config_base import validate
from builder.errors import ClonekitError, ConfigError

CONFIG_NAME = "clonekit.toml"
HEADER = (
    "# clonekit workspace config, written by `clonekit tui` (hand edits are fine).\n"
    "# Reproduce the dataset version the TUI writes with, from this folder:\n"
    "#   clonekit build --config clonekit.toml\n"
)


def _dump_toml(data: dict[str, Any]) -> str:
    import tomli_w

    return tomli_w.dumps(_without_none(data))


def _without_none(obj: Any) -> Any:
    """TOML has no null: a key set to None is left out (the config default applies)."""
    if isinstance(obj, dict):
        return {k: _without_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_without_none(v) for v in obj if v is not None]
    return obj


def _build_fields() -> set[str]:
    from builder.curate.config import BuildConfig

    return set(BuildConfig.model_fields)


class Workspace:
    """The state of one workspace. ``data`` is the TOML as plain dicts; ``extra`` holds
    the tables that are not part of the build config."""

    def __init__(self, root: Path, data: dict[str, Any] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        self.root = Path(root).resolve()
        self.data: dict[str, Any] = data or {}
        self.extra: dict[str, Any] = extra or {}
        self._kept: dict[str, Any] = {}  # tables found in the file that the build does not read

    # ------------------------------------------------------------------ files
    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def exports_dir(self) -> Path:
        return self.root / "exports"

    @property
    def datasets_root(self) -> Path:
        root = self.data.get("build", {}).get("root")
        return (self.root / root) if root else self.root / "datasets"

    @property
    def runs_root(self) -> Path:
        return self.root / "runs"

    @classmethod
    def open(cls, root: str | os.PathLike, create: bool = True) -> "Workspace":
        """Load ``root/clonekit.toml``; a folder without one starts empty (and is created
        when ``create``). Raises ClonekitError for a file that is not valid TOML or not a
        valid build config."""
        path = Path(root).expanduser()
        if path.exists() and not path.is_dir():
            raise ClonekitError(f"{path}: not a folder; a workspace is a folder holding clonekit.toml")
        if not path.exists():
            if not create:
                raise ClonekitError(f"{path}: no such folder")
            path.mkdir(parents=True)
        ws = cls(path)
        if ws.config_path.is_file():
            try:
                raw = tomllib.loads(ws.config_path.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as err:
                raise ConfigError(f"{ws.config_path}: not valid TOML: {err}") from None
            except UnicodeDecodeError:
                raise ConfigError(f"{ws.config_path}: not UTF-8 text") from None
            fields = _build_fields()
            ws.data = {k: v for k, v in raw.items() if k in fields}
            ws.extra = {k: v for k, v in raw.items() if k not in fields}
            ws._kept = copy.deepcopy(ws.extra)
            ws.build_config()  # validate now: a bad file is reported on open, not later
        return ws

    def save(self) -> None:
        atomic_write_text(self.config_path, HEADER + "\n" + _dump_toml({**self.data, **self._kept}))

    # ------------------------------------------------------------------ config
    def _resolved(self, data: dict[str, Any]) -> dict[str, Any]:
        """The data as load_build_config sees it: sources absolute (relative to the
        workspace), the datasets root inside the workspace."""
        d = copy.deepcopy(data)
        build = d.setdefault("build", {})
        if isinstance(build.get("sources"), list):
            build["sources"] = [str((self.root / Path(s).expanduser()).resolve()) if isinstance(s, str) else s
                                for s in build["sources"]]
        build["root"] = str(self.datasets_root)
        return d

    def build_config(self, data: dict[str, Any] | None = None):
        """The validated BuildConfig (raises ConfigError naming the key)."""
        from builder.curate.config import BuildConfig

        return validate(BuildConfig, self._resolved(self.data if data is None else data), where=str(self.config_path))

    def get(self, section: str, key: str, default: Any = None) -> Any:
        return self.data.get(section, {}).get(key, default)

    def section(self, section: str) -> dict[str, Any]:
        """The effective values of a build-config section (defaults filled in)."""
        return self.build_config().model_dump(mode="json")[section]

    def update(self, changes: dict[str, Any]) -> None:
        """Apply ``{"section.key": value}`` (None removes the key, so its default applies),
        validate the whole config, then save. On a bad value nothing changes and
        ConfigError names the key."""
        candidate = copy.deepcopy(self.data)
        for dotted, value in changes.items():
            section, _, key = dotted.partition(".")
            if not key:
                raise ConfigError(f"'{dotted}': expected SECTION.KEY")
            table = candidate.setdefault(section, {})
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
            if not table:
                candidate.pop(section)
        self.build_config(candidate)
        self.data = candidate
        self.save()

    # ------------------------------------------------------------------ sources
    def display_path(self, path: str | os.PathLike) -> str:
        """A path as the user sees it: relative to the workspace when inside it."""
        p = Path(path)
        try:
            return str(p.resolve().relative_to(self.root))
        except ValueError:
            return str(p)

    def sources(self) -> list[str]:
        return list(self.get("build", "sources", []) or [])

    def source_paths(self) -> list[Path]:
        return [(self.root / Path(s).expanduser()).resolve() for s in self.sources()]

    def add_source(self, path: str | os.PathLike) -> str:
        """Add an export file or folder (stored relative to the workspace when inside
        it); returns the stored form. Raises ClonekitError when it does not exist."""
        raw = str(path).strip()
        if not raw:
            raise ClonekitError("type the path of an export file or folder first")
        p = Path(raw).expanduser()
        full = p if p.is_absolute() else self.root / p
        if not full.exists():
            raise ClonekitError(f"{raw}: no such file or folder")
        stored = self.display_path(full)
        current = self.sources()
        if stored in current:
            raise ClonekitError(f"{stored}: already a source")
        self.update({"build.sources": current + [stored]})
        return stored

    def remove_source(self, stored: str) -> None:
        self.update({"build.sources": [s for s in self.sources() if s != stored] or None})

    # ------------------------------------------------------------------ other tables
    def extra_table(self, name: str) -> dict[str, Any]:
        return dict(self.extra.get(name, {}))

    def set_extra(self, name: str, values: dict[str, Any]) -> None:
        """Settings of the synth/train/chat screens. Written to the file only when the
        build config accepts that table; otherwise kept for this session."""
        self.extra[name] = {k: v for k, v in values.items() if v is not None}
        if name in _build_fields():
            self.update({f"{name}.{k}": v for k, v in self.extra[name].items()})
