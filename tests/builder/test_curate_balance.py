from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from builder.curate import balance as bal


def convs(spec):
    """spec: {contact: [n_tokens, ...]} -> conversation frame with increasing end times."""
    rows, i = [], 0
    for contact, toks in spec.items():
        for t in toks:
            rows.append({"conv": i, "contact": contact, "role_tag": "friend", "n_tokens": t,
                         "end": dt.datetime(2024, 1, 1) + dt.timedelta(hours=i)})
            i += 1
    return pl.DataFrame(rows)


def counts(df):
    return dict(df.group_by("contact").len().sort("contact").iter_rows())


def test_share_cap_water_filling():
    assert bal.share_cap([10, 3, 3], 0.4) == (pytest.approx(4.0), True)
    assert bal.share_cap([2, 2, 2], 0.4) == (float("inf"), True)
    assert bal.share_cap([10, 1], 0.4) == (1.0, False)


def test_max_share_by_conversations_reached_exactly_and_seeded():
    df = convs({"A": [10] * 10, "B": [10] * 3, "C": [10] * 3})
    out = bal.balance(df, max_share=0.4, share_by="conversations", seed=1)
    assert counts(out) == {"A": 4, "B": 3, "C": 3}
    assert out.filter(pl.col("contact") == "A").height / out.height == pytest.approx(0.4)
    again = bal.balance(df, max_share=0.4, share_by="conversations", seed=1)
    assert out.equals(again)
    other = bal.balance(df, max_share=0.4, share_by="conversations", seed=2)
    assert other["conv"].to_list() != out["conv"].to_list()


def test_max_share_by_tokens_never_exceeds_the_cap():
    df = convs({"A": [100, 50, 50, 50, 50], "B": [40, 40], "C": [30, 30]})
    out = bal.balance(df, max_share=0.4, share_by="tokens", seed=0)
    share = out.filter(pl.col("contact") == "A")["n_tokens"].sum() / out["n_tokens"].sum()
    assert share <= 0.4 + 1e-9
    assert counts(out)["B"] == 2 and counts(out)["C"] == 2


def test_recent_strategy_keeps_newest_and_count_caps():
    df = convs({"A": [1] * 5, "B": [1] * 2, "C": [1]})
    out = bal.balance(df, max_share=None, max_conversations=2, min_conversations=2, strategy="recent")
    assert counts(out) == {"A": 2, "B": 2}
    assert out.filter(pl.col("contact") == "A")["conv"].to_list() == [3, 4]


def test_infeasible_share_warns_and_equalises():
    events = []
    df = convs({"A": [1] * 6, "B": [1] * 2})
    out = bal.balance(df, max_share=0.3, share_by="conversations", on_event=events.append)
    assert counts(out) == {"A": 2, "B": 2}
    assert events and events[0].level == "warning"


def test_balance_report_before_after():
    df = convs({"A": [10] * 10, "B": [10] * 3, "C": [10] * 3})
    out = bal.balance(df, max_share=0.4, share_by="conversations")
    rep = bal.balance_report(df, out)
    row = rep.row(0, named=True)
    assert (row["contact"], row["conversations_before"], row["conversations_after"]) == ("A", 10, 4)
    assert row["share_before"] == pytest.approx(10 / 16) and row["share_after"] == pytest.approx(0.4)
