"""clonekit pii-report VERSION | EXPORTS...: what PII redaction replaces, to audit before training."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "pii-report", help="counts per PII type and sample redactions in context, to audit before training",
        description="Show what PII redaction ([clean] pii) replaces: counts per type (email, phone, url, card, "
        "iban, ip) and a few redactions of each with the text around them. Give a dataset VERSION (NAME, "
        "NAME/vNNNN or its folder: its sources are read again with the settings it was built with) or the "
        "export files/folders themselves (settings from --config, else the defaults). The samples show "
        "the private data itself: they are printed here, never written anywhere.")
    p.add_argument("what", nargs="+", metavar="VERSION|EXPORTS", help="a dataset version, or export files/folders")
    p.add_argument("--config", metavar="TOML", help="clonekit.toml whose [clean] pii_types and [pii] apply (exports only)")
    p.add_argument("--root", metavar="DIR", help="datasets root (for VERSION)")
    p.add_argument("--samples", type=int, default=5, metavar="N", help="redactions shown per type (default 5)")
    p.add_argument("--width", type=int, default=40, metavar="CHARS", help="context shown on each side (default 40)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p


def _is_version(ref: str, root: str | None) -> bool:
    from pathlib import Path

    from builder.curate.store import datasets_root

    p = Path(ref)
    if (p / "manifest.json").is_file():
        return True
    if p.exists():
        return False  # an export file or folder
    base = datasets_root(root)
    return (base / p).is_dir() or (base / Path(*p.parts[-2:]) / "manifest.json").is_file()


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from builder.curate.config import load_build_config
    from builder.curate.pii_report import changed_inputs, format_report, report, version_config
    from builder.curate.sources import read_sources
    from builder.curate.store import resolve_version
    from builder.errors import ClonekitError

    if len(args.what) == 1 and _is_version(args.what[0], args.root):
        if args.config:
            raise ClonekitError("pii-report: --config applies to exports; a version uses the settings it was built with")
        path = version = resolve_version(args.what[0], args.root)
        config = version_config(path)
        missing = [s for s in config.build.sources if not Path(s).exists()]
        if missing:
            raise ClonekitError(f"{path}: its source '{missing[0]}' is gone; pass the exports instead "
                                "(clonekit pii-report EXPORTS --config clonekit.toml)")
        source = f"{path.parent.name}/{path.name} (sources: {', '.join(config.build.sources)})"
        sources = config.build.sources
    else:
        version = None
        config = load_build_config(Path(args.config) if args.config else None)
        sources = [str(Path(w).expanduser().resolve()) for w in args.what]
        source = ", ".join(args.what)
    inputs = read_sources(sources)
    r = report(inputs, config, per_type=max(0, args.samples), width=max(0, args.width), source=source)
    if version is not None:
        r.changed_inputs = changed_inputs(version, inputs)
    print(json.dumps(r.to_dict(), indent=2, ensure_ascii=False) if args.json else format_report(r))
    return 0
