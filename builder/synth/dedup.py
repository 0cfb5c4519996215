"""Drop synthetic records that duplicate real ones or each other, exactly or nearly,
with curation's own exact/MinHash near-duplicate finder (builder.curate.clean).

Real units come first (lower ids) so a synthetic record similar to real data, or to an
earlier synthetic record in plan order, is the one flagged. Real units are whole real
records and each real (user turn, reply) pair, so copying one exchange is caught too."""

from __future__ import annotations

import polars as pl

from builder.curate.clean import exact_duplicates, near_duplicates


def _dialogue(messages: list[dict]) -> list[dict]:
    return [m for m in messages if m.get("role") in ("user", "assistant")]


def duplicate_synthetic(real_records: list[dict], synthetic: list[dict], threshold: float) -> set[int]:
    """Indexes into ``synthetic`` that duplicate a real unit or an earlier synthetic record."""
    if not synthetic:
        return set()
    convs: list[int] = []
    roles: list[str] = []
    contents: list[str] = []
    poss: list[int] = []

    def add(turns: list[dict]) -> int:
        conv = add.next_id  # type: ignore[attr-defined]
        add.next_id += 1  # type: ignore[attr-defined]
        for pos, m in enumerate(turns):
            convs.append(conv)
            poss.append(pos)
            roles.append(m["role"])
            contents.append(m.get("content") or "")
        return conv

    add.next_id = 0  # type: ignore[attr-defined]
    for record in real_records:
        turns = _dialogue(record.get("messages", []))
        add(turns)
        for a, b in zip(turns, turns[1:]):
            if a["role"] == "user" and b["role"] == "assistant":
                add([a, b])
    first_synth = add.next_id  # type: ignore[attr-defined]
    for record in synthetic:
        add(_dialogue(record["messages"]))
    turns = pl.DataFrame({"conv": convs, "pos": poss, "role": roles, "content": contents},
                         schema={"conv": pl.Int64, "pos": pl.Int32, "role": pl.String, "content": pl.String})
    flagged = set(exact_duplicates(turns).to_list()) | set(near_duplicates(turns, threshold).to_list())
    return {conv - first_synth for conv in flagged if conv >= first_synth}
