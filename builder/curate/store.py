"""The versioned dataset store: ``<root>/<name>/vNNNN/{train,val}.jsonl + manifest.json``.

A version is written into a temp folder and renamed into place (builder.atomic.atomic_dir),
so a crash or Ctrl-C never leaves a partial version, and an existing version is never
overwritten. Root: ``$CLONEKIT_DATASETS`` or ``./datasets``."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from builder import __version__
from builder.atomic import atomic_dir
from builder.errors import ClonekitError

VERSION_RE = re.compile(r"^v(\d{4,})$")
_SECRET_KEY = re.compile(r"(?i)(api[_-]?key|secret|password|authorization)")


def datasets_root(root: str | os.PathLike | None = None) -> Path:
    if root is not None:
        return Path(root)
    return Path(os.environ.get("CLONEKIT_DATASETS") or "datasets")


@dataclass
class DatasetVersion:
    path: Path
    name: str
    version: str  # "vNNNN"
    manifest: dict[str, Any]
    train: list[dict] = field(default_factory=list)
    val: list[dict] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"


def _versions(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    found = [p.name for p in folder.iterdir() if p.is_dir() and VERSION_RE.match(p.name)]
    return sorted(found, key=lambda v: int(v[1:]))


_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")  # conventional env var names; key values never look like this


def _is_secret(key: str, value: Any) -> bool:
    """A credential-like key, except ``*_env`` keys holding only an environment variable
    NAME (``api_key_env = "OPENAI_API_KEY"``): those are kept, a value in one is not."""
    if not _SECRET_KEY.search(key):
        return False
    if key.lower().endswith("_env"):
        return not (value is None or (isinstance(value, str) and _ENV_NAME.match(value)))
    return True


def _scrub(obj: Any) -> Any:
    """Drop any key that looks like a credential, at any depth (env var names kept)."""
    if isinstance(obj, dict):
        return {k: _scrub(v) for k, v in obj.items() if not _is_secret(str(k), v)}
    if isinstance(obj, list):
        return [_scrub(v) for v in obj]
    return obj


def render_jsonl(records: Iterable[dict] | str | bytes) -> bytes:
    if isinstance(records, bytes):
        return records
    if isinstance(records, str):
        return records.encode("utf-8")
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def write_version(
    name: str,
    train: Iterable[dict] | str | bytes,
    val: Iterable[dict] | str | bytes,
    manifest: dict[str, Any],
    *,
    root: str | os.PathLike | None = None,
    parent: str | None = None,
) -> Path:
    """Write the next version of ``name``; ``train``/``val`` are records or ready JSONL
    text (str or UTF-8 bytes). Fills version, parent, created, tool_version and the sha256s."""
    base = datasets_root(root) / name
    train_b, val_b = render_jsonl(train), render_jsonl(val)
    files = _file_entries(train_b, val_b)
    for _attempt in range(100):
        existing = _versions(base)
        number = int(existing[-1][1:]) + 1 if existing else 1
        version = f"v{number:04d}"
        target = base / version
        full = {
            "version": f"{name}/{version}",
            "name": name,
            "parent": parent,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "tool_version": __version__,
            **_scrub({k: v for k, v in manifest.items() if k not in ("version", "name", "parent", "created", "tool_version")}),
            "files": files,
        }
        try:
            with atomic_dir(target) as tmp:
                (tmp / "train.jsonl").write_bytes(train_b)
                (tmp / "val.jsonl").write_bytes(val_b)
                (tmp / "manifest.json").write_text(json.dumps(full, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        except OSError:
            if target.exists():
                continue  # another build took this number meanwhile: take the next one
            raise
        return target
    raise ClonekitError(f"{base}: could not allocate a new version folder")


def _file_entries(train_b: bytes, val_b: bytes) -> dict[str, dict[str, Any]]:
    """sha256 and record count of each file. hashlib releases the GIL on large buffers, so
    the train file is hashed in a thread while this one hashes val and counts lines."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        train_sha = pool.submit(lambda: hashlib.sha256(train_b).hexdigest())
        val_sha = hashlib.sha256(val_b).hexdigest()
        counts = train_b.count(b"\n"), val_b.count(b"\n")
        return {
            "train.jsonl": {"sha256": train_sha.result(), "records": counts[0]},
            "val.jsonl": {"sha256": val_sha, "records": counts[1]},
        }


def resolve_version(ref: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """``datasets/NAME/vNNNN`` (a path), ``NAME/vNNNN`` or ``NAME`` (= latest)."""
    p = Path(ref)
    if (p / "manifest.json").is_file():
        return p
    base = datasets_root(root)
    parts = Path(ref).parts
    if len(parts) == 1:
        versions = _versions(base / parts[0])
        if not versions:
            raise ClonekitError(f"dataset '{ref}': no versions under {base / parts[0]} (see `clonekit datasets list`)")
        return base / parts[0] / versions[-1]
    candidate = base / Path(*parts[-2:])
    if (candidate / "manifest.json").is_file():
        return candidate
    raise ClonekitError(f"dataset version '{ref}' not found under {base} (see `clonekit datasets list`)")


def read_records(path: str | os.PathLike) -> list[dict]:
    """Dataset records from a train/val JSONL file; a bad line is a one-line error naming it."""
    path = Path(path)
    out = []
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as err:
                raise ClonekitError(f"{path}:{i}: not valid JSON ({err.msg})") from None
            if not isinstance(rec, dict) or not isinstance(rec.get("messages"), list):
                raise ClonekitError(f"{path}:{i}: a record needs a 'messages' list")
            out.append(rec)
    return out


def load_version(ref: str | os.PathLike, root: str | os.PathLike | None = None, records: bool = True) -> DatasetVersion:
    path = resolve_version(ref, root)
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ClonekitError(f"{path / 'manifest.json'}: not valid JSON ({err.msg})") from None
    dv = DatasetVersion(path=path, name=path.parent.name, version=path.name, manifest=manifest)
    if records:
        dv.train = read_records(path / "train.jsonl")
        dv.val = read_records(path / "val.jsonl")
    return dv


def list_versions(root: str | os.PathLike | None = None) -> list[DatasetVersion]:
    """Every version under root (manifests only), by name then version."""
    base = datasets_root(root)
    if not base.is_dir():
        return []
    out = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for v in _versions(folder):
            try:
                out.append(load_version(folder / v, records=False))
            except ClonekitError:
                continue  # a hand-damaged manifest is reported by `datasets show`, not here
    return out
