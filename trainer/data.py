"""From dataset records to training rows.

encode_record: render one record with the chat template, adapted to what the template
accepts (trainer/template_fit.py), and label it (loss on the persona's turns, each
including its end-of-turn token; or on every token). encode_all does every record and
reports problems per kind instead of stopping at the first.
pack: group encoded conversations into rows of at most max_length tokens (first-fit
decreasing, deterministic). The collators turn a batch of rows into tensors:
PackedCollator concatenates every conversation of the batch into ONE row with
position_ids restarting at 0 per conversation and no attention_mask; transformers 5's
mask builder (masking_utils.find_packed_sequence_indices) then makes the attention
block-diagonal, for sdpa, eager and flash attention alike, so nothing attends across
conversations and no pad token is computed. PaddedCollator is the fallback (and the seed
recipe in bench/train.py): one conversation per sequence, padded."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.curate.store import read_records, resolve_version
from builder.errors import ClonekitError
from trainer.templates import to_model_messages

IGNORE = -100


@dataclass
class DatasetInput:
    path: Path
    name: str
    version: str
    manifest: dict
    manifest_sha256: str
    train: list[dict]
    val: list[dict]

    @property
    def version_id(self) -> str:
        return f"{self.name}/{self.version}"

    @property
    def persona(self) -> dict:
        return (self.manifest.get("config") or {}).get("persona") or {}


def load_dataset_version(ref: str | Path) -> DatasetInput:
    """A dataset version folder (datasets/NAME/vNNNN) or a store reference (NAME/vNNNN, NAME)."""
    path = Path(ref)
    if not (path / "manifest.json").is_file():
        if not path.is_dir():
            path = Path(resolve_version(str(ref)))
        if not (path / "manifest.json").is_file():
            raise ClonekitError(f"--data {ref}: no manifest.json there (expected a dataset version folder like datasets/NAME/v0001)")
    manifest_bytes = (path / "manifest.json").read_bytes()
    try:
        manifest = json.loads(manifest_bytes)
    except json.JSONDecodeError as err:
        raise ClonekitError(f"{path / 'manifest.json'}: not valid JSON ({err.msg})") from None
    if not (path / "train.jsonl").is_file():
        raise ClonekitError(f"{path / 'train.jsonl'}: missing")
    train = read_records(path / "train.jsonl")
    val = read_records(path / "val.jsonl") if (path / "val.jsonl").is_file() else []
    if not train:
        raise ClonekitError(f"{path / 'train.jsonl'}: no training records; rebuild the dataset (clonekit build) with looser filters")
    name = str(manifest.get("name") or path.parent.name)
    version = str(manifest.get("version") or path.name)
    if "/" in version:
        name, version = version.split("/", 1)
    return DatasetInput(path, name, version, manifest, hashlib.sha256(manifest_bytes).hexdigest(), train, val)


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    truncated: bool = False

    @property
    def n_trained(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


def _labelled(tokenizer, text: str, spans: list[tuple[int, int]], train_on: str) -> tuple[list[int], list[int]]:
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = enc["input_ids"]
    if train_on == "all":
        labels = list(ids)
    else:
        labels = [IGNORE] * len(ids)
        si = 0
        for t, (start, _end) in enumerate(enc["offset_mapping"]):
            while si < len(spans) and start >= spans[si][1]:
                si += 1
            if si < len(spans) and spans[si][0] <= start < spans[si][1]:
                labels[t] = ids[t]
    if labels:
        labels[0] = IGNORE  # nothing predicts the first token
    return ids, labels


def encode_record(tokenizer, record: dict, end_of_turn: str, max_length: int, train_on: str = "assistant") -> list[Encoded]:
    """One record -> its training sequences. Usually one: the full render with loss on every
    persona turn (each through its end-of-turn token). A persona turn that the full render
    does not hold exactly as chat would prompt for it (templates that rewrite earlier turns,
    reasoning templates) becomes a sequence of its own: chat's prompt, then the reply.
    Raises ClonekitError when the template cannot render the record."""
    from trainer.template_fit import fit_of, generation_spans, persona_turns

    messages = to_model_messages(record["messages"])
    msgs, full, turns = persona_turns(tokenizer, messages, end_of_turn)
    if train_on == "all":
        ids, labels = _labelled(tokenizer, full, [], "all")
        return [Encoded(ids[:max_length], labels[:max_length], len(ids) > max_length)]
    out = []
    spans = [(len(t.prompt), len(t.text)) for t in turns if t.in_full]
    marked = generation_spans(tokenizer, fit_of(tokenizer), msgs, full)
    if marked:
        spans = [_marked_span(marked, s, e, full, end_of_turn) for s, e in spans]
    if spans:
        ids, labels = _labelled(tokenizer, full, spans, train_on)
        out.append(Encoded(ids[:max_length], labels[:max_length], len(ids) > max_length))
    for t in turns:
        if t.in_full:
            continue
        ids, labels = _labelled(tokenizer, t.text, [(len(t.prompt), len(t.text))], train_on)
        # The reply is at the end: a too-long context loses its oldest tokens, not the reply.
        out.append(Encoded(ids[-max_length:], labels[-max_length:], len(ids) > max_length))
    return out


def _marked_span(marked: list[tuple[int, int]], start: int, end: int, full: str, end_of_turn: str) -> tuple[int, int]:
    """The template's own {% generation %} span inside this persona turn, through the turn's
    end-of-turn token (a mark that stops before it is extended: the model must learn to stop)."""
    inside = [(a, b) for a, b in marked if start <= a < end]
    if not inside:
        return start, end
    a, b = inside[0][0], max(b for _a, b in inside)
    eot = full.find(end_of_turn, b - len(end_of_turn))
    return a, (eot + len(end_of_turn) if 0 <= eot <= b + 2 else max(b, end))


@dataclass
class EncodeReport:
    """What encode_all saw: counts per problem, each with one example."""

    records: int = 0
    truncated: int = 0
    no_trained_tokens: int = 0
    tokens: int = 0
    trained_tokens: int = 0
    sequences: int = 0
    problems: dict[str, dict] = field(default_factory=dict)  # label -> {"count", "example"}

    def note(self, label: str, example: str) -> None:
        p = self.problems.setdefault(label, {"count": 0, "example": example})
        p["count"] += 1

    def __getitem__(self, key: str):  # the older dict-style access
        return getattr(self, key)

    def lines(self) -> list[str]:
        return [f"{p['count']} record(s): {label} (e.g. {p['example']})" for label, p in self.problems.items()]


def encode_all(tokenizer, records: list[dict], end_of_turn: str, max_length: int, train_on: str,
               where: str = "train.jsonl") -> tuple[list[Encoded], EncodeReport]:
    """Encode every record, never stopping at the first bad one: records the template cannot
    render are skipped and counted per problem (with one example); the caller refuses only
    when nothing is left."""
    from trainer.template_fit import adapt, fit_of

    fit = fit_of(tokenizer)
    out: list[Encoded] = []
    rep = EncodeReport(records=len(records))
    for i, rec in enumerate(records, 1):
        notes: list[str] = []
        adapt(fit, to_model_messages(rec.get("messages") or []), notes)
        for label in notes:
            rep.note(label, f"{where}:{i}")
        try:
            seqs = encode_record(tokenizer, rec, end_of_turn, max_length, train_on)
        except ClonekitError as err:
            rep.note(f"skipped: {str(err).split('; use --chat-template')[0]}", f"{where}:{i}")
            continue
        if len(seqs) > 1:
            rep.note("persona turns trained as separate renders (the template rewrites earlier turns)", f"{where}:{i}")
        cut = any(e.truncated for e in seqs)
        seqs = [e for e in seqs if e.n_trained]
        if not seqs:
            rep.no_trained_tokens += 1
            rep.note(f"skipped: every persona turn is beyond max length {max_length} tokens (raise --max-length)" if cut
                     else "skipped: no persona turn to train on", f"{where}:{i}")
            continue
        rep.truncated += any(e.truncated for e in seqs)
        for e in seqs:
            rep.tokens += len(e.input_ids)
            rep.trained_tokens += e.n_trained
        rep.sequences += len(seqs)
        out.extend(seqs)
    return out, rep


def pack(lengths: list[int], capacity: int) -> list[list[int]]:
    """First-fit decreasing: indices grouped into bins of total length <= capacity.
    Deterministic (ties broken by index); bins come out in the order they were opened."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    bins: list[list[int]] = []
    room: list[int] = []
    for i in order:
        n = lengths[i]
        for b, r in enumerate(room):
            if n <= r:
                bins[b].append(i)
                room[b] -= n
                break
        else:
            bins.append([i])
            room.append(capacity - n)
    return bins


class RowDataset:
    """Torch-style map dataset of rows; each row is a list of encoded conversations."""

    def __init__(self, rows: list[list[Encoded]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        row = self.rows[i]
        return {"input_ids": [e.input_ids for e in row], "labels": [e.labels for e in row]}


def make_rows(encoded: list[Encoded], max_length: int, packing: bool) -> RowDataset:
    if not packing:
        return RowDataset([[e] for e in encoded])
    bins = pack([len(e.input_ids) for e in encoded], max_length)
    return RowDataset([[encoded[i] for i in b] for b in bins])


class PackedCollator:
    """Padding-free: the whole batch becomes one row [1, T]; position_ids restart per
    conversation; the first label of every conversation is ignored so no token is
    predicted across a boundary."""

    def __call__(self, features: list[dict]) -> dict:
        import torch

        ids: list[int] = []
        labels: list[int] = []
        pos: list[int] = []
        for f in features:
            for seq_ids, seq_labels in zip(f["input_ids"], f["labels"]):
                ids += seq_ids
                labels += [IGNORE] + list(seq_labels[1:])
                pos += range(len(seq_ids))
        return {
            "input_ids": torch.tensor([ids], dtype=torch.long),
            "labels": torch.tensor([labels], dtype=torch.long),
            "position_ids": torch.tensor([pos], dtype=torch.long),
        }


class PaddedCollator:
    """One conversation per sequence, right-padded to the longest (or to ``pad_to``)."""

    def __init__(self, pad_token_id: int, pad_to: int | None = None) -> None:
        self.pad_token_id = pad_token_id
        self.pad_to = pad_to

    def __call__(self, features: list[dict]) -> dict:
        import torch

        seqs = [(i, l) for f in features for i, l in zip(f["input_ids"], f["labels"])]
        width = self.pad_to or max(len(i) for i, _ in seqs)
        input_ids = torch.full((len(seqs), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(seqs), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for r, (i, l) in enumerate(seqs):
            input_ids[r, : len(i)] = torch.tensor(i)
            labels[r, : len(l)] = torch.tensor(l)
            mask[r, : len(i)] = 1
        return {"input_ids": input_ids, "labels": labels, "attention_mask": mask}
