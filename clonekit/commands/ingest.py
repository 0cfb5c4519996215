"""clonekit ingest PATH... : parse chat exports into the Message table."""

from __future__ import annotations

import argparse

FORMATS = ["auto", "whatsapp", "telegram", "discord", "messenger", "instagram", "signal",
           "imessage", "csv", "alpaca", "qa", "sharegpt", "openai"]


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "ingest",
        help="parse chat exports (files, zips, folders) into messages.jsonl",
        description="Parse chat exports into one table of messages and print a summary per chat. "
        "PATH may be a file, an export zip (media included) or a folder.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("-o", "--output", metavar="FILE.jsonl", help="write messages (Message contract) here")
    p.add_argument("--format", choices=FORMATS, default="auto", help="force a format (default: detect)")
    return p


def run(args: argparse.Namespace) -> int:
    from builder.ingest import ingest_paths, write_ingested
    from builder.ingest.summary import format_summary
    from clonekit.progress import ProgressPrinter

    printer = ProgressPrinter()
    result = ingest_paths(args.paths, fmt=args.format, on_event=printer)
    printer.close()
    print(format_summary(result))
    if args.output:
        write_ingested(result, args.output)
        print(f"wrote {args.output}")
    return 0
