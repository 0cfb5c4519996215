"""Per-contact balancing: caps by count and by share (of tokens or conversations), a
minimum count to keep a contact, and a seeded-random or most-recent choice of which
conversations stay. Only chat conversations are balanced; instruction data passes."""

from __future__ import annotations

import numpy as np
import polars as pl

from builder.events import Log, OnEvent, ignore_event


def priority(convs: pl.DataFrame, strategy: str, seed: int) -> pl.Series:
    """Lower keeps first. ``recent``: newest end first; ``random``: a seeded permutation
    over conversations in conv-id order (ids are deterministic), so the choice is stable."""
    if strategy == "recent":
        return convs.select(
            pl.struct(pl.col("end"), pl.col("conv")).rank("ordinal", descending=True).cast(pl.Int64) - 1
        ).to_series().rename("prio")
    order = np.argsort(convs["conv"].to_numpy(), kind="stable")
    prio = np.empty(len(order), dtype=np.int64)
    prio[order] = np.random.default_rng(seed).permutation(len(order))
    return pl.Series("prio", prio)


def share_cap(totals: list[float], max_share: float) -> tuple[float, bool]:
    """The cap x such that every contact's min(total, x) is at most ``max_share`` of the
    capped sum (water-filling). Returns (x, feasible); infeasible when there are too few
    contacts (n * max_share < 1): then x is the smallest total (equal shares)."""
    t = sorted(totals, reverse=True)
    total = sum(t)
    if not t or total == 0:
        return float("inf"), True
    if t[0] <= max_share * total:
        return float("inf"), True
    if len(t) * max_share < 1:
        return float(min(t)), False
    rest = total
    for k in range(1, len(t)):
        rest -= t[k - 1]
        if k * max_share >= 1:
            break
        x = max_share * rest / (1 - k * max_share)
        nxt = t[k]
        if nxt <= x <= t[k - 1]:
            return x, True
    return float(min(t)), False


def balance(
    convs: pl.DataFrame,
    *,
    max_share: float | None,
    share_by: str = "tokens",
    max_conversations: int | None = None,
    min_conversations: int = 1,
    strategy: str = "random",
    seed: int = 0,
    on_event: OnEvent = ignore_event,
) -> pl.DataFrame:
    """Chat conversations kept after balancing (same columns, conv-id order)."""
    df = convs.with_columns(priority(convs, strategy, seed)).with_columns(
        rank=pl.col("prio").rank("ordinal").over("contact").cast(pl.Int64) - 1
    )
    if min_conversations > 1:
        df = df.filter(pl.len().over("contact") >= min_conversations)
    if max_conversations is not None:
        df = df.filter(pl.col("rank") < max_conversations)
    if max_share is not None and df.height:
        measure = pl.col("n_tokens") if share_by == "tokens" else pl.lit(1)
        df = df.with_columns(_m=measure.cast(pl.Float64))
        totals = df.group_by("contact").agg(pl.col("_m").sum())["_m"].to_list()
        cap, feasible = share_cap(totals, max_share)
        if not feasible:
            on_event(Log(
                f"balance: {len(totals)} contacts cannot each stay under {max_share:.0%}; "
                "capping every contact at the smallest one's size instead (raise balance.max_share)",
                "warning",
            ))
        if share_by == "conversations":
            cap = float(np.floor(cap + 1e-9))
        df = df.sort("prio").with_columns(_cum=pl.col("_m").cum_sum().over("contact"))
        df = df.filter(pl.col("_cum") <= cap + 1e-9).drop("_m", "_cum")
    return df.drop("prio", "rank").sort("conv")


def contact_stats(convs: pl.DataFrame) -> pl.DataFrame:
    return (
        convs.group_by("contact")
        .agg(pl.col("role_tag").first(), pl.len().alias("conversations"), pl.col("n_tokens").sum().alias("tokens"))
        .with_columns(share=pl.col("tokens") / pl.col("tokens").sum().clip(lower_bound=1))
    )


def balance_report(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    """Per contact: role, conversations/tokens/share before and after, biggest first."""
    b = contact_stats(before)
    a = contact_stats(after).drop("role_tag")
    return (
        b.join(a, on="contact", how="left", suffix="_after")
        .rename({"conversations": "conversations_before", "tokens": "tokens_before", "share": "share_before"})
        .with_columns(
            pl.col("conversations_after").fill_null(0),
            pl.col("tokens_after").fill_null(0),
            pl.col("share_after").fill_null(0.0),
        )
        .select("contact", "role_tag", "conversations_before", "conversations_after",
                "tokens_before", "tokens_after", "share_before", "share_after")
        .sort(["tokens_before", "contact"], descending=[True, False])
    )
