"""report.md and loss.png for a finished run, from run.json and metrics.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

from builder.atomic import atomic_path, atomic_write_text
from trainer.estimate import fmt_duration


def read_metrics(path: Path) -> tuple[list[dict], list[dict]]:
    train, evals = [], []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                (evals if "eval_loss" in row else train).append(row)
    return train, evals


def plot_loss(metrics_path: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train, evals = read_metrics(metrics_path)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if train:
        ax.plot([r["step"] for r in train], [r["loss"] for r in train], label="train loss", lw=1.2)
    if evals:
        ax.plot([r["step"] for r in evals], [r["eval_loss"] for r in evals], "o-", label="val loss", lw=1.5)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (persona tokens)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def plot_fool_rates(by_contact: dict[str, dict], out: Path, judge: dict[str, dict] | None = None) -> None:
    """blind.png: the blind test's fool rate per contact with 95% Wilson intervals (and the
    automatic judge's beside it, as its own series); the dashed line is 50%, indistinguishable."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(by_contact)
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(names) + 1.6), dpi=100)
    series = [("people", by_contact, 0.0)] + ([("judge model", judge, 0.25)] if judge else [])
    for label, rates, offset in series:
        rows = [(i, rates[c]) for i, c in enumerate(names) if c in rates and rates[c]["n"]]
        ys = [i + offset for i, _ in rows]
        xs = [r["rate"] for _, r in rows]
        err = [[r["rate"] - r["lo"] for _, r in rows], [r["hi"] - r["rate"] for _, r in rows]]
        ax.errorbar(xs, ys, xerr=err, fmt="o", capsize=4, label=label)
        for y, (_, r) in zip(ys, rows):
            ax.annotate(f"n={r['n']}", (1.0, y), xycoords=("axes fraction", "data"), xytext=(6, 0),
                        textcoords="offset points", ha="left", va="center", fontsize=8, color="0.4")
    ax.axvline(0.5, ls="--", color="0.5", lw=1)
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlim(-0.02, 1.02)  # room for a point at 0% or 100%
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_xlabel("clone picked as the real reply (95% Wilson interval; 50% = indistinguishable)")
    ax.grid(axis="x", alpha=0.3)
    title = f"Blind test: {sum(r['n'] for r in by_contact.values())} human judgements"
    if judge:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, fontsize=8, frameon=False)
        title += f" (judge model: {sum(r['n'] for r in judge.values())}, kept apart)"
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    plt.close(fig)


def write_report(run_dir: Path, run: dict) -> None:
    train, evals = read_metrics(run_dir / "metrics.jsonl")
    plot_loss(run_dir / "metrics.jsonl", run_dir / "loss.png")
    cfg, final, est = run["config"], run.get("final") or {}, run.get("estimate") or {}
    fmt = lambda v: f"{v:.4f}" if isinstance(v, (int, float)) else "–"  # noqa: E731
    lines = [
        f"# Run {run['run_id']}",
        "",
        f"- status: **{run['status']}**",
        f"- base: `{run['base']}` ({run['method']}, 4-bit: {run['load_in_4bit']}, chat template: {run['chat_template']})",
        f"- dataset: `{run['dataset_version']}` (manifest sha256 `{run['manifest_sha256'][:12]}…`)",
        f"- loss on: {cfg['train_on']} turns · packing: {cfg['packing']} · max length {cfg['max_length']} · "
        f"batch {cfg['batch_size']} × grad-accum {cfg['grad_accum']} · lr {cfg['lr']} · LoRA r={cfg['lora_r']} α={cfg['lora_alpha']}",
        "",
        "## Results",
        "",
        "| | value |",
        "|---|---|",
        f"| steps | {final.get('steps', '–')} |",
        f"| first train loss | {fmt(train[0]['loss']) if train else '–'} |",
        f"| last train loss | {fmt(train[-1]['loss']) if train else '–'} |",
        f"| final val loss | {fmt(final.get('eval_loss'))} |",
        f"| best val loss | {fmt(final.get('best_eval_loss'))} |",
        f"| best checkpoint | {run.get('best_checkpoint') or '–'} |",
        f"| tokens seen | {final.get('tokens_seen', '–')} |",
        f"| tokens/s | {final.get('tokens_per_s', 0):,.0f} |",
        f"| training time | {fmt_duration(final.get('train_seconds', 0))} |",
    ]
    if est:
        lines += [
            f"| params (total / trainable) | {est['total_params']:,} / {est['trainable_params']:,} |",
            f"| estimated peak memory | {est['peak_memory_bytes'] / 1024**3:.1f} GiB on {est['device_name']} |",
        ]
    if final.get("peak_memory_bytes"):
        lines.append(f"| measured peak GPU memory | {final['peak_memory_bytes'] / 1024**3:.1f} GiB |")
    lines += ["", "![loss](loss.png)", ""]
    atomic_write_text(run_dir / "report.md", "\n".join(lines))
