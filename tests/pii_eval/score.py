"""Scoring a redactor against tests/pii_eval/eval.jsonl, shared by bench/pii.py and
tests/builder/test_curate_pii_eval.py. Only the redacted text is used (what a user gets):
the placeholders are aligned back onto the original, so the old and the new
implementation are scored the same way.

- a labelled span is found when a placeholder of its type covers it (IoU >= 0.8);
- precision per type: such placeholders / every placeholder of that type;
- a look-alike negative is kept when no placeholder touches it;
- a row is "changed" when its text outside the placeholders differs from the input."""

from __future__ import annotations

import json
import re
from pathlib import Path

EVAL = Path(__file__).with_name("eval.jsonl")
PLACEHOLDER = re.compile(r"<(URL|EMAIL|IBAN|CARD|PHONE|IP)(?:_\d+)?>")


def load(scenario: str = "chat hints") -> list[dict]:
    """The labelled lines; "no hints" drops every line with a +CC number."""
    rows = [json.loads(line) for line in EVAL.read_text(encoding="utf-8").splitlines()]
    if scenario == "no hints":
        rows = [r for r in rows if not r["set"].startswith("phone-intl")]
    return rows


def align(original: str, redacted: str) -> list[tuple[int, int, str]] | None:
    """Where each placeholder of ``redacted`` sits in ``original``; None when the text
    outside the placeholders changed."""
    pieces = PLACEHOLDER.split(redacted)
    literals, kinds = pieces[0::2], [k.lower() for k in pieces[1::2]]
    if not kinds:
        return [] if redacted == original else None
    pattern = "(.+?)".join(re.escape(p) for p in literals)
    m = re.fullmatch(pattern, original, flags=re.S)
    if m is None:
        return None
    return [(m.start(i + 1), m.end(i + 1), k) for i, k in enumerate(kinds)]


def iou(a: tuple, b: tuple) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


def score(rows: list[dict], outputs: list[str], types: list[str]) -> dict:
    labels = {t: 0 for t in types}
    hit = {t: 0 for t in types}
    dets = {t: 0 for t in types}
    tp = {t: 0 for t in types}
    neg_total, neg_kept, changed = 0, 0, 0
    neg_by: dict[str, list[int]] = {}
    for row, out in zip(rows, outputs):
        found = align(row["text"], out)
        if found is None:
            changed += 1
            found = []
        for s, e, k in row["spans"]:
            labels[k] = labels.get(k, 0) + 1
            if any(dk == k and iou((s, e), (ds, de)) >= 0.8 for ds, de, dk in found):
                hit[k] = hit.get(k, 0) + 1
        for ds, de, dk in found:
            dets[dk] = dets.get(dk, 0) + 1
            if any(dk == k and iou((s, e), (ds, de)) >= 0.8 for s, e, k in row["spans"]):
                tp[dk] = tp.get(dk, 0) + 1
        for s, e, what in row["neg"]:
            kept = not any(ds < e and s < de for ds, de, _ in found)
            neg_total += 1
            neg_kept += kept
            neg_by.setdefault(what, [0, 0])[0] += kept
            neg_by[what][1] += 1
    per = {}
    for k in labels:
        per[k] = {"n": labels[k], "recall": hit.get(k, 0) / labels[k] if labels[k] else None,
                  "precision": tp.get(k, 0) / dets[k] if dets.get(k) else None, "detections": dets.get(k, 0)}
    n_lab = sum(labels[k] for k in types)
    n_det = sum(dets.get(k, 0) for k in dets)
    per["overall"] = {"n": n_lab, "recall": sum(hit.get(k, 0) for k in types) / n_lab,
                      "precision": sum(tp.values()) / n_det if n_det else None, "detections": n_det}
    return {"types": per, "negatives_kept": neg_kept / neg_total, "negatives": neg_total,
            "neg_by": {k: v[0] / v[1] for k, v in sorted(neg_by.items())}, "rows_changed": changed}


def by_set(rows: list[dict], outputs: list[str]) -> dict[str, float]:
    """Recall of the phone lines by how they are written."""
    acc: dict[str, list[int]] = {}
    for row, out in zip(rows, outputs):
        if not row["set"].startswith("phone"):
            continue
        found = align(row["text"], out) or []
        for s, e, k in row["spans"]:
            ok = any(dk == k and iou((s, e), (ds, de)) >= 0.8 for ds, de, dk in found)
            acc.setdefault(row["set"], [0, 0])[0] += ok
            acc[row["set"]][1] += 1
    return {k: v[0] / v[1] for k, v in sorted(acc.items())}

