"""clonekit build [SOURCES...] : curate messages into a new dataset version."""

from __future__ import annotations

import argparse
from pathlib import Path

from clonekit.commands.ingest import add_reading_flags


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "build",
        help="curate exports into a versioned training dataset (datasets/NAME/vNNNN)",
        description="Curate chat exports (or messages.jsonl from `clonekit ingest -o`, or instruction data) "
        "into a new immutable dataset version. Settings come from clonekit.toml (see docs/CONFIG.md); "
        "flags override it. The new version's path is the last line of output.",
    )
    p.add_argument("sources", nargs="*", metavar="SOURCE", help="export files, zips, folders or messages.jsonl (default: [build] sources)")
    p.add_argument("-c", "--config", metavar="FILE", help="clonekit.toml (default: ./clonekit.toml when present)")
    p.add_argument("--me", action="append", metavar="NAME", help="your name as the export shows it (repeat for aliases)")
    p.add_argument("--name", help="dataset name (folder under datasets/)")
    p.add_argument("--tokenizer", metavar="SPEC", help="builtin, tiktoken:NAME, a tokenizer.json/folder or an HF id")
    p.add_argument("--seed", type=int)
    p.add_argument("--no-groups", dest="groups", action="store_const", const=False, help="leave group chats out")
    p.add_argument("--max-share", type=float, metavar="F",
                   help="per-contact cap on the token share, a fraction (0.4 = 40%%; the TUI shows it as a percent)")
    p.add_argument("--val", type=float, metavar="F", dest="val_fraction", help="validation fraction (default 0.1 = 10%%)")
    p.add_argument("--split-by", choices=["conversation", "time"])
    p.add_argument("--pii", action="store_const", const=True, help="redact emails, phones, URLs, cards, IBANs, IP addresses")
    p.add_argument("--min-tokens", type=int, metavar="N", help="drop sessions shorter than N tokens")
    p.add_argument("--max-tokens", type=int, metavar="N", help="token budget per conversation")
    p.add_argument("--root", metavar="DIR", help="datasets root (default $CLONEKIT_DATASETS or ./datasets)")
    p.add_argument("--skip-unreadable", action="store_true",
                   help="build from what can be read: source files that cannot be read or parsed are skipped "
                   "and listed (default: the first such file stops the build)")
    add_reading_flags(p)
    p.add_argument("--force", action="store_true",
                   help="write a new version even when its records equal the latest version's")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    return p


FLAGS = {"build.sources": "SOURCE", "build.me": "--me", "build.name": "--name", "build.seed": "--seed",
         "build.groups": "--no-groups", "build.root": "--root", "tokenizer.spec": "--tokenizer",
         "balance.max_share": "--max-share", "split.val_fraction": "--val", "split.by": "--split-by",
         "clean.pii": "--pii", "sessions.min_tokens": "--min-tokens", "sessions.max_tokens": "--max-tokens"}


def overrides_from_args(args: argparse.Namespace) -> dict:
    return {
        "build.sources": args.sources or None,
        "build.me": args.me,
        "build.name": args.name,
        "build.seed": args.seed,
        "build.groups": args.groups,
        "build.root": args.root,
        "tokenizer.spec": args.tokenizer,
        "balance.max_share": args.max_share,
        "split.val_fraction": args.val_fraction,
        "split.by": args.split_by,
        "clean.pii": args.pii,
        "sessions.min_tokens": args.min_tokens,
        "sessions.max_tokens": args.max_tokens,
    }


def format_report(manifest: dict) -> str:
    from builder.wording import plural

    rows = manifest["counts"]["per_contact"]
    lines = []
    if rows:
        w = max(7, *(len(r["contact"]) for r in rows))
        lines.append(f"{'contact':<{w}}  {'role':<10} {'convs':>13} {'tokens':>19} {'share':>13}")
        for r in rows:
            lines.append(
                f"{r['contact']:<{w}}  {r['role_tag']:<10} {r['conversations_before']:>6}→{r['conversations_after']:<6} "
                f"{r['tokens_before']:>9}→{r['tokens_after']:<9} {r['share_before']:>6.1%}→{r['share_after']:<6.1%}"
            )
    c, t = manifest["counts"], manifest.get("tokens", {})
    lines.append(
        f"{plural(c['conversations'], 'conversation')} ({c['train']:,} train, {c['val']:,} val) from "
        f"{plural(c['messages'], 'message')}"
        + (f" and {plural(c['instruction_records'], 'instruction record')}" if c.get("instruction_records") else "")
        + f"; {t.get('train', {}).get('total', 0) + t.get('val', {}).get('total', 0)} tokens ({manifest['tokenizer']})"
    )
    cl = manifest.get("steps", {}).get("clean", {})
    if cl:
        lines.append(f"clean: {cl.get('exact_duplicates', 0)} exact duplicates, {cl.get('near_duplicates', 0)} near duplicates, "
                     f"{cl.get('length', 0)} outside the length limits removed")
    if manifest.get("pii"):
        lines.append("pii redacted: " + ", ".join(f"{k} {v}" for k, v in manifest["pii"].items()))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import json

    import sys

    from builder.curate.build import build
    from builder.curate.config import load_build_config
    from builder.curate.store import NothingChanged
    from builder.events import CancelToken
    from clonekit.progress import ProgressPrinter

    if getattr(args, "tz", None) is not None:
        from builder.ingest.epoch_zone import set_zone

        set_zone(args.tz)  # before any source is parsed
    config_path = Path(args.config) if args.config else (Path("clonekit.toml") if Path("clonekit.toml").is_file() else None)
    config = load_build_config(config_path, overrides_from_args(args), flags=FLAGS)
    printer = ProgressPrinter(quiet=args.quiet)
    try:
        path = build(config, on_event=printer, cancel=CancelToken(), force=args.force,
                     skip_unreadable=getattr(args, "skip_unreadable", False),
                     year_end=getattr(args, "year_end", None))
    except NothingChanged as unchanged:
        # Idempotent: the same inputs and settings give the version that already exists.
        printer.close()
        print(f"clonekit: {unchanged}; pass --force to write a new version anyway", file=sys.stderr)
        print(unchanged.path)
        return 0
    finally:
        printer.close()
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    print(format_report(manifest))
    print(path)
    return 0
