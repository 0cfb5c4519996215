"""clonekit ingest PATH... : parse chat exports into the Message table."""

from __future__ import annotations

import argparse

# Kept literal (no registry import) so --help answers without importing the parsers;
# tests/builder/test_ingest_detect.py checks it equals detect.format_names().
FORMATS = ["auto", "whatsapp", "telegram", "discord", "messenger", "instagram", "signal",
           "imessage", "wechat", "qq", "line", "kakaotalk", "sms_xml", "slack", "telegram_html",
           "csv", "alpaca", "qa", "sharegpt", "openai"]


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "ingest",
        help="parse chat exports (files, zips, folders) into messages.jsonl",
        description="Parse chat exports into one table of messages and print a summary per chat. "
        "PATH may be a file, an export zip (media included) or a folder (Messenger's inbox/, "
        "Telegram's export folder, a folder of Discord channel JSONs). Instruction data "
        "(Alpaca, Q&A, ShareGPT, OpenAI messages) is read too.",
        epilog="Without -o only the summary is printed. When the input holds both chats and "
        "instruction data, the instruction records go to FILE.instructions.jsonl beside FILE.jsonl.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("-o", "--output", metavar="FILE.jsonl",
                   help="write the messages here, one JSON object per line "
                   "(chat, timestamp, sender, text, kind, source; `clonekit build` reads it)")
    p.add_argument("--format", choices=FORMATS, default="auto", help="force a format (default: detect per file)")
    p.add_argument("--skip-unreadable", action="store_true",
                   help="read what can be read: files that cannot be read or parsed are skipped and listed "
                   "(default: the first such file stops the run)")
    add_reading_flags(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or warning lines on stderr")
    return p


def add_reading_flags(p: argparse.ArgumentParser) -> None:
    """How exports are read: shared by `ingest` and `build`."""
    p.add_argument("--year-end", type=int, metavar="YYYY",
                   help="the year of the last message, for WhatsApp exports whose dates have no year "
                   "(default: counted back from the file's date, with a warning)")
    p.add_argument("--tz", metavar="ZONE",
                   help="IANA time zone (e.g. Asia/Shanghai) for exports that store only epoch times "
                   "(Slack, SMS, WeChat CreateTime, Messenger/Instagram, Telegram date_unixtime, CSV epoch); "
                   "same as $CLONEKIT_TZ (default: it, else UTC)")


def run(args: argparse.Namespace) -> int:
    from builder.errors import ClonekitError
    from builder.ingest import ingest_paths, write_ingested
    from builder.ingest.summary import format_summary
    from clonekit.progress import ProgressPrinter

    import sys

    from builder.events import Log

    printer = ProgressPrinter(quiet=args.quiet)
    # Progress bars only on a terminal; piped stderr gets warnings and the error line only.
    on_event = printer if sys.stderr.isatty() else (lambda ev: printer(ev) if isinstance(ev, Log) else None)
    try:
        if getattr(args, "tz", None) is not None:
            from builder.ingest.epoch_zone import set_zone

            set_zone(args.tz)
        skip = getattr(args, "skip_unreadable", False)
        result = ingest_paths(args.paths, fmt=args.format, on_event=on_event, strict=not skip,
                              year_end=getattr(args, "year_end", None))
        printer.close()
        failed = [f for f in result.files if f.error]
        if skip and result.messages.is_empty() and result.instructions.is_empty():
            first = failed[0].error if failed else "no chat exports found"
            raise ClonekitError(f"nothing could be read ({len(failed)} file(s) skipped; first: {first})")
        print(format_summary(result))
        if failed:
            print(f"skipped {len(failed)} unreadable file(s); the rest was read", file=sys.stderr)
        if args.output:
            for path, rows, what in write_ingested(result, args.output):
                print(f"wrote {path} ({rows} {what})")
    except ClonekitError as err:
        printer.close()
        # The error line is printed by clonekit.cli; keep it to one line whatever a parser wrote.
        err.args = (" ".join(str(err).split()),)
        raise
    return 0
