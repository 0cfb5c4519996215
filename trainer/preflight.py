"""Cheap checks that run before `clonekit train` imports torch and transformers (seconds
of import time): the dataset version exists, the preset is known, and the base can be
had: ``tiny``, an existing local model folder, or a Hugging Face id that is either in
the local cache or downloadable (one short network probe; ``HF_HUB_OFFLINE`` honoured).
Each failure is one line naming the flag and what to do."""

from __future__ import annotations

import os
import re
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

from builder.errors import ClonekitError, ConfigError

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
PROBE_TIMEOUT_S = 3.0


def looks_like_path(spec: str) -> bool:
    """``./x``, ``../x``, ``/x``, ``~/x``, ``C:\\x``, ``a/b/c``: a folder, never a hub id."""
    return (spec.startswith((".", "/", "~")) or "\\" in spec or spec.count("/") > 1
            or bool(re.match(r"^[A-Za-z]:", spec)))


def hf_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_host() -> str:
    return urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co").hostname or "huggingface.co"


def hub_reachable(host: str | None = None, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when a TCP connection to the hub opens within ``timeout``; else the reason.
    Run in a thread so a hanging DNS lookup cannot hold the command either."""
    host = host or hub_host()
    result: list[str | None] = ["timed out"]

    def probe() -> None:
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            result[0] = None
        except OSError as err:
            result[0] = err.strerror or type(err).__name__

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return result[0]


def in_hub_cache(repo_id: str) -> bool:
    """The model's config.json is in the local Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, "config.json")
    except ValueError:  # not a valid repo id
        return False
    return isinstance(found, str)


def check_base(base: str, probe=hub_reachable) -> str:
    """Return how the base will be loaded ("tiny", "folder", "cache", "hub"), or raise a
    one-line ClonekitError. When the hub is unreachable but the model is cached, sets
    HF_HUB_OFFLINE=1 so the loaders do not spend a minute retrying."""
    if base == "tiny":
        return "tiny"
    path = Path(base).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(f"--base {base}: folder has no config.json; is it a Hugging Face model folder?")
        return "folder"
    if path.exists():
        raise ConfigError(f"--base {base}: is a file; pass a model folder, a Hugging Face id, or 'tiny'")
    if looks_like_path(base) or not _HUB_ID.match(base):
        raise ConfigError(f"--base {base}: folder {base} does not exist (pass a model folder, a Hugging Face id "
                          "like Qwen/Qwen2.5-0.5B-Instruct, or 'tiny')")
    cached = in_hub_cache(base)
    if hf_offline():
        if cached:
            return "cache"
        raise ClonekitError(f"--base {base}: HF_HUB_OFFLINE is set and {base} is not in the local Hugging Face cache; "
                            "download it once online, or pass a local model folder")
    reason = probe()
    if reason is None:
        return "hub"
    if cached:
        os.environ["HF_HUB_OFFLINE"] = "1"
        return "cache"
    raise ClonekitError(f"--base {base}: cannot reach {hub_host()} ({reason}) and {base} is not in the local "
                        "Hugging Face cache; connect to the internet, or pass a local model folder (or 'tiny')")


def check_train_args(data: str | None, base: str | None, preset: str, probe=hub_reachable) -> None:
    """Everything `clonekit train` can check without torch, in the order a user reads
    the command line."""
    from builder.curate.store import resolve_version
    from trainer.presets import preset_path

    if not data:
        raise ConfigError("--data is required (a dataset version folder like datasets/NAME/v0001)")
    resolve_version(data)
    preset_path(preset)
    if not base:
        raise ConfigError("--base is required (a Hugging Face id, a local model folder, or 'tiny')")
    check_base(base, probe=probe)
