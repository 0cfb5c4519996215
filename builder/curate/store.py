"""The versioned dataset store: ``<root>/<name>/vNNNN/{train,val}.jsonl + manifest.json``.

A version is written into a temp folder and renamed into place, so a crash or Ctrl-C
never leaves a partial version, and an existing version is never overwritten. Root:
``$CLONEKIT_DATASETS`` or ``./datasets``."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Union

from builder import __version__, json_errors
from builder.atomic import PRIVATE_FILE_MODE, atomic_write_text, private_mkdir
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


JsonlSource = Union[Iterable[dict], str, bytes, Callable[[Path], None]]


def render_jsonl(records: Iterable[dict] | str | bytes) -> bytes:
    if isinstance(records, bytes):
        return records
    if isinstance(records, str):
        return records.encode("utf-8")
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def _write_jsonl(path: Path, source: JsonlSource) -> None:
    if callable(source):
        source(path)  # a writer (build's Polars frames): no bytes object of the whole file
    else:
        path.write_bytes(render_jsonl(source))
    os.chmod(path, PRIVATE_FILE_MODE)  # private chats: owner only, whatever the umask


class NothingChanged(ClonekitError):
    """The version about to be written has the same train and val records as an existing
    one (its parent, or the latest of its name): nothing is written. ``path`` is that
    version; front ends say so and offer ``--force``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ref = f"{path.parent.name}/{path.name}"
        super().__init__(f"nothing changed since {self.ref} (same train and val records); nothing was written")


def _same_records(path: Path, files: dict[str, dict[str, Any]]) -> bool:
    try:
        theirs = json.loads((path / "manifest.json").read_text(encoding="utf-8")).get("files") or {}
    except (OSError, json.JSONDecodeError):
        return False
    return all(theirs.get(f, {}).get("sha256") == files[f]["sha256"] for f in ("train.jsonl", "val.jsonl"))


def write_version(
    name: str,
    train: JsonlSource,
    val: JsonlSource,
    manifest: dict[str, Any],
    *,
    root: str | os.PathLike | None = None,
    parent: str | None = None,
    force: bool = False,
) -> Path:
    """Write the next version of ``name``; ``train``/``val`` are records, ready JSONL text
    (str or UTF-8 bytes) or a function that writes the JSONL file at the path it is given.
    Fills version, parent, created, tool_version and the sha256s.

    Idempotent: when the records are byte-identical to the parent's (or, without a parent,
    the latest version's), raises NothingChanged and writes nothing, unless ``force``.

    The files are written into a temp folder beside the versions first; the number is
    taken only when the folder is complete (its manifest names it), by renaming the
    folder, so a crash or Ctrl-C leaves no partial version and none is overwritten."""
    base = private_mkdir(datasets_root(root) / name)
    tmp = Path(tempfile.mkdtemp(prefix=".new.", suffix=".tmp", dir=base))
    try:
        # both files at once: the writers and the hashing release the GIL
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda item: _write_jsonl(tmp / item[0], item[1]), [("train.jsonl", train), ("val.jsonl", val)]))
            files = dict(pool.map(_file_entry, [tmp / "train.jsonl", tmp / "val.jsonl"]))
        if not force:
            existing = _versions(base)
            against = (datasets_root(root) / parent) if parent else (base / existing[-1] if existing else None)
            if against is not None and _same_records(against, files):
                raise NothingChanged(against)
        for _attempt in range(100):
            existing = _versions(base)
            number = int(existing[-1][1:]) + 1 if existing else 1
            version = f"v{number:04d}"
            full = {
                "version": f"{name}/{version}",
                "name": name,
                "parent": parent,
                "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "tool_version": __version__,
                **_scrub({k: v for k, v in manifest.items() if k not in ("version", "name", "parent", "created", "tool_version")}),
                "files": files,
            }
            atomic_write_text(tmp / "manifest.json", json.dumps(full, indent=2, ensure_ascii=False) + "\n")
            try:
                os.rename(tmp, base / version)  # fails if it exists: never overwrite
            except OSError:
                if (base / version).exists():
                    continue  # another build took this number meanwhile: take the next one
                raise
            return base / version
        raise ClonekitError(f"{base}: could not allocate a new version folder")
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _file_entry(path: Path) -> tuple[str, dict[str, Any]]:
    """(file name, sha256 and record count), read back in blocks (hashlib releases the
    GIL on them, so both files are hashed at once)."""
    digest, lines = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            lines += block.count(b"\n")
    return path.name, {"sha256": digest.hexdigest(), "records": lines}


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
                raise ClonekitError(f"{path}:{i}: {json_errors.describe(err, line)}") from None
            if not isinstance(rec, dict) or not isinstance(rec.get("messages"), list):
                raise ClonekitError(f"{path}:{i}: a record needs a 'messages' list")
            out.append(rec)
    return out


def load_version(ref: str | os.PathLike, root: str | os.PathLike | None = None, records: bool = True) -> DatasetVersion:
    path = resolve_version(ref, root)
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ClonekitError(f"{path / 'manifest.json'}: {json_errors.describe(err)}") from None
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
