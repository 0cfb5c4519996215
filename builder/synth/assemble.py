"""Turn API results into dataset records, in plan order whatever order they arrived in:
validate each reply, build records (persona system prompt, meta.synthetic etc.), drop
duplicates of real data and of each other, then apply the synthetic-share cap."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from builder.synth.dedup import duplicate_synthetic
from builder.synth.validate import parse_reply


@dataclass
class Assembled:
    records: list[dict]
    rejected: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)
    counts: dict = field(default_factory=dict)


def _record(plan, pr, item: dict, item_index: int, system: str, name: str) -> dict:
    if "turns" in item:
        turns = [{"role": "user", "content": t["text"], "name": pr.contact} if t["speaker"] == "contact"
                 else {"role": "assistant", "content": t["text"]} for t in item["turns"]]
    else:
        turns = [{"role": "user", "content": item["prompt"], "name": pr.contact},
                 {"role": "assistant", "content": item["reply"]}]
    return {
        "messages": [{"role": "system", "content": system}, *turns],
        "meta": {
            "contact": pr.contact, "role_tag": pr.role, "source": f"synth:{plan.config.mode}",
            "start": None, "end": None, "n_tokens": 0, "synthetic": True,
            "generator": plan.config.model, "prompt_id": plan.template.id, "prompt_hash": plan.template.hash,
            "request": pr.request_id, "item": item_index,
        },
    }


def assemble(plan, results: dict, loaded) -> Assembled:
    from builder.curate.persona import system_prompt

    out = Assembled(records=[])
    systems: dict[tuple[str, str], str] = {}
    for pr in plan.requests:  # plan order, not completion order
        result = results.get(pr.index)
        if result is None:
            continue
        parsed = parse_reply(plan.template.schema_name, result.content, pr.k, result.finish_reason)
        out.rejected.update(parsed.rejected)
        key = (pr.contact, pr.role)
        if key not in systems:
            systems[key] = system_prompt(loaded.persona, pr.contact, pr.role, me=loaded.me)
        for i, item in enumerate(parsed.items):
            out.records.append(_record(plan, pr, item, i, systems[key], loaded.me))

    # n_tokens of dialogue turns, as curation counts them; one batched call
    texts = [m["content"] for r in out.records for m in r["messages"] if m["role"] != "system"]
    counts = iter(loaded.record_counter.count(texts))
    for r in out.records:
        r["meta"]["n_tokens"] = sum(next(counts) for m in r["messages"] if m["role"] != "system")

    dv = loaded.version
    dupes = duplicate_synthetic(dv.train + dv.val, out.records, plan.config.near_dup_threshold)
    out.dropped["duplicate"] = len(dupes)
    kept = [r for i, r in enumerate(out.records) if i not in dupes]

    cap, used, capped = plan.share_cap_tokens, 0, []
    for r in kept:  # a prefix in plan order, so the plan's contact rotation is kept
        if used + r["meta"]["n_tokens"] > cap:
            break
        used += r["meta"]["n_tokens"]
        capped.append(r)
    out.dropped["over_share_cap"] = len(kept) - len(capped)
    out.records = capped
    total = plan.real.train_tokens + used
    out.counts = {"synthetic_records": len(capped), "synthetic_tokens": used,
                  "synthetic_share": used / total if total else 0.0}
    return out
