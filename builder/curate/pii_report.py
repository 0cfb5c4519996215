"""What PII redaction would replace, for a person to audit before training: counts per
type and a sample of redactions with their context. Shared by ``clonekit pii-report`` and
the TUI's Filter page; it finds exactly what ``build`` redacts (same function, same
``[clean] pii_types`` and ``[pii]`` settings)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from builder.curate import pii
from builder.curate.config import BuildConfig
from builder.curate.sources import Inputs
from builder.errors import ClonekitError
from builder.wording import plural


@dataclass
class PiiReport:
    messages: int
    counts: dict[str, int]
    samples: list[pii.Sample]
    # the region lists tried for national numbers: {"regions", "from" (each one's origin), "chats"}
    regions: list[dict] = field(default_factory=list)
    locale: str = ""  # where a "locale" region came from: "LANG=en_GB.UTF-8" or the pinned config
    source: str = ""
    changed_inputs: list[str] = field(default_factory=list)  # a version's inputs that differ from its manifest

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "messages": self.messages, "counts": self.counts,
                "regions": self.regions, "locale": self.locale, "changed_inputs": self.changed_inputs,
                "samples": [asdict(s) for s in self.samples]}


def report(inputs: Inputs, config: BuildConfig, per_type: int = 5, width: int = 40, source: str = "") -> PiiReport:
    """Scan the messages' and the instruction records' texts as ``build`` would redact them."""
    types = list(config.clean.pii_types)
    options = pii.options_from(config.pii)
    counts = {t: 0 for t in types}
    samples: list[pii.Sample] = []
    used: Counter = Counter()
    texts = [(inputs.messages, "text", "chat")]
    if inputs.instructions.height:
        contents = inputs.instructions.select(pl.col("messages").explode().struct.field("content").alias("content"))
        texts.append((contents, "content", None))
    for frame, column, chat in texts:
        if frame.is_empty():
            continue
        s = pii.scan(frame, column, types, chat=chat, options=options)
        for k, n in s.counts(types).items():
            counts[k] += n
        have = {(x.kind) for x in samples}
        samples += [x for x in pii.samples(s, per_type, width) if x.kind not in have]
        used.update(s.region_use)
    samples.sort(key=lambda x: pii.TYPES.index(x.kind))
    n = inputs.messages.height + inputs.instructions.height
    regions = pii.region_use(used)
    locale = pii.locale_origin(config) if any("locale" in u["from"] for u in regions) else ""
    return PiiReport(messages=n, counts=counts, samples=samples, regions=regions, locale=locale, source=source)


def version_config(path: Path) -> BuildConfig:
    """The build config a dataset version was written with (from its manifest)."""
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    try:
        return BuildConfig.model_validate(manifest.get("config") or {})
    except ValueError as err:
        raise ClonekitError(f"{path / 'manifest.json'}: its config no longer validates "
                            f"({str(err).splitlines()[0]}); pass the exports and --config instead") from None


def changed_inputs(path: Path, inputs: Inputs) -> list[str]:
    """The input files of version ``path`` whose sha256 differs from its manifest (or
    that it did not list): the report then no longer shows exactly what was redacted."""
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    then = {f["path"]: f["sha256"] for f in manifest.get("inputs", [])}
    return [f["path"] for f in inputs.files if then.get(f["path"]) != f["sha256"]]


_ORIGIN = {"chat": "the chat's +CC numbers", "config": "[pii] regions", "export": "+CC numbers in the export",
           "locale": "the locale"}


def _regions(use: dict) -> str:
    """``GB (the chat's +CC numbers), IN ([pii] regions) in 3 chats``."""
    if not use["regions"]:
        return f"(none) in {plural(use['chats'], 'chat')}"
    shown = ", ".join(f"{r} ({_ORIGIN.get(o, o)})" for r, o in zip(use["regions"], use["from"]))
    return f"{shown} in {plural(use['chats'], 'chat')}"


def format_report(r: PiiReport) -> str:
    """The plain-text report (CLI)."""
    lines = [f"PII in {r.source or 'the sources'}: {plural(r.messages, 'message')} scanned"]
    found = {k: v for k, v in r.counts.items() if v}
    if r.changed_inputs:
        lines.append(f"note: {plural(len(r.changed_inputs), 'input file')} changed since the version was built "
                     f"(first: {r.changed_inputs[0]}); this shows what a build would redact now")
    lines.append("found: " + (", ".join(f"{k} {v:,}" for k, v in found.items()) if found else "nothing"))
    if r.regions:
        lines.append("national phone numbers read as: " + "; ".join(_regions(u) for u in r.regions[:6])
                     + (" …" if len(r.regions) > 6 else ""))
        if r.locale:
            hint = "" if "pinned" in r.locale else "; set [pii] regions to pin it"
            lines.append(f"  (locale: {r.locale}{hint})")
    if r.samples:
        lines.append("")
        lines.append("samples (what is replaced, in context):")
    for s in r.samples:
        before = s.before.replace("\n", " ")
        after = s.after.replace("\n", " ")
        lines.append(f"  {s.kind:<6} …{before}[{s.original}]{after}…  ->  {s.placeholder}")
    return "\n".join(lines)
