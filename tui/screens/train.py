"""8 Train: preset, base model and the key hyperparameters, a memory/time estimate, then
`clonekit train` in a SUBPROCESS (an OOM or crash cannot take the UI down) whose
--events-jsonl and metrics.jsonl are tailed for the live loss chart (train and val),
tokens/s, ETA and the log. Cancel terminates the process; Resume reruns it with
--resume on the same run folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, RichLog, Select, Static

from builder.errors import ClonekitError
from tui.messages import TrainEvent, TrainExited, WorkDone
from tui.screens.base import Page
from tui.widgets.loss_chart import LossChart
from tui.widgets.field import field
from tui.widgets.run_picker import run_choices

# form field -> [train] key and `clonekit train` flag
HYPERPARAMETERS = {"#train-steps": ("max_steps", "--max-steps"), "#train-epochs": ("epochs", "--epochs"),
                   "#train-lr": ("lr", "--lr"), "#train-max-length": ("max_length", "--max-length"),
                   "#train-lora-r": ("lora_r", "--lora-r")}
FLAGS = {key: flag for key, flag in HYPERPARAMETERS.values()} | {"batch_size": "--batch-size", "grad_accum": "--grad-accum"}


def estimate_lines(preset: str, overrides: dict, base: str, version_path: str) -> list[str]:
    """The trainer's own estimate, from the version's token counts (no model loading)."""
    from builder.curate.store import load_version
    from trainer.estimate import estimate, model_shape, trainable_params
    from trainer.presets import resolve_config

    cfg = resolve_config(preset, overrides)
    if base == "tiny":
        from transformers import LlamaConfig

        t = cfg.tiny
        model_cfg = LlamaConfig(vocab_size=t.vocab_size, hidden_size=t.hidden_size,
                                intermediate_size=t.intermediate_size, num_hidden_layers=t.num_layers,
                                num_attention_heads=t.num_heads, num_key_value_heads=t.num_kv_heads)
    else:
        from transformers import AutoConfig

        from trainer.preflight import check_base

        check_base(base)  # a missing folder or no network, in one line, before transformers tries
        try:
            model_cfg = AutoConfig.from_pretrained(base)
        except OSError as err:
            raise ClonekitError(f"--base {base}: cannot read its config ({str(err).splitlines()[0][:120]})") from None
    dv = load_version(version_path, records=False)
    tokens = int(dv.manifest.get("tokens", {}).get("train", {}).get("total", 0))
    convs = int(dv.manifest.get("counts", {}).get("train", 0)) or 1
    rows = max(1, -(-tokens // cfg.max_length)) if cfg.packing else convs
    import torch

    device = cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    shape = model_shape(model_cfg)
    est = estimate(shape, cfg, trainable_params(shape, cfg), device, tokens, rows, tokens / convs)
    lines = est.lines()
    steps = cfg.max_steps if cfg.max_steps > 0 else int(est.steps_per_epoch * cfg.epochs)
    lines.append(f"this run: {steps} steps ({cfg.method}, lr {cfg.lr:g}, r {cfg.lora_r}, max length {cfg.max_length})")
    if not est.fits:
        lines.append("[red]does not fit in GPU memory: lower max length or use qlora[/]")
    return lines


class TrainPage(Page):
    TITLE = "Train"
    KEYS = "set up, Estimate, Check (t) the chat template, Start · Cancel stops (the checkpoint is kept) · pick a run to Resume it"
    BINDINGS = [Binding("t", "check_template", "Check template")]
    DEFAULT_FOCUS = "#train-start"
    FIELD_FOR_FLAG = {"--data": "dataset version", "--preset": "preset", "--base": "base model",
                      "--max-steps": "max steps", "--epochs": "epochs", "--lr": "learning rate",
                      "--max-length": "max length", "--lora-r": "LoRA rank"}
    SETTINGS_TABLE = ""  # other flags stay: its messages quote whole commands (clonekit train --resume ...)

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            with Vertical(classes="field wide"):
                yield Label("dataset version")
                yield Select([], id="train-version", prompt="write a version first")
            with Vertical(classes="field"):
                yield Label("preset")
                from trainer.presets import list_presets

                yield Select([(p, p) for p in list_presets()], id="train-preset", allow_blank=False)
            with Vertical(classes="field wide"):
                yield Label("base model (HF id, folder, tiny)")
                yield Input(id="train-base", placeholder="tiny")
        with Horizontal(classes="form-row"):
            yield field("max steps", Input(id="train-steps", placeholder="all epochs", restrict=r"-?[0-9]*"))
            yield field("epochs", Input(id="train-epochs", placeholder="preset", restrict=r"[0-9.]*"))
            yield field("learning rate", Input(id="train-lr", placeholder="preset", restrict=r"[0-9.eE-]*"))
            yield field("max length", Input(id="train-max-length", placeholder="preset", restrict=r"[0-9]*"))
            yield field("LoRA rank", Input(id="train-lora-r", placeholder="preset", restrict=r"[0-9]*"))
        with Horizontal(classes="row"):
            yield Button("Estimate", id="train-estimate")
            yield Button("Check", id="train-check", tooltip="Check template (t): how the base's chat template "
                         "renders this dataset and where the loss is, from the tokenizer alone")
            yield Button("Start", id="train-start", variant="primary")
            yield Button("Cancel", id="train-cancel", variant="error", disabled=True)
            yield Button("Resume", id="train-resume", disabled=True)
            yield Select([], id="train-run", prompt="no runs yet")
        yield Static("", id="train-estimate-text", classes="status")
        yield Label("", id="train-stats", classes="status")
        with Horizontal():
            yield LossChart(id="loss-chart")
            yield RichLog(id="train-log", wrap=True, markup=False, min_width=20)

    def on_mount(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.run_dir: Path | None = None
        self._checking: tuple[str, str] | None = None  # (base, version) while Check template runs
        self.load_settings()
        self.refresh_page()

    def load_settings(self) -> None:
        """The [train] table of clonekit.toml into the form (unset: the preset's value)."""
        saved = self.workspace.section("train")
        from trainer.presets import list_presets

        presets = list_presets()
        preset = self.query_one("#train-preset", Select)
        if saved["preset"] not in presets:  # a preset .toml file named in clonekit.toml
            preset.set_options([(p, p) for p in [*presets, saved["preset"]]])
        preset.value = saved["preset"]
        self.query_one("#train-base", Input).value = saved["base"]
        for wid, (key, _) in HYPERPARAMETERS.items():
            value = saved[key]
            self.query_one(wid, Input).value = "" if value is None or (key == "max_steps" and value == -1) else f"{value:g}"

    def refresh_runs(self) -> None:
        """The run picker: every run with its status; the current run stays selected."""
        select = self.query_one("#train-run", Select)
        choices = run_choices(self.workspace.runs_root)
        self._run_status = {path: status for _, path, status in choices}
        target = str(self.run_dir) if self.run_dir is not None else None
        before = select.value
        select.prompt = "pick a run" if choices else "no runs yet"
        select.set_options([(label, path) for label, path, _ in choices])
        # set_options blanks the value; putting it back posts a Changed that is ours, not a pick
        self._set_by_code = target if target in self._run_status else None
        if self._set_by_code is not None:
            select.value = target
        elif before != select.value:
            self._set_by_code = select.value

    @on(Select.Changed, "#train-run")
    def run_picked(self, event: Select.Changed) -> None:
        """Picking a run makes it the one Resume continues, and shows its loss curve."""
        if event.value == getattr(self, "_set_by_code", None):
            self._set_by_code = None
            return  # refresh_runs restored the current run
        if not isinstance(event.value, str):
            return
        if self.proc is not None and self.proc.poll() is None:
            return  # the picker follows the running run; nothing to switch to
        from trainer.run_dir import resume_command

        self.run_dir = Path(event.value)
        chart = self.query_one("#loss-chart", LossChart)
        chart.clear()
        for row in self._read_metrics(self.run_dir / "metrics.jsonl"):
            if "loss" in row:
                chart.add(row["step"], loss=row["loss"])
            if "eval_loss" in row:
                chart.add(row["step"], val_loss=row["eval_loss"])
        status = self._run_status.get(event.value) or self._status(self.run_dir) or "?"
        stats = self.query_one("#train-stats", Label)
        if status == "done":
            stats.update(f"[green]done[/]: {self.run_dir.name} · chat with it on page 9")
        elif status == "running":
            stats.update(f"{self.run_dir.name} is training in another process")
        else:
            stats.update(f"[yellow]{status}[/]: {self.run_dir.name} · Resume continues it "
                         f"(same as `{resume_command(self.run_dir)}`)")
        self._update_buttons()

    @staticmethod
    def _read_metrics(path: Path) -> list[dict]:
        rows = []
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a line being written
        return [r for r in rows if isinstance(r, dict) and "step" in r]

    def refresh_page(self) -> None:
        from builder.curate.store import list_versions

        select = self.query_one("#train-version", Select)
        try:
            versions = list_versions(self.workspace.datasets_root)
        except ClonekitError as err:
            self.error(str(err))
            versions = []
        current = select.value
        paths = [str(v.path) for v in versions]
        select.set_options([(v.ref, str(v.path)) for v in reversed(versions)])
        if current in paths:
            select.value = current
        elif paths:
            select.value = paths[-1]
        self.refresh_runs()
        self._update_buttons()

    def _update_buttons(self) -> None:
        running = self.proc is not None and self.proc.poll() is None
        self.query_one("#train-start", Button).disabled = running
        self.query_one("#train-cancel", Button).disabled = not running
        resumable = self.run_dir is not None and not running and self._status(self.run_dir) in ("interrupted", "failed")
        self.query_one("#train-resume", Button).disabled = not resumable

    @staticmethod
    def _status(run_dir: Path) -> str | None:
        """The run's effective status (a dead "running" run is "interrupted")."""
        from trainer.run_dir import effective_status

        try:
            return effective_status(run_dir, json.loads((run_dir / "run.json").read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError):
            return None

    def _settings(self) -> tuple[str, str, str, dict]:
        """(version, preset, base, overrides) of the form, saved to [train] first."""
        version = self.query_one("#train-version", Select).value
        if not isinstance(version, str):
            raise ClonekitError("no dataset version yet: write one on the Preview page (7) first")
        values: dict = {"preset": str(self.query_one("#train-preset", Select).value),
                        "base": self.query_one("#train-base", Input).value.strip() or None}
        for wid, (key, _) in HYPERPARAMETERS.items():
            text = self.query_one(wid, Input).value.strip()
            try:
                number = float(text) if text else None
            except ValueError:
                raise ClonekitError(f"{key.replace('_', ' ')}: {text!r} is not a number (e.g. 2e-4)") from None
            if key == "max_steps" and number is None:
                number = -1  # blank: train for the epochs
            values[key] = int(number) if number is not None and key in ("max_steps", "max_length", "lora_r") else number
        self.workspace.set_section("train", values)
        saved = self.workspace.build_config().train
        return version, saved.preset, saved.base, saved.overrides()

    @on(Button.Pressed, "#train-estimate")
    def estimate(self) -> None:
        try:
            version, preset, base, overrides = self._settings()
        except ClonekitError as err:
            self.error(str(err))
            return
        self.query_one("#train-estimate-text", Static).update("estimating…")
        self.run_core("train-estimate", estimate_lines, preset, overrides, base, version, with_events=False)

    @on(Button.Pressed, "#train-check")
    def action_check_template(self) -> None:
        """The probe's verdict and three rendered records for the chosen base and version,
        from the tokenizer alone (no weights), like `clonekit train --base X --check`."""
        from trainer.template_check import check_template

        if self._checking:
            self.app.notify("the chat template check is still running")
            return
        try:
            version, preset, base, overrides = self._settings()
        except ClonekitError as err:
            self.error(str(err))
            return
        self._checking = (base, version)
        self.app.notify(f"checking the chat template of {base}…", timeout=3)
        self.run_core("train-check", check_template, version, base, preset, overrides, with_events=False)

    def on_work_done(self, message: WorkDone) -> None:
        if message.job == "train-check":
            message.stop()
            self._check_done(message)
            return
        if message.job != "train-estimate":
            return
        message.stop()
        text = self.query_one("#train-estimate-text", Static)
        text.update(f"[red]{escape(self.in_page_words(message.error))}[/]" if message.error else "\n".join(message.result))

    def _check_done(self, message: WorkDone) -> None:
        from builder.curate.store import load_version
        from tui.screens.template_check import TemplateCheckScreen

        _, version = self._checking or ("", "")
        self._checking = None
        if message.error:
            self.error(message.error.strip().splitlines()[0])
            return
        try:
            ref = load_version(version, records=False).ref
        except ClonekitError:
            ref = version
        self.app.push_screen(TemplateCheckScreen(message.result, ref))

    # ------------------------------------------------------------------ the subprocess
    def _command(self, resume: bool) -> list[str]:
        cmd = [sys.executable, "-m", "clonekit", "train", "--quiet", "--events-jsonl", str(self.events_path)]
        if resume:
            return cmd + ["--resume", "--out", str(self.run_dir)]
        version, preset, base, overrides = self._settings()
        cmd += ["--data", version, "--base", base, "--preset", preset, "--out", str(self.run_dir)]
        for key, value in overrides.items():
            cmd += [FLAGS[key], str(value)]
        return cmd

    @on(Button.Pressed, "#train-start")
    def start(self) -> None:
        from builder.curate.store import load_version
        from trainer.run_dir import new_run_id

        try:
            version = self._settings()[0]
            self.run_dir = self.workspace.runs_root / new_run_id(load_version(version, records=False).ref)
            self._launch(resume=False)
        except ClonekitError as err:
            self.error(str(err))

    @on(Button.Pressed, "#train-resume")
    def resume(self) -> None:
        if self.run_dir is None:
            self.error("nothing to resume: start a run first")
            return
        try:
            self._launch(resume=True)
        except ClonekitError as err:
            self.error(str(err))

    @property
    def events_path(self) -> Path:
        assert self.run_dir is not None
        return self.run_dir.parent / f"{self.run_dir.name}.events.jsonl"

    def _launch(self, resume: bool) -> None:
        assert self.run_dir is not None
        self.run_dir.parent.mkdir(parents=True, exist_ok=True)
        cmd = self._command(resume)
        if not resume:
            self.events_path.unlink(missing_ok=True)
            self.query_one("#loss-chart", LossChart).clear()
            self.query_one("#train-log", RichLog).clear()
        env = dict(os.environ, CLONEKIT_RUNS=str(self.workspace.runs_root),
                   CLONEKIT_DATASETS=str(self.workspace.datasets_root), PYTHONUNBUFFERED="1")
        root = str(Path(__file__).resolve().parents[2])  # so `-m clonekit` works from a source checkout
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen(cmd, cwd=self.workspace.root, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        self.query_one("#train-log", RichLog).write(f"$ clonekit {' '.join(cmd[3:])}")
        self.query_one("#train-stats", Label).update(f"{'resuming' if resume else 'starting'} {self.run_dir.name}…")
        self._update_buttons()
        self.set_timer(3.0, self.refresh_runs)  # the new run folder shows up in the picker
        self.run_worker(lambda: self._tail(self.proc, self.run_dir), thread=True, group="train", exit_on_error=False)

    def _tail(self, proc: subprocess.Popen, run_dir: Path) -> None:
        """Worker: follow the events and metrics files until the process exits."""
        offsets = {"events": 0, "metrics": self._line_count(run_dir / "metrics.jsonl")}
        paths = {"events": self.events_path, "metrics": run_dir / "metrics.jsonl"}

        def drain() -> None:
            for kind, path in paths.items():
                if not path.is_file():
                    continue
                with open(path, encoding="utf-8") as fh:
                    lines = fh.readlines()
                complete = [l for l in lines[offsets[kind]:] if l.endswith("\n")]
                offsets[kind] += len(complete)
                for line in complete:
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    self.post_message(TrainEvent({"source": kind, **row}))

        while proc.poll() is None:
            drain()
            time.sleep(0.3)
        drain()
        _, err = proc.communicate()
        tail = "\n".join((err or "").strip().splitlines()[-5:])
        self.post_message(TrainExited(proc.returncode, str(run_dir), tail))

    @staticmethod
    def _line_count(path: Path) -> int:
        return sum(1 for _ in open(path, encoding="utf-8")) if path.is_file() else 0

    def on_train_event(self, message: TrainEvent) -> None:
        e = message.event
        log = self.query_one("#train-log", RichLog)
        chart = self.query_one("#loss-chart", LossChart)
        if e["source"] == "metrics":
            if "loss" in e:
                chart.add(e["step"], loss=e["loss"])
            if "eval_loss" in e:
                chart.add(e["step"], val_loss=e["eval_loss"])
            return
        if e.get("type") == "progress" and e.get("stage") == "train":
            chart.total_steps = e.get("total") or None
            x = e.get("extra") or {}
            eta = x.get("eta_s")
            self.query_one("#train-stats", Label).update(
                f"step {e['done']}/{e.get('total') or '?'} · loss {x.get('loss', float('nan')):.3f} · "
                f"{x.get('tokens_per_s', 0):,.0f} tokens/s · ETA {int(eta) // 60}m{int(eta) % 60:02d}s"
                if eta is not None else f"step {e['done']}")
        elif e.get("type") == "log":
            log.write(("⚠ " if e.get("level") == "warning" else "") + e.get("message", ""))

    def on_train_exited(self, message: TrainExited) -> None:
        stats = self.query_one("#train-stats", Label)
        log = self.query_one("#train-log", RichLog)
        name = Path(message.run_dir).name
        if message.returncode == 0:
            stats.update(f"[green]done[/]: {name} · chat with it on page 9")
            self.app.notify(f"training finished: {name}")
            self.ck.run_finished(message.run_dir)
        elif message.returncode < 0 or message.returncode == 130:
            # Cancel sends SIGTERM; `clonekit train` marks the run interrupted and says what it kept
            kept = next((l for l in reversed(message.tail.splitlines()) if "interrupted" in l), "")
            what = kept.split("; ", 1)[1].split("; continue with", 1)[0] if "; " in kept else "its last checkpoint is kept"
            stats.update(f"[yellow]stopped[/]: {name} · {what} · Resume continues it")
        else:
            last = self.in_page_words(message.tail.splitlines()[-1]) if message.tail else ""
            stats.update(f"[red]failed[/] (exit {message.returncode}): {escape(last)}")
            if message.tail:
                log.write(message.tail)
            self.error(f"training failed: {message.tail.splitlines()[-1] if message.tail else 'see the log'}")
        self.proc = None
        self.refresh_runs()
        self._update_buttons()

    @on(Button.Pressed, "#train-cancel")
    def cancel(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.app.notify("stopping training…")

    def on_unmount(self) -> None:
        if getattr(self, "proc", None) is not None and self.proc.poll() is None:
            self.proc.terminate()
