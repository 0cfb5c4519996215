"""The run folder (docs/CONTRACTS.md "Runs"): runs/<run-id>/run.json and its paths.
The chat, merge, serve and compare commands load runs through ``load_run`` only.

A run's lifecycle: "running" -> "done" | "failed" | "interrupted" (Ctrl-C, SIGTERM,
the TUI's Cancel). A process killed without a chance to say so (kill -9, power loss)
leaves "running" behind; ``effective_status`` turns that into "interrupted" when the
recorded pid is gone (same host) or the heartbeat file has gone stale."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.atomic import atomic_write_text
from builder.errors import ClonekitError
from builder.json_errors import describe as describe_json_error


def runs_root() -> Path:
    return Path(os.environ.get("CLONEKIT_RUNS") or "runs")


def new_run_id(dataset_version: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{dataset_version.replace('/', '-')}"


@dataclass
class RunInfo:
    path: Path
    run_id: str
    status: str  # effective: a dead "running" run reads "interrupted"
    base: str
    base_path: str  # local folder (absolute) or hub id
    method: str
    load_in_4bit: bool
    dataset: str
    dataset_version: str
    manifest_sha256: str
    persona: dict
    chat_template: str
    stop_token_ids: list[int]
    config: dict
    best_checkpoint: str | None = None
    final: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)

    @property
    def info(self) -> dict[str, Any]:
        """run.json as written."""
        return self.raw

    @property
    def adapter_dir(self) -> Path:
        return self.path / "adapter"

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    @property
    def weights_dir(self) -> Path:
        """adapter/ for qlora and lora, model/ for full fine-tuning."""
        return self.model_dir if self.method == "full" else self.adapter_dir

    @property
    def tokenizer_dir(self) -> Path:
        return self.weights_dir

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def report_path(self) -> Path:
        return self.path / "report.md"


def write_run_json(run_dir: Path, data: dict[str, Any]) -> None:
    atomic_write_text(run_dir / "run.json", json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def read_run_json(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "run.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ClonekitError(f"{path}: not found (is {run_dir} a clonekit run folder?)") from None
    except json.JSONDecodeError as err:
        raise ClonekitError(f"{path}: {describe_json_error(err)}") from None


def load_run(path: str | os.PathLike) -> RunInfo:
    run_dir = Path(path)
    if not (run_dir / "run.json").is_file() and (runs_root() / str(path) / "run.json").is_file():
        run_dir = runs_root() / str(path)  # a bare run id
    data = read_run_json(run_dir)
    try:
        base_path = data["base_path"]
        if data.get("base") == "tiny" and (run_dir / "base").is_dir():
            base_path = str((run_dir / "base").resolve())  # survives moving the run folder
        return RunInfo(
            path=run_dir, run_id=data["run_id"], status=effective_status(run_dir, data), base=data["base"],
            base_path=base_path,
            method=data["method"], load_in_4bit=bool(data["load_in_4bit"]), dataset=data["dataset"],
            dataset_version=data["dataset_version"], manifest_sha256=data["manifest_sha256"],
            persona=data.get("persona") or {}, chat_template=data["chat_template"],
            stop_token_ids=list(data["stop_token_ids"]), config=data["config"],
            best_checkpoint=data.get("best_checkpoint"), final=data.get("final") or {}, raw=data,
        )
    except KeyError as err:
        raise ClonekitError(f"{run_dir / 'run.json'}: missing key {err.args[0]!r} (the run did not get far; train again)") from None


HEARTBEAT_FILE = "heartbeat"
HEARTBEAT_EVERY_S = 10.0
STALE_AFTER_S = 120.0  # a live run touches its heartbeat every 10 s, from its own thread


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    return True


def effective_status(run_dir: Path, data: dict[str, Any], now: float | None = None) -> str:
    """run.json's status, except that a "running" run whose process is gone reads
    "interrupted": its pid is dead on this host, or its heartbeat is older than
    STALE_AFTER_S (another host, or a recycled pid), or it has neither (a run folder
    from before heartbeats, or one killed before its first beat)."""
    status = str(data.get("status") or "failed")
    if status != "running":
        return status
    now = time.time() if now is None else now
    pid, host = data.get("pid"), data.get("host")
    if isinstance(pid, int) and host == socket.gethostname() and not _pid_alive(pid):
        return "interrupted"
    try:
        beat = (Path(run_dir) / HEARTBEAT_FILE).stat().st_mtime
    except OSError:
        return "interrupted" if pid is None else "running"
    return "interrupted" if now - beat > STALE_AFTER_S else "running"


def resume_command(run_dir: Path | str) -> str:
    return f"clonekit train --resume --out {run_dir}"


def unfinished_hint(run_dir: Path, status: str) -> str:
    """What to do about a run that is not done, for every message that mentions one."""
    if status == "running":
        return f"it is still training (wait for it, or stop it and later resume with `{resume_command(run_dir)}`)"
    if status == "interrupted":
        return f"it was stopped before the end; continue it with `{resume_command(run_dir)}`"
    return f"it failed; see {Path(run_dir) / 'run.json'} ('error') and retry with `{resume_command(run_dir)}`"


class Heartbeat:
    """Touches <run>/heartbeat every HEARTBEAT_EVERY_S from a daemon thread while a run
    trains, so ``effective_status`` can tell a live run from a dead one."""

    def __init__(self, run_dir: Path, every_s: float = HEARTBEAT_EVERY_S) -> None:
        self.path = Path(run_dir) / HEARTBEAT_FILE
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="clonekit-heartbeat", daemon=True)

    def _beat(self) -> None:
        try:
            self.path.touch()
        except FileNotFoundError:
            self._stop.set()  # the run folder was removed (a refused run): nothing left to beat for

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self._beat()

    def __enter__(self) -> "Heartbeat":
        self._beat()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def process_fields() -> dict[str, Any]:
    """What run.json records about the training process, for dead-run detection."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def list_runs(root: Path | None = None) -> list[tuple[Path, dict[str, Any], str]]:
    """(folder, run.json, effective status) of every run under root, newest first;
    folders whose run.json is unreadable are skipped."""
    root = root or runs_root()
    out = []
    for p in root.glob("*/run.json"):
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(data, dict):
            out.append((p.parent, data, effective_status(p.parent, data)))
    out.sort(key=lambda t: (str(t[1].get("started") or ""), t[0].name), reverse=True)
    return out


def latest_unfinished_run(root: Path | None = None) -> Path | None:
    """The newest run that stopped before the end (interrupted or failed); a run still
    training is never picked."""
    candidates = [d for d, _, status in list_runs(root) if status in ("interrupted", "failed")]
    return max(candidates, key=lambda d: (d / "run.json").stat().st_mtime, default=None)


def _folder_bytes(folder: Path) -> int:
    total = 0
    for p in folder.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_size
        except OSError:
            continue  # removed while we walked it (a checkpoint rotating out)
    return total


def run_summary(folder: Path, data: dict[str, Any], status: str) -> dict[str, Any]:
    """What `clonekit runs list` and the TUI's run pickers show for one run."""
    final = data.get("final") or {}
    best = final.get("best_eval_loss", final.get("eval_loss"))
    steps = final.get("steps")
    if steps is None:  # unfinished: the last logged step
        steps = _last_step(folder / "metrics.jsonl")
    checkpoints = folder / "checkpoints"
    return {
        "run_id": data.get("run_id") or folder.name, "path": str(folder), "status": status,
        "base": str(data.get("base") or "?"), "dataset": str(data.get("dataset_version") or "?"),
        "steps": steps if steps is not None else 0,
        "best_val_loss": f"{best:.3f}" if isinstance(best, (int, float)) else "-",
        "bytes": _folder_bytes(folder),
        "checkpoints": len(list(checkpoints.glob("checkpoint-*"))) if checkpoints.is_dir() else 0,
        "started": str(data.get("started") or ""),
    }


def _last_step(metrics: Path) -> int | None:
    try:
        lines = metrics.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            return int(json.loads(line)["step"])
        except (ValueError, KeyError, TypeError):
            continue
    return None


def resolve_run(ref: str | os.PathLike, root: Path | None = None) -> tuple[Path, dict[str, Any], str]:
    """(folder, run.json, effective status) of a run id under ``root`` or a run folder."""
    root = root or runs_root()
    path = Path(ref)
    folder = path if (path / "run.json").is_file() else root / str(ref)
    if not (folder / "run.json").is_file():
        known = [d.name for d, _, _ in list_runs(root)][:5]
        hint = f"; runs here: {', '.join(known)}" if known else f"; no runs under {root}"
        raise ClonekitError(f"{ref}: run not found{hint} (see `clonekit runs list`)")
    data = read_run_json(folder)
    return folder, data, effective_status(folder, data)
