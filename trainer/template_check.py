"""Every record checked against the chat template before any weights load.

``encode_dataset`` is what training runs: it encodes all records (never stopping at the
first bad one), logs counts per problem with one example each, runs the round-trip check
on the first record that encodes, and refuses only when no record can be trained on.

``check_template`` is `clonekit train --base X --check` and the TUI Train page's Check
template: the template probe's verdict and a few rendered records with the loss-carrying
text marked, from the tokenizer alone, as a CheckReport each of them renders."""

from __future__ import annotations

from dataclasses import dataclass, field
from builder.errors import ClonekitError
from builder.events import Log, OnEvent, ignore_event


def verdict_lines(info) -> list[str]:
    """What clonekit does with this base's template, one line each."""
    from trainer.template_fit import TemplateFit

    head = {"base": "the base model's own chat template", "chatml": "chatml", "llama3": "llama3"}[info.name]
    lines = [f"chat template: {head}; persona turns end with {info.end_of_turn!r}"]
    if info.fallback_reason:
        lines.append(f"fell back to {info.name}: {info.fallback_reason}")
    if info.added_tokens:
        lines.append(f"added tokens {', '.join(info.added_tokens)}: the embedding and head are resized and "
                     "their new rows trained (chat, merge, serve, eval and compare resize the base the same way)")
    lines += ["template: " + line for line in TemplateFit.from_dict(info.fit).describe()]
    return lines


def encode_dataset(tokenizer, ds, info, max_length: int, train_on: str, on_event: OnEvent = ignore_event):
    """(train sequences, val sequences, train report). Raises ClonekitError naming the record
    and the fix when nothing in train.jsonl can be trained on."""
    from trainer.data import encode_all
    from trainer.roundtrip import check_round_trip

    train_path, val_path = ds.path / "train.jsonl", ds.path / "val.jsonl"
    train_enc, stats = encode_all(tokenizer, ds.train, info.end_of_turn, max_length, train_on, where=str(train_path))
    val_enc, val_stats = encode_all(tokenizer, ds.val, info.end_of_turn, max_length, train_on, where=str(val_path))
    for line in stats.lines() + val_stats.lines():
        on_event(Log(line, level="warning" if line.split(": ", 1)[1].startswith("skipped") else "info"))
    if not train_enc:
        label, first = next(((k, v) for k, v in stats.problems.items() if k.startswith("skipped")),
                            ("no record has a persona turn to train on", {"example": str(train_path)}))
        fix = "" if "max length" in label else "; try --chat-template chatml, or rebuild the dataset"
        raise ClonekitError(f"{first['example']}: {label.removeprefix('skipped: ')} (and so every record of "
                            f"{train_path.name}){fix}")
    first_ok = next(i for i, rec in enumerate(ds.train) if any(m.get("role") == "assistant" for m in rec.get("messages") or [])
                    and not _skipped(stats, f"{train_path}:{i + 1}"))
    rt = check_round_trip(tokenizer, ds.train[first_ok], info, train_on, where=f"{train_path}:{first_ok + 1}")
    on_event(Log(f"round-trip check ok: prompt {rt.prompt_tokens} tokens is the start of the training render; "
                 f"{rt.assistant_turns} persona turns end with {info.end_of_turn!r} in the labels"))
    return train_enc, val_enc, stats


def _skipped(stats, where: str) -> bool:
    return any(label.startswith("skipped") and p["example"] == where for label, p in stats.problems.items())


# ------------------------------------------------------------------ --check
@dataclass
class RenderedRecord:
    where: str
    segments: list[tuple[str, bool]]  # (text, carries loss)


@dataclass
class CheckReport:
    base: str
    verdict: list[str]
    problems: list[str]
    records: list[RenderedRecord] = field(default_factory=list)
    trainable_records: int = 0
    total_records: int = 0


def _segments(tokenizer, seq) -> list[tuple[str, bool]]:
    from trainer.data import IGNORE

    out: list[tuple[str, bool]] = []
    for flag, run in _runs([(t, l != IGNORE) for t, l in zip(seq.input_ids, seq.labels)]):
        out.append((tokenizer.decode(run), flag))
    return out


def _runs(pairs):
    cur, flag = [], None
    for tid, f in pairs:
        if flag is not None and f != flag:
            yield flag, cur
            cur = []
        cur.append(tid)
        flag = f
    if cur:
        yield flag, cur


def load_check_tokenizer(base: str, ds, tiny_vocab: int):
    """The tokenizer alone: `tiny` is trained from the dataset's text as training would."""
    if base == "tiny":
        from trainer.tiny import train_tokenizer

        return train_tokenizer((m["content"] for rec in ds.train + ds.val for m in rec["messages"]), tiny_vocab)
    from trainer.train import _load_tokenizer

    return _load_tokenizer(base, base)


def check_base(data: str, base: str, chat_template: str = "auto", max_length: int = 2048, train_on: str = "assistant",
               show: int = 3, tiny_vocab: int = 4096) -> CheckReport:
    """The probe's verdict for ``base`` on dataset ``data`` and ``show`` rendered records."""
    from trainer.data import encode_record, load_dataset_version
    from trainer.templates import prepare_tokenizer

    ds = load_dataset_version(data)
    tokenizer = load_check_tokenizer(base, ds, tiny_vocab)
    info = prepare_tokenizer(tokenizer, chat_template)
    logs: list[Log] = []
    report = CheckReport(base, verdict_lines(info), [])
    try:
        train_enc, _val, stats = encode_dataset(tokenizer, ds, info, max_length, train_on, logs.append)
    except ClonekitError as err:
        report.problems = [str(err)]
        return report
    report.problems = [e.message for e in logs]
    report.total_records = len(ds.train)
    report.trainable_records = len(ds.train) - sum(p["count"] for label, p in stats.problems.items() if label.startswith("skipped"))
    path = ds.path / "train.jsonl"
    # The most telling records first: most persona turns, then the first records.
    order = sorted(range(len(ds.train)), key=lambda i: -sum(m.get("role") == "assistant" for m in ds.train[i]["messages"]))
    for i in order:
        if len(report.records) >= show:
            break
        try:
            seqs = encode_record(tokenizer, ds.train[i], info.end_of_turn, max_length, train_on)
        except ClonekitError:
            continue
        more = f" (and {len(seqs) - 1} more sequence(s): earlier persona turns, each rendered as chat prompts for it)" \
            if len(seqs) > 1 else ""
        report.records.append(RenderedRecord(f"{path}:{i + 1}{more}", _segments(tokenizer, seqs[0])))
    return report


def check_template(data: str, base: str, preset: str = "qlora", overrides: dict | None = None) -> CheckReport:
    """`clonekit train --check` and the TUI's Check template: ``check_base`` with the chat
    template, max length and train_on of ``preset`` + ``overrides``. A base that is neither
    'tiny' nor an existing folder is checked first (missing folder, no network), in one line."""
    from pathlib import Path

    from trainer.preflight import check_base as check_base_source
    from trainer.presets import resolve_config

    cfg = resolve_config(preset, overrides or {})
    if base != "tiny" and not Path(base).expanduser().is_dir():
        check_base_source(base)
    return check_base(data, base, cfg.chat_template, cfg.max_length, cfg.train_on, tiny_vocab=cfg.tiny.vocab_size)


def format_check(report: CheckReport, color: bool = False) -> str:
    """The --check report as text; loss-carrying text in reverse video (color) or «…»."""
    mark = (lambda t: f"\x1b[7m{t}\x1b[0m") if color else (lambda t: f"«{t}»")
    lines = [f"base {report.base}:"] + [f"  {line}" for line in report.verdict]
    if report.total_records:
        lines.append(f"  {report.trainable_records} of {report.total_records} training records can be trained on")
    lines += [f"  {line}" for line in report.problems]
    for rec in report.records:
        lines += ["", f"{rec.where} (loss on {'the reverse-video' if color else 'the «marked»'} text):"]
        lines.append("".join(mark(text) if trained else text for text, trained in rec.segments))
    return "\n".join(lines)
