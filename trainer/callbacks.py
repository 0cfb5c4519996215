"""Trainer callbacks: progress events (the CLI's bar, the TUI's messages, --events-jsonl),
metrics.jsonl, and cancellation."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import IO

from transformers import TrainerCallback

from builder.events import CancelToken, Event, Log, OnEvent, Progress


class JsonlEvents:
    """An ``on_event`` that appends each event as one JSON line (for the TUI)."""

    def __init__(self, path: str | Path) -> None:
        self.fh: IO[str] = open(path, "a", encoding="utf-8")

    def __call__(self, event: Event) -> None:
        self.fh.write(json.dumps({"type": type(event).__name__.lower(), **asdict(event)}) + "\n")
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()


def tee(*handlers: OnEvent) -> OnEvent:
    def on_event(event: Event) -> None:
        for h in handlers:
            h(event)

    return on_event


def trim_metrics(path: Path, after_step: int) -> None:
    """On resume: drop lines logged after the checkpoint we restart from."""
    if not path.is_file():
        return
    keep = [l for l in path.read_text(encoding="utf-8").splitlines() if l.strip() and json.loads(l).get("step", 0) <= after_step]
    path.write_text("".join(l + "\n" for l in keep), encoding="utf-8")


class EventsCallback(TrainerCallback):
    def __init__(self, on_event: OnEvent, cancel: CancelToken, metrics_path: Path) -> None:
        self.on_event = on_event
        self.cancel = cancel
        self.metrics_path = metrics_path
        self.t0 = 0.0
        self.step0 = 0
        self.tokens0 = 0
        self.last: dict = {}
        self.cancelled = False
        self.best_eval = float("inf")
        self.final_eval = False  # set before the closing evaluate(): reported once, labelled, not a curve point

    def _write(self, row: dict) -> None:
        with open(self.metrics_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")

    def on_train_begin(self, args, state, control, **kwargs):
        self.t0 = time.monotonic()
        self.step0 = state.global_step
        self.tokens0 = state.num_input_tokens_seen

    def on_step_end(self, args, state, control, **kwargs):
        if self.cancel.cancelled:
            self.cancelled = True
            control.should_training_stop = True
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero:
            return  # under torchrun every rank logs; rank 0 reports
        logs = logs or {}
        elapsed = max(time.monotonic() - self.t0, 1e-9)
        step = state.global_step
        if "loss" in logs:
            tokens = state.num_input_tokens_seen - self.tokens0
            done = max(step - self.step0, 1)
            eta = (state.max_steps - step) * elapsed / done
            row = {
                "step": step, "epoch": round(state.epoch or 0.0, 4), "loss": logs["loss"],
                "lr": logs.get("learning_rate"), "grad_norm": logs.get("grad_norm"),
                "tokens_seen": state.num_input_tokens_seen, "tokens_per_s": tokens / elapsed,
                "elapsed_s": elapsed, "eta_s": eta,
            }
            self.last = row
            self._write(row)
            self.on_event(Progress(
                "train", step, state.max_steps,
                detail=f"loss {logs['loss']:.3f} · {row['tokens_per_s']:,.0f} tok/s",
                extra={k: row[k] for k in ("loss", "tokens_per_s", "eta_s", "epoch", "lr")},
            ))
        if "eval_loss" in logs and self.final_eval:
            best = state.best_model_checkpoint
            where = f"best checkpoint, step {best.rsplit('-', 1)[-1]}" if best else f"step {step}"
            self.on_event(Log(f"final val loss ({where}): {logs['eval_loss']:.4f}"))
        elif "eval_loss" in logs:
            self._write({"step": step, "epoch": round(state.epoch or 0.0, 4), "eval_loss": logs["eval_loss"]})
            self.best_eval = min(self.best_eval, logs["eval_loss"])
            self.on_event(Log(f"step {step}: val loss {logs['eval_loss']:.4f} (best {self.best_eval:.4f})"))
