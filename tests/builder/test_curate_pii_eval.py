"""The issue-13 goals on the labelled set (tests/pii_eval; bench/pii.py prints the full
table and the old implementation beside it): recall >= 0.95 per type and overall,
precision >= 0.98, look-alikes kept >= 0.98, no row changed outside its placeholders."""

from __future__ import annotations

import polars as pl
import pytest

from builder.curate import pii
from tests.pii_eval.score import load, score


@pytest.fixture(scope="module")
def result():
    rows = load("chat hints")
    df = pl.DataFrame({"chat": [r["chat"] for r in rows], "text": [r["text"] for r in rows]})
    out, _ = pii.redact_column(df, "text", list(pii.TYPES), options=pii.PiiOptions(locale_region=False))
    return score(rows, out["text"].to_list(), list(pii.TYPES))


@pytest.mark.parametrize("kind", [*pii.TYPES, "overall"])
def test_recall_and_precision(result, kind):
    r = result["types"][kind]
    assert r["n"] >= 100
    assert r["recall"] >= 0.95, r
    assert r["precision"] >= 0.98, r


def test_look_alikes_survive_and_no_row_changes(result):
    assert result["negatives"] > 1000
    assert result["negatives_kept"] >= 0.98, result["neg_by"]
    assert result["rows_changed"] == 0
