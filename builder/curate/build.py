"""``build(config)``: sources -> a new dataset version. Also ``curate`` (everything but
reading and writing) for the TUI's preview and for tests.

Step order (each reported as a Progress event; cancel is checked between steps):
  read -> identity (me, contacts) -> messages (max chars, PII) -> sessions -> tokens
  -> conversations -> persona -> clean (exact + near dup, lengths) -> balance -> split -> write
Cleaning runs before balancing so the caps hold on what is actually written."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from builder.curate import balance as bal
from builder.chunks import Chunks, cut
from builder.curate import clean, identity, persona, pii, sessions
from builder.curate.config import BuildConfig, config_to_dict
from builder.curate.instructions import instruction_turns
from builder.curate.records import render_lines, write_jsonl
from builder.curate.sources import Inputs, read_sources
from builder.curate.split import split
from builder.curate.store import datasets_root, write_version
from builder.errors import ClonekitError
from builder.events import NEVER_CANCELLED, CancelToken, Log, OnEvent, Progress, ignore_event
from builder.tokens import TokenCounter, load_counter

STAGES = ["read", "identity", "messages", "sessions", "tokens", "conversations", "persona",
          "clean", "balance", "split", "write"]


class MeNotSet(ClonekitError):
    """No --me given: carries the suggestion so the TUI can offer it. ``uncovered``: 1:1
    chats the suggestion is not in, with their senders (the user's other names are there).
    ``has_one_to_one``: False when every chat is a group (the suggestion is then only the
    sender in the most chats, and the message says so)."""

    def __init__(self, suggestions: list[str], uncovered: list[tuple[str, list[str]]] | None = None,
                 has_one_to_one: bool = True):
        self.suggestions = suggestions
        self.uncovered = uncovered or []
        if suggestions:
            s = suggestions[0]
            shown_names = ", ".join(repr(x) for x in suggestions[:3])
            if self.uncovered:
                shown = "; ".join(f"{chat!r}: {', '.join(repr(x) for x in names)}" for chat, names in self.uncovered[:6])
                more = f" (+{len(self.uncovered) - 6} more)" if len(self.uncovered) > 6 else ""
                msg = (f"who are you? nobody is in every 1:1 chat; suggested: {shown_names} "
                       f"(in the most 1:1 chats); 1:1 chats without {s!r}: {shown}{more}; "
                       f"pass each of your names, e.g. --me \"{s}\" --me \"{self.uncovered[0][1][0]}\", "
                       f"or list them in [build] me in clonekit.toml")
            elif has_one_to_one:
                msg = (f"who are you? suggested: {shown_names} "
                       f"(the sender in every 1:1 chat); confirm with --me \"{s}\" or [build] me = [\"{s}\"] in clonekit.toml")
            else:
                msg = (f"who are you? there is no 1:1 chat to tell from, only group chats; the senders in the most "
                       f"chats: {shown_names}; pass your name with --me \"NAME\" or [build] me = [\"NAME\"] in clonekit.toml")
        else:
            msg = "who are you? no sender found to suggest; pass --me NAME or set [build] me in clonekit.toml"
        super().__init__(msg)


@dataclass
class Curated:
    lines: pl.DataFrame  # conv, split, line (rendered records)
    convs: pl.DataFrame  # final conversations with split
    report: pl.DataFrame  # balance before/after per contact
    stats: dict[str, Any] = field(default_factory=dict)


class _Steps:
    def __init__(self, on_event: OnEvent, cancel: CancelToken) -> None:
        self.on_event, self.cancel = on_event, cancel

    def __call__(self, stage: str, detail: str = "", **extra: Any) -> None:
        self.cancel.check()
        # One "build" bar across the steps (the ingest step reports its files as "read").
        label = f"{stage}: {detail}" if detail else stage
        self.on_event(Progress("build", STAGES.index(stage) + 1, len(STAGES), label, {"step": stage, **extra}))


def _empty(step: str, setting: str) -> ClonekitError:
    return ClonekitError(f"no conversations left after {step}; {setting}")


def _token_stats(convs: pl.DataFrame) -> dict[str, Any]:
    if convs.is_empty():
        return {"conversations": 0, "total": 0}
    s = convs["n_tokens"]
    return {"conversations": convs.height, "total": int(s.sum()), "mean": round(float(s.mean()), 1),
            "p50": int(s.quantile(0.5, "nearest")), "p95": int(s.quantile(0.95, "nearest")),
            "max": int(s.max()), "min": int(s.min())}


def chat_conversations(
    messages: pl.DataFrame, config: BuildConfig, counter: TokenCounter, step: _Steps, stats: dict
) -> tuple[pl.DataFrame, pl.DataFrame, Chunks | None]:
    """(turns, convs, the turn texts cut at spaces): the cut is shared by token counting
    and duplicate detection (turns' ``turn`` - 1 is a turn's row in it)."""
    b, c, s, cl = config.build, config.contacts, config.sessions, config.clean
    step("identity")
    if not b.me:
        suggested = identity.suggest_me(messages)
        raise MeNotSet(suggested, identity.uncovered_chats(messages, suggested[:1]),
                       has_one_to_one=identity.has_one_to_one(messages))
    me = identity.check_me(messages, b.me)
    identity.check_aliases(messages, c.aliases)
    messages = identity.merge_aliases(messages, c.aliases)
    identity.check_contacts(messages, c)
    step("messages")
    # stays lazy (no copy of every message) unless PII redaction needs a frame
    msgs, stats["messages_over_max_chars"] = clean.drop_long_messages(messages, cl.max_chars_per_message)
    if cl.pii:
        red, stats["pii"] = pii.redact_column(msgs.collect(), "text", list(cl.pii_types),
                                              options=pii.options_from(config.pii),
                                              used=stats.setdefault("pii_regions", Counter()))
        msgs = red.lazy()
    chats = identity.chat_table(msgs, me, c)
    selected = sessions.select_messages(msgs, chats, c, s, groups=b.groups).collect()
    step("sessions")
    turns = sessions.merge_turns(selected, s.merge_minutes, s.gap_minutes)
    stats["messages_used"] = selected.height
    del selected
    stats["turns"] = turns.height
    if turns.is_empty():
        if not identity.has_others(msgs, me):
            raise ClonekitError("the chats hold only your own messages (no one else writes in them): there is nothing "
                                "to learn replies from; add chats with other people, or check that --me is only you")
        raise _empty("selecting messages", "check [contacts] include/exclude, [build] groups and sessions.keep_media")
    step("tokens", f"{turns.height} turns")
    chunks = cut(turns.get_column("text")) if getattr(counter, "fast", False) or cl.dedup or cl.near_dup else None
    turns = sessions.count_turn_tokens(turns, counter, chunks=chunks)
    step("conversations")
    t, convs, sstats = sessions.conversations(turns, me, s.max_tokens, s.min_tokens)
    stats.update(sstats)
    if convs.is_empty():
        raise _empty("sessions", f"lower sessions.min_tokens (now {s.min_tokens}) or raise sessions.gap_minutes; "
                     "every session was too short or had no message from --me")
    return t, convs, chunks


def add_system_prompts(turns: pl.DataFrame, convs: pl.DataFrame, config: BuildConfig, counter: TokenCounter) -> tuple[pl.DataFrame, pl.DataFrame]:
    chat = convs.filter(pl.col("kind") == "chat")
    if chat.is_empty():
        return turns, convs
    me_name = config.persona.name or config.build.me[0]
    pairs = chat.select("contact", "role_tag").unique().sort(["contact", "role_tag"])
    # one prompt per (contact, role): a handful of strings, not one per row
    prompts = [persona.system_prompt(config.persona, r["contact"], r["role_tag"], me=me_name) for r in pairs.iter_rows(named=True)]
    pairs = pairs.with_columns(
        content=pl.Series(prompts, dtype=pl.String),
        p_tokens=pl.Series(counter.count(prompts), dtype=pl.Int64),
    )
    with_p = chat.select("conv", "contact", "role_tag").join(pairs, on=["contact", "role_tag"])
    system = with_p.select(
        "conv", pos=pl.lit(-1, dtype=pl.Int32), role=pl.lit("system"), name=pl.lit(None, dtype=pl.String),
        content="content", n_tokens="p_tokens",
    )
    if "turn" in turns.columns:  # same columns, same order: a plain (vertical) concat
        system = system.with_columns(turn=pl.lit(None, dtype=pl.Int64))
    turns = pl.concat([system, turns.select(system.columns)]).sort(["conv", "pos"])
    convs = convs.join(with_p.select("conv", "p_tokens"), on="conv", how="left").with_columns(
        n_tokens=pl.col("n_tokens") + pl.col("p_tokens").fill_null(0)
    ).drop("p_tokens")
    return turns, convs


def curate(
    inputs: Inputs,
    config: BuildConfig,
    counter: TokenCounter | None = None,
    on_event: OnEvent = ignore_event,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Curated:
    step = _Steps(on_event, cancel)
    counter = counter or load_counter(config.tokenizer.spec)
    cl, sp = config.clean, config.split
    stats: dict[str, Any] = {"messages": inputs.messages.height, "instruction_records": inputs.instructions.height}
    parts_t, parts_c = [], []
    chunks = None
    if inputs.messages.height:
        t, c, chunks = chat_conversations(inputs.messages, config, counter, step, stats)
        parts_t.append(t)
        parts_c.append(c)
    if inputs.instructions.height:
        instr = inputs.instructions
        if cl.pii:
            ex = instr.with_row_index("_r").explode("messages").unnest("messages")
            ex, ipii = pii.redact_column(ex, "content", list(cl.pii_types), chat=None,
                                         options=pii.options_from(config.pii),
                                         used=stats.setdefault("pii_regions", Counter()))
            instr = ex.group_by("_r", maintain_order=True).agg(
                pl.col("source").first(), pl.struct("role", "content").alias("messages")
            ).drop("_r")
            stats["pii"] = {k: stats.get("pii", {}).get(k, 0) + v for k, v in ipii.items()}
        first = int(parts_c[0]["conv"].max()) + 1 if parts_c else 0
        t, c = instruction_turns(instr, counter, first_conv=first)
        stats["instruction_records_without_answer"] = instr.height - c.height
        parts_t.append(t)
        parts_c.append(c)
    if not parts_c:
        raise ClonekitError("the sources hold no messages and no instruction records")
    turns = pl.concat(parts_t, how="diagonal")
    convs = pl.concat(parts_c)
    if convs.is_empty():
        raise _empty("reading", "instruction records need at least one assistant answer")

    dialogue = turns  # what duplicates are judged on: the turns without persona prompts
    step("persona")
    turns, convs = add_system_prompts(turns, convs, config, counter)

    step("clean")
    before = convs.height
    dropped: dict[str, int] = {}
    if cl.dedup or (cl.near_dup and convs.height > 1):
        # tokens once, shared by exact and near dup
        words = clean.conversation_words(dialogue, config.build.seed, chunks)
    if cl.dedup:
        dup = clean.exact_duplicates(words=words)
        convs = convs.filter(~pl.col("conv").is_in(dup.implode()))
        words = words.without(dup)
        dropped["exact_duplicates"] = dup.len()
    if cl.near_dup and convs.height > 1:
        near = clean.near_duplicates(None, cl.near_dup_threshold, cl.num_perm, cl.shingle_words, config.build.seed, words=words)
        convs = convs.filter(~pl.col("conv").is_in(near.implode()))
        dropped["near_duplicates"] = near.len()
    n = convs.height
    convs = clean.length_filter(convs, cl.min_tokens, cl.max_tokens)
    dropped["length"] = n - convs.height
    stats["clean"] = {"before": before, **dropped, "after": convs.height}
    if convs.is_empty():
        raise _empty("cleaning", "lower clean.min_tokens / raise clean.max_tokens, or turn off clean.near_dup")

    step("balance")
    chat = convs.filter(pl.col("kind") == "chat")
    kept = bal.balance(
        chat, max_share=config.balance.max_share, share_by=config.balance.share_by,
        max_conversations=config.balance.max_conversations, min_conversations=config.balance.min_conversations,
        strategy=config.balance.strategy, seed=config.build.seed, on_event=on_event,
    )
    report = bal.balance_report(chat, kept) if chat.height else bal.balance_report(chat, chat)
    convs = pl.concat([kept, convs.filter(pl.col("kind") != "chat")]).sort("conv")
    if convs.is_empty():
        raise _empty("balancing", "lower balance.min_conversations or raise balance.max_share / max_conversations")

    step("split")
    convs = split(convs, sp.val_fraction, sp.by, config.build.seed)
    lines = render_lines(turns, convs)
    stats["tokens"] = {"train": _token_stats(convs.filter(pl.col("split") == "train")),
                       "val": _token_stats(convs.filter(pl.col("split") == "val"))}
    stats["oversized_conversations"] = int(convs["oversized"].sum())
    stats["synthetic_share"] = 0.0
    return Curated(lines=lines, convs=convs, report=report, stats=stats)


def manifest_for(curated: Curated, config: BuildConfig, inputs: Inputs, counter: TokenCounter) -> dict[str, Any]:
    per_contact = curated.report.with_columns(pl.col("share_before").round(4), pl.col("share_after").round(4)).to_dicts()
    st = curated.stats
    return {
        "config": config_to_dict(config),
        "tokenizer": counter.name,
        "inputs": inputs.files,
        "counts": {
            "messages": st.get("messages", 0),
            "messages_used": st.get("messages_used", 0),
            "instruction_records": st.get("instruction_records", 0),
            "conversations": curated.convs.height,
            "train": int((curated.convs["split"] == "train").sum()),
            "val": int((curated.convs["split"] == "val").sum()),
            "per_contact": per_contact,
            "synthetic_share": 0.0,
        },
        "steps": {k: v for k, v in st.items()
                  if k not in ("tokens", "pii", "pii_regions", "messages", "instruction_records", "messages_used")},
        "tokens": st.get("tokens", {}),
        "pii": st.get("pii", {}) if config.clean.pii else None,
        "pii_regions": pii.region_use(st.get("pii_regions", Counter())) if config.clean.pii else None,
    }


def build(config: BuildConfig, on_event: OnEvent = ignore_event, cancel: CancelToken = NEVER_CANCELLED,
          force: bool = False, skip_unreadable: bool = False, year_end: int | None = None) -> Path:
    """Read the sources, curate, write a new version; returns its folder. Raises
    store.NothingChanged (writing nothing) when the records equal the latest version's,
    unless ``force``. ``skip_unreadable``: source files that cannot be read are skipped
    (each reported as a warning event) instead of stopping the build. ``year_end``: the year
    of the last message of WhatsApp exports whose dates have no year."""
    step = _Steps(on_event, cancel)
    step("read")
    counter = load_counter(config.tokenizer.spec)
    inputs = read_sources(config.build.sources, on_event, cancel, strict=not skip_unreadable, year_end=year_end)
    config = pii.pin_locale(config)  # the manifest's config then reads numbers the same on any machine
    curated = curate(inputs, config, counter, on_event, cancel)
    if note := pii.locale_note(config, pii.region_use(curated.stats.get("pii_regions", Counter()))):
        on_event(Log(note))
    step("write")
    manifest = manifest_for(curated, config, inputs, counter)
    path = write_version(
        config.build.name,
        lambda path: write_jsonl(curated.lines, "train", path),
        lambda path: write_jsonl(curated.lines, "val", path),
        manifest,
        root=datasets_root(config.build.root),
        force=force,
    )
    on_event(Log(f"wrote {path}"))
    return path
