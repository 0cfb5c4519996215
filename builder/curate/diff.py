"""Compare two dataset versions: per-contact counts and token shares side by side, and
the conversations added / removed (by a hash of their messages)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import polars as pl

from builder.curate.store import DatasetVersion


def content_hash(record: dict) -> str:
    return hashlib.sha256(json.dumps(record["messages"], ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]


def _frame(dv: DatasetVersion) -> pl.DataFrame:
    recs = dv.train + dv.val
    return pl.DataFrame(
        {
            "contact": [str(r.get("meta", {}).get("contact", "")) for r in recs],
            "n_tokens": [int(r.get("meta", {}).get("n_tokens", 0)) for r in recs],
            "hash": [content_hash(r) for r in recs],
        },
        schema={"contact": pl.String, "n_tokens": pl.Int64, "hash": pl.String},
    )


@dataclass
class VersionDiff:
    contacts: pl.DataFrame  # contact, conversations_a, conversations_b, share_a, share_b
    added: list[str]
    removed: list[str]
    unchanged: int


def diff_versions(a: DatasetVersion, b: DatasetVersion) -> VersionDiff:
    fa, fb = _frame(a), _frame(b)

    def per(f: pl.DataFrame, s: str) -> pl.DataFrame:
        return f.group_by("contact").agg(pl.len().alias(f"conversations_{s}"), pl.col("n_tokens").sum().alias(f"tokens_{s}")).with_columns(
            (pl.col(f"tokens_{s}") / pl.col(f"tokens_{s}").sum().clip(lower_bound=1)).alias(f"share_{s}")
        )

    contacts = (
        per(fa, "a").join(per(fb, "b"), on="contact", how="full", coalesce=True)
        .with_columns(pl.col(c).fill_null(0) for c in ["conversations_a", "conversations_b", "tokens_a", "tokens_b", "share_a", "share_b"])
        .sort(["tokens_b", "contact"], descending=[True, False])
    )
    ha, hb = set(fa["hash"].to_list()), set(fb["hash"].to_list())
    return VersionDiff(contacts, sorted(hb - ha), sorted(ha - hb), len(ha & hb))
