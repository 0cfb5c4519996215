"""clonekit export VERSION --template alpaca|qa|llama3|chatml -o FILE.jsonl"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("export", help="render a dataset version as plain-text JSONL (alpaca, qa, llama3, chatml)",
                       description="Write {\"text\": ...} records (or {\"input\", \"output\"} with --io) for tools "
                       "that want plain text instead of OpenAI messages.")
    p.add_argument("version", help="NAME (latest), NAME/vNNNN or a version folder")
    p.add_argument("--template", required=True, choices=["alpaca", "qa", "llama3", "chatml"])
    p.add_argument("-o", "--output", required=True, metavar="FILE.jsonl")
    p.add_argument("--split", choices=["train", "val", "all"], default="train")
    p.add_argument("--io", action="store_true", help="write {input, output} pairs (alpaca and qa only)")
    p.add_argument("--root", metavar="DIR", help="datasets root")
    return p


def run(args: argparse.Namespace) -> int:
    import json

    from builder.atomic import atomic_write_text
    from builder.curate.export import render
    from builder.curate.store import load_version
    from builder.errors import ClonekitError

    if args.io and args.template not in ("alpaca", "qa"):
        raise ClonekitError(f"--io works with --template alpaca or qa, not {args.template}")
    v = load_version(args.version, args.root)
    records = v.train if args.split == "train" else v.val if args.split == "val" else v.train + v.val
    out = [row for r in records for row in render(r, args.template, args.io)]
    atomic_write_text(args.output, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out))
    print(f"wrote {len(out)} records to {args.output}")
    return 0
