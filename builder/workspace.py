"""A workspace: a folder with ``clonekit.toml`` (the build config the TUI edits), the
exports it names, and ``datasets/`` and ``runs/`` beside them.

The TOML is read with tomllib and written back with tomli-w, so every value round-trips
(comments do not survive a save). Every change is validated as a whole BuildConfig
before it is written, so the file on disk is always one `clonekit build --config
clonekit.toml` accepts; run from the workspace folder, that command writes the same
version the TUI writes.

All of the TUI's state lives in that file: the build tables, and [synth], [train] and
[chat] (the settings of those pages, which the build validates but does not use). An
unknown table is reported on open, as `clonekit build` would."""

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


class Workspace:
    """The state of one workspace. ``data`` is the TOML as plain dicts (only what was
    set: defaults stay out of the file)."""

    def __init__(self, root: Path, data: dict[str, Any] | None = None) -> None:
        self.root = Path(root).resolve()
        self.data: dict[str, Any] = data or {}

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
            ws.data = raw
            ws.build_config()  # validate now: a bad file is reported on open, not later
        return ws

    def save(self) -> None:
        atomic_write_text(self.config_path, HEADER + "\n" + _dump_toml(self.data))

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

    def set_section(self, section: str, values: dict[str, Any]) -> bool:
        """Set several keys of one table (None removes a key: its default applies),
        validated and saved like ``update``. Returns whether the file changed; a page
        calls this every time it runs something, so an unchanged table is not rewritten."""
        current = self.data.get(section, {})
        changes = {f"{section}.{k}": v for k, v in values.items() if current.get(k) != v}
        if not changes:
            return False
        self.update(changes)
        return True


# ---------------------------------------------------------------------- previews
# What the TUI shows before writing a version. They call builder.curate.build.curate (the
# same steps `clonekit build` runs) with some steps switched off, and compare.

def _without(config, **sections: dict[str, Any]):
    data = config.model_dump()
    for section, values in sections.items():
        data[section].update(values)
    return type(config).model_validate(data)


def filter_preview(inputs, config, counter=None, examples: int = 6) -> dict[str, Any]:
    """Token lengths of every conversation before cleaning, and which ones the [clean]
    settings drop (and why), with a few example records. Balancing is off on both sides
    so only cleaning differs."""
    import json

    import polars as pl

    from builder.curate.build import curate
    from builder.tokens import load_counter

    counter = counter or load_counter(config.tokenizer.spec)
    no_balance = {"max_share": None, "max_conversations": None, "min_conversations": 1}
    everything = curate(inputs, _without(config, balance=no_balance, split={"val_fraction": 0.0},
                                         clean={"dedup": False, "near_dup": False, "min_tokens": 0,
                                                "max_tokens": None}), counter)
    try:
        kept = curate(inputs, _without(config, balance=no_balance, split={"val_fraction": 0.0}), counter)
        kept_ids, pii_counts = kept.convs.select("conv"), kept.stats.get("pii") or {}
    except ClonekitError as err:
        if "after cleaning" not in str(err):
            raise
        kept_ids, pii_counts = everything.convs.select("conv").clear(), {}  # the filters drop everything
    lo, hi = config.clean.min_tokens, config.clean.max_tokens
    too_short = pl.col("n_tokens") < lo
    too_long = pl.lit(False) if hi is None else pl.col("n_tokens") > hi
    dropped = (
        everything.convs.join(kept_ids, on="conv", how="anti")
        .with_columns(reason=pl.when(too_short).then(pl.lit(f"shorter than {lo} tokens"))
                      .when(too_long).then(pl.lit(f"longer than {hi} tokens"))
                      .otherwise(pl.lit("duplicate")))
        .join(everything.lines.select("conv", "line"), on="conv")
        .sort("conv")
    )
    counts = dropped.group_by("reason").agg(pl.len()).sort("reason").rows()
    sample = dropped.group_by("reason", maintain_order=True).head(max(1, examples // max(1, len(counts))))
    return {
        "lengths": everything.convs["n_tokens"].to_list(),
        "total": everything.convs.height,
        "kept": kept_ids.height,
        "dropped_by": dict(counts),
        "examples": [{"reason": r["reason"], "record": json.loads(r["line"])}
                     for r in sample.head(examples).iter_rows(named=True)],
        "pii": pii_counts,
    }


def preview_records(curated) -> list[dict]:
    """The records a version would hold (train then val), as dicts with their split."""
    import json

    return [dict(json.loads(line), split=split) for split, line in curated.lines.select("split", "line").iter_rows()]

