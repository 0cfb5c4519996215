"""clonekit datasets list | show VERSION | diff A B"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("datasets", help="list, show and compare dataset versions",
                       description="Inspect the versioned datasets under $CLONEKIT_DATASETS or ./datasets. "
                       "VERSION is NAME (latest), NAME/vNNNN or a folder path.")
    p.add_argument("--root", metavar="DIR", help="datasets root")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    s.add_parser("list", help="every version with its counts")
    show = s.add_parser("show", help="a version's manifest summary and per-contact table")
    show.add_argument("version")
    show.add_argument("--json", action="store_true", help="print the whole manifest")
    d = s.add_parser("diff", help="per-contact counts and shares side by side; conversations added/removed")
    d.add_argument("a")
    d.add_argument("b")
    return p


def run(args: argparse.Namespace) -> int:
    import json

    from builder.curate.store import list_versions, load_version
    from builder.wording import plural
    from clonekit.commands.build import format_report

    if args.action == "list":
        versions = list_versions(args.root)
        if not versions:
            print("no dataset versions yet (run `clonekit build`)")
            return 0
        print(f"{'version':<28} {'created':<26} {'train':>7} {'val':>6} {'tokens':>10}  parent")
        for v in versions:
            m = v.manifest
            c = m.get("counts", {})
            t = m.get("tokens", {})
            tokens = t.get("train", {}).get("total", 0) + t.get("val", {}).get("total", 0)
            print(f"{v.ref:<28} {m.get('created', ''):<26} {c.get('train', 0):>7} {c.get('val', 0):>6} {tokens:>10}  {m.get('parent') or '-'}")
        return 0
    if args.action == "show":
        v = load_version(args.version, args.root, records=False)
        if args.json:
            print(json.dumps(v.manifest, indent=2, ensure_ascii=False))
            return 0
        m = v.manifest
        print(f"{v.ref}  ({v.path})")
        print(f"created {m.get('created')}  tool {m.get('tool_version')}  parent {m.get('parent') or '-'}")
        for name, f in m.get("files", {}).items():
            print(f"{name}: {plural(f['records'], 'record')}  sha256 {f['sha256'][:16]}…")
        for f in m.get("inputs", []):
            print(f"input {f['path']}  sha256 {f['sha256'][:16]}…")
        print(format_report(m))
        return 0
    from builder.curate.diff import diff_versions

    a, b = load_version(args.a, args.root), load_version(args.b, args.root)
    d = diff_versions(a, b)
    print(format_diff_table(a.ref, b.ref, list(d.contacts.iter_rows(named=True))))
    print(f"conversations: {len(d.added)} added, {len(d.removed)} removed, {d.unchanged} unchanged")
    for h in d.added[:20]:
        print(f"+ {h}")
    for h in d.removed[:20]:
        print(f"- {h}")
    return 0


def format_diff_table(ref_a: str, ref_b: str, rows: list[dict]) -> str:
    """Per-contact conversations and shares of two versions. Columns are labelled A and B
    with the full refs named above (two datasets can share a version number), and sized
    to the widest cell so long names stay aligned."""
    header = ["contact", "convs A", "convs B", "share A", "share B"]
    body = [[str(r["contact"]), f"{r['conversations_a']:,}", f"{r['conversations_b']:,}",
             f"{r['share_a']:.1%}", f"{r['share_b']:.1%}"] for r in rows]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join([cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]).rstrip()

    return "\n".join([f"A = {ref_a}", f"B = {ref_b}", line(header), *map(line, body)])
