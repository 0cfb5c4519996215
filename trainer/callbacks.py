"""Trainer callbacks: progress events (the CLI's bar, the TUI's messages, --events-jsonl),
metrics.jsonl, and cancellation."""

from __future__ import annotations

import json
import statistics
import time
from collections import deque
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


WINDOW_STEPS = 10  # the "now" rate: tokens over time of the last optimizer steps
SKIP_STEPS = 3  # first steps (compilation, allocator warm-up) left out of the steady rate
CALIBRATE_AT = 8  # steps after which the run reports its own epoch time


class EventsCallback(TrainerCallback):
    """Progress and metrics. Time is counted per optimizer step (on_step_begin to
    on_step_end), so evals and checkpoint saves never dilute the rates: ``tokens_per_s``
    is the rate over the last WINDOW_STEPS steps ("now"), ``tokens_per_s_avg`` the
    cumulative one over every step of this session."""

    def __init__(self, on_event: OnEvent, cancel: CancelToken, metrics_path: Path, tokens_per_epoch: int = 0) -> None:
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
        self.tokens_per_epoch = tokens_per_epoch
        self.step_t0 = 0.0
        self.step_tokens0 = 0
        self.train_seconds = 0.0  # summed optimizer-step time
        self.train_tokens = 0
        self.window: deque[tuple[float, int]] = deque(maxlen=WINDOW_STEPS)
        self.step_rates: list[float] = []
        self.measured_epoch_seconds: float | None = None

    def on_step_begin(self, args, state, control, **kwargs):
        self.step_t0 = time.monotonic()
        self.step_tokens0 = state.num_input_tokens_seen

    def cumulative_rate(self) -> float | None:
        return self.train_tokens / self.train_seconds if self.train_seconds else None

    def window_rate(self) -> float | None:
        seconds = sum(t for t, _ in self.window)
        return sum(n for _, n in self.window) / seconds if seconds else None

    def steady_rate(self) -> float | None:
        """Median of the per-step rates after the first SKIP_STEPS steps."""
        rates = self.step_rates[SKIP_STEPS:] or self.step_rates
        return statistics.median(rates) if rates else None

    def _write(self, row: dict) -> None:
        with open(self.metrics_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")

    def on_train_begin(self, args, state, control, **kwargs):
        self.t0 = time.monotonic()
        self.step0 = state.global_step
        self.tokens0 = state.num_input_tokens_seen

    def on_step_end(self, args, state, control, **kwargs):
        # The host runs ahead of the GPU: wait for the step's work before reading the clock.
        # One wait per optimizer step (logging the loss waits there anyway), none per micro-batch.
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
        dt = time.monotonic() - self.step_t0
        n = state.num_input_tokens_seen - self.step_tokens0
        if self.step_t0 and dt > 0:
            self.train_seconds += dt
            self.train_tokens += n
            self.window.append((dt, n))
            self.step_rates.append(n / dt)
            done = len(self.step_rates)
            if done == CALIBRATE_AT and self.tokens_per_epoch and state.is_world_process_zero:
                rate = self.steady_rate() or 0.0  # all ranks' tokens: num_input_tokens_seen is global
                if rate:
                    self.measured_epoch_seconds = self.tokens_per_epoch / rate
                    from trainer.estimate import fmt_duration

                    self.on_event(Log(f"measured {rate:,.0f} tokens/s after {done} steps: "
                                      f"~{fmt_duration(self.measured_epoch_seconds)} per epoch of training steps"))
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
            done = max(step - self.step0, 1)
            eta = (state.max_steps - step) * elapsed / done
            now = self.window_rate() or 0.0
            avg = self.cumulative_rate() or 0.0
            row = {
                "step": step, "epoch": round(state.epoch or 0.0, 4), "loss": logs["loss"],
                "lr": logs.get("learning_rate"), "grad_norm": logs.get("grad_norm"),
                "tokens_seen": state.num_input_tokens_seen, "tokens_per_s": now, "tokens_per_s_avg": avg,
                "step_s": self.window[-1][0] if self.window else None,
                "elapsed_s": elapsed, "eta_s": eta,
            }
            self.last = row
            self._write(row)
            self.on_event(Progress(
                "train", step, state.max_steps,
                detail=f"loss {logs['loss']:.3f} · now {now:,.0f} tok/s · avg {avg:,.0f} tok/s",
                extra={k: row[k] for k in ("loss", "tokens_per_s", "tokens_per_s_avg", "eta_s", "epoch", "lr")},
            ))
        if "eval_loss" in logs and self.final_eval:
            best = state.best_model_checkpoint
            where = f"best checkpoint, step {best.rsplit('-', 1)[-1]}" if best else f"step {step}"
            self.on_event(Log(f"final val loss ({where}): {logs['eval_loss']:.4f}"))
        elif "eval_loss" in logs:
            self._write({"step": step, "epoch": round(state.epoch or 0.0, 4), "eval_loss": logs["eval_loss"]})
            self.best_eval = min(self.best_eval, logs["eval_loss"])
            self.on_event(Log(f"step {step}: val loss {logs['eval_loss']:.4f} (best {self.best_eval:.4f})"))
