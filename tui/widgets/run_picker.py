"""The runs the Train and Chat pages offer in their run pickers: one option per run,
newest first, labelled with what tells runs apart (status, dataset, steps, best val
loss). Read through trainer.run_dir, so a dead "running" run shows as interrupted."""

from __future__ import annotations

from pathlib import Path


def run_choices(runs_root: Path, done_only: bool = False) -> list[tuple[str, str, str]]:
    """(label, run folder, status) per run under ``runs_root``, newest first."""
    from trainer.run_dir import list_runs, run_summary

    out = []
    for folder, data, status in list_runs(runs_root):
        if done_only and status != "done":
            continue
        s = run_summary(folder, data, status)
        loss = f" · val {s['best_val_loss']}" if s["best_val_loss"] != "-" else ""
        state = "" if done_only else f"{status} · "
        out.append((f"{s['run_id'][:15]} · {state}{s['dataset']} · {s['steps']} steps{loss}", str(folder), status))
    return out
