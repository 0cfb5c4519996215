"""clonekit runs list | show RUN | rm RUN... : the training runs under $CLONEKIT_RUNS or ./runs."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("runs", help="list, show and remove training runs",
                       description="The runs under $CLONEKIT_RUNS or ./runs: status (running, interrupted, failed, "
                       "done), base, dataset, steps, best val loss and size on disk. RUN is a run id or folder.")
    p.add_argument("--root", metavar="DIR", help="runs root (default $CLONEKIT_RUNS or ./runs)")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    s.add_parser("list", help="every run, newest first")
    show = s.add_parser("show", help="one run: settings, results, files and what to do next")
    show.add_argument("run", metavar="RUN")
    show.add_argument("--json", action="store_true", help="print run.json as it is")
    rm = s.add_parser("rm", help="delete runs (their folders, checkpoints and weights)")
    rm.add_argument("runs", nargs="+", metavar="RUN")
    rm.add_argument("--force", action="store_true", help="also delete a run that is still training")
    return p


def run(args: argparse.Namespace) -> int:
    import json
    import shutil
    from pathlib import Path

    from builder.errors import ClonekitError
    from trainer.run_dir import list_runs, resolve_run, run_summary, runs_root, unfinished_hint

    root = Path(args.root) if args.root else runs_root()
    if args.action == "list":
        rows = [run_summary(d, data, status) for d, data, status in list_runs(root)]
        if not rows:
            print(f"no runs under {root} yet (train one: clonekit train --data NAME --base tiny --preset tiny-cpu)")
            return 0
        print(format_runs_table(rows))
        return 0
    if args.action == "show":
        folder, data, status = resolve_run(args.run, root)
        if args.json:
            print(json.dumps(data, indent=2, ensure_ascii=False))
            return 0
        s = run_summary(folder, data, status)
        print(f"{s['run_id']}  ({folder})")
        print(f"status   {status}" + ("" if status == "done" else f": {unfinished_hint(folder, status)}"))
        print(f"base     {s['base']}   method {data.get('method', '?')}   preset {data.get('preset') or '-'}")
        print(f"dataset  {s['dataset']}   ({data.get('dataset', '?')})")
        print(f"steps    {s['steps']}   best val loss {s['best_val_loss']}   started {data.get('started', '?')}"
              + (f"   finished {data['finished']}" if data.get("finished") else ""))
        if data.get("error"):
            print(f"error    {data['error']}")
        print(f"size     {human_size(s['bytes'])}   checkpoints {s['checkpoints']}")
        if status == "done":
            print(f"next     clonekit chat {folder}   ·   clonekit serve {folder}")
        return 0
    targets = [resolve_run(ref, root) for ref in args.runs]  # all resolved before anything is deleted
    for folder, data, status in targets:
        if status == "running" and not args.force:
            raise ClonekitError(f"{folder}: still training (pid {data.get('pid')}); stop it first or pass --force")
    for folder, _, _ in targets:
        shutil.rmtree(folder)
        events = folder.parent / f"{folder.name}.events.jsonl"  # the TUI's progress log beside it
        events.unlink(missing_ok=True)
        print(f"removed {folder}")
    return 0


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def format_runs_table(rows: list[dict]) -> str:
    header = ["run", "status", "base", "dataset", "steps", "best val", "size"]
    body = [[r["run_id"], r["status"], r["base"], r["dataset"], str(r["steps"]), r["best_val_loss"], human_size(r["bytes"])]
            for r in rows]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    right = {4, 5, 6}
    return "\n".join("  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
                     for row in [header, *body])
