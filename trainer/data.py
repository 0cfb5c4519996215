"""From dataset records to training rows.

encode_record: render one record with the chat template and label it (loss on the
persona's turns, each including its end-of-turn token; or on every token).
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.curate.store import read_records, resolve_version
from builder.errors import ClonekitError
from trainer.templates import render, to_model_messages

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


def assistant_char_spans(tokenizer, messages: list[dict], end_of_turn: str) -> tuple[str, list[tuple[int, int]]]:
    """Render ``messages``; return the text and, per assistant turn, the character span
    from the end of the inference prompt (add_generation_prompt=True on the turns before
    it) through the turn's end-of-turn token. Raises if the template is not prefix-stable
    or a turn has no end-of-turn marker."""
    full = render(tokenizer, messages)
    spans = []
    for k, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        prompt = render(tokenizer, messages[:k], add_generation_prompt=True)
        upto = render(tokenizer, messages[: k + 1])
        if not full.startswith(prompt) or not full.startswith(upto):
            raise ClonekitError(
                f"chat template is not prefix-stable at turn {k + 1}: the inference prompt differs from the training "
                "render (the template rewrites earlier turns); use --chat-template chatml"
            )
        end = upto.find(end_of_turn, len(prompt))
        if end < 0:
            raise ClonekitError(
                f"assistant turn {k + 1} renders without the end-of-turn token {end_of_turn!r}: the model would never "
                "learn to stop; use --chat-template chatml"
            )
        spans.append((len(prompt), end + len(end_of_turn)))
    return full, spans


def encode_record(tokenizer, record: dict, end_of_turn: str, max_length: int, train_on: str = "assistant") -> Encoded:
    messages = to_model_messages(record["messages"])
    text, spans = assistant_char_spans(tokenizer, messages, end_of_turn)
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
    labels[0] = IGNORE  # nothing predicts the first token
    truncated = len(ids) > max_length
    return Encoded(ids[:max_length], labels[:max_length], truncated)


def encode_all(tokenizer, records: list[dict], end_of_turn: str, max_length: int, train_on: str) -> tuple[list[Encoded], dict]:
    out, stats = [], {"records": len(records), "truncated": 0, "no_trained_tokens": 0, "tokens": 0, "trained_tokens": 0}
    for rec in records:
        e = encode_record(tokenizer, rec, end_of_turn, max_length, train_on)
        stats["truncated"] += e.truncated
        if e.n_trained == 0:
            stats["no_trained_tokens"] += 1
            continue
        stats["tokens"] += len(e.input_ids)
        stats["trained_tokens"] += e.n_trained
        out.append(e)
    return out, stats


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
