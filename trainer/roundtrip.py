"""The pre-training round-trip check: the prompt a chat will send at inference must be
token-for-token the start of what training renders, and every persona turn must carry
its end-of-turn token in the labels. Catches the "model never stops" bug and templates
whose generation prompt differs from their training render before any GPU time is spent."""

from __future__ import annotations

from dataclasses import dataclass

from builder.errors import ClonekitError
from trainer.data import IGNORE, encode_record
from trainer.templates import TemplateInfo, to_model_messages


@dataclass
class RoundTrip:
    prompt_tokens: int
    total_tokens: int
    assistant_turns: int
    trained_tokens: int
    trained_text: str  # what the loss sees, for the log


def _first_diff(a: list[int], b: list[int]) -> int:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def check_round_trip(tokenizer, record: dict, info: TemplateInfo, train_on: str = "assistant", where: str = "train.jsonl:1") -> RoundTrip:
    from trainer.template_fit import persona_turns

    messages = to_model_messages(record["messages"])
    if not any(m["role"] == "assistant" for m in messages):
        raise ClonekitError(f"{where}: the record has no assistant (persona) turn to train on")
    try:
        _msgs, full, turns = persona_turns(tokenizer, messages, info.end_of_turn)
    except ClonekitError as err:
        raise ClonekitError(f"round-trip check failed on {where}: {err}") from None
    if not turns:
        raise ClonekitError(f"{where}: the record has no assistant (persona) turn to train on")
    last = turns[-1]
    prompt_ids = tokenizer(last.prompt, add_special_tokens=False)["input_ids"]
    full_ids = tokenizer(full if last.in_full else last.text, add_special_tokens=False)["input_ids"]
    if full_ids[: len(prompt_ids)] != prompt_ids:
        i = _first_diff(prompt_ids, full_ids)
        got = tokenizer.decode(prompt_ids[i : i + 6])
        want = tokenizer.decode(full_ids[i : i + 6])
        raise ClonekitError(
            f"round-trip check failed on {where}: the inference prompt differs from the training render at token {i} "
            f"(prompt has {got!r}, training has {want!r}); fix the chat template or use --chat-template chatml"
        )
    seqs = encode_record(tokenizer, record, info.end_of_turn, max_length=1 << 30, train_on=train_on)
    stops = set(info.stop_token_ids)
    trained_stops = sum(1 for e in seqs for t, l in zip(e.input_ids, e.labels) if l != IGNORE and t in stops)
    if trained_stops < len(turns):
        raise ClonekitError(
            f"round-trip check failed on {where}: {len(turns) - trained_stops} of {len(turns)} assistant turns have no "
            f"end-of-turn/EOS token ({info.end_of_turn!r}) in their labels, so the model would never stop; "
            "use --chat-template chatml"
        )
    trained = [t for e in seqs for t, l in zip(e.input_ids, e.labels) if l != IGNORE]
    return RoundTrip(len(prompt_ids), sum(len(e.input_ids) for e in seqs), len(turns), len(trained), tokenizer.decode(trained))
