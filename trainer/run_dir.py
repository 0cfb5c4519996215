"""The run folder (docs/CONTRACTS.md "Runs"): runs/<run-id>/run.json and its paths.
The chat, merge, serve and compare commands load runs through ``load_run`` only."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.atomic import atomic_write_text
from builder.errors import ClonekitError


def runs_root() -> Path:
    return Path(os.environ.get("CLONEKIT_RUNS") or "runs")


def new_run_id(dataset_version: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{dataset_version.replace('/', '-')}"


@dataclass
class RunInfo:
    path: Path
    run_id: str
    status: str
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
        raise ClonekitError(f"{path}: not valid JSON ({err.msg})") from None


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
            path=run_dir, run_id=data["run_id"], status=data["status"], base=data["base"], base_path=base_path,
            method=data["method"], load_in_4bit=bool(data["load_in_4bit"]), dataset=data["dataset"],
            dataset_version=data["dataset_version"], manifest_sha256=data["manifest_sha256"],
            persona=data.get("persona") or {}, chat_template=data["chat_template"],
            stop_token_ids=list(data["stop_token_ids"]), config=data["config"],
            best_checkpoint=data.get("best_checkpoint"), final=data.get("final") or {}, raw=data,
        )
    except KeyError as err:
        raise ClonekitError(f"{run_dir / 'run.json'}: missing key {err.args[0]!r} (the run did not get far; train again)") from None


def latest_unfinished_run(root: Path | None = None) -> Path | None:
    root = root or runs_root()
    candidates = []
    for p in root.glob("*/run.json"):
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if data.get("status") != "done":
            candidates.append(p.parent)
    return max(candidates, key=lambda d: (d / "run.json").stat().st_mtime, default=None)
