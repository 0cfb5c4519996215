"""The blind "who wrote this?" test: items, answers and a rater's session.

- ``prepare_items`` cuts held-out conversations (the run's val split, real ones only) before
  one of the persona's turns and has the clone write that turn, with the given sampling
  settings and the exact training prompt. Items go to ``<run>/blind/items.json``, rewritten
  atomically after each generated item, so an interrupted preparation resumes where it
  stopped and a session never waits for the model.
- ``AnswerLog`` is ``<run>/blind/answers.jsonl``: one JSON line per answer, appended with a
  single ``write`` under an exclusive lock, then ``fsync``. A line cut off by a kill
  (no newline at the end) is ignored on read and cut away before the next append.
- ``BlindSession`` is one rater's queue: every item this rater has not answered (skips
  count as answered), in an order of their own (earlier turns of one conversation first);
  which side the real reply is on is drawn per (rater, item), so a restarted session shows
  the same pairing."""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from builder.atomic import atomic_write_text
from builder.errors import ClonekitError
from builder.events import NEVER_CANCELLED, CancelToken, Log, OnEvent, Progress, ignore_event
from trainer.generate import SamplingSettings

try:
    import fcntl
except ImportError:  # Windows: one session at a time per run folder
    fcntl = None  # type: ignore[assignment]

ITEMS_FILE = "items.json"
ANSWERS_FILE = "answers.jsonl"
KEYS = {"1": 1, "2": 2}


def blind_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "blind"


@dataclass
class BlindConfig:
    n_items: int = 40
    per_conversation: int = 2  # cut points taken from one held-out conversation, at most
    seed: int = 0
    sampling: SamplingSettings = field(default_factory=lambda: SamplingSettings(max_new_tokens=128))
    device: str | None = None

    def __post_init__(self) -> None:
        if self.n_items < 1:
            raise ClonekitError(f"--items: must be at least 1 (got {self.n_items})")
        if self.per_conversation < 1:
            raise ClonekitError(f"--per-conversation: must be at least 1 (got {self.per_conversation})")


@dataclass(frozen=True)
class Cut:
    """A held-out conversation cut before the persona's turn ``index``."""
    item: str
    record: int
    index: int
    contact: str
    role_tag: str


def _record_key(record: dict) -> str:
    return hashlib.sha256(json.dumps(record["messages"], sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def plan_cuts(records: list[dict], config: BlindConfig) -> list[Cut]:
    """Which (conversation, persona turn) pairs become items: real conversations only, up to
    ``per_conversation`` turns each that follow a contact's message, then taken round-robin
    over contacts (seeded) so one contact does not fill the test."""
    rng = random.Random(config.seed)
    by_contact: dict[str, list[Cut]] = {}
    for r, rec in enumerate(records):
        meta = rec.get("meta") or {}
        if meta.get("synthetic"):
            continue  # its "real" reply was written by an LLM
        msgs = rec["messages"]
        turns = [i for i, m in enumerate(msgs) if m["role"] == "assistant" and i > 0
                 and msgs[i - 1]["role"] == "user" and m["content"].strip()]
        key = _record_key(rec)
        contact = str(meta.get("contact") or "")
        for i in sorted(rng.sample(turns, min(len(turns), config.per_conversation))):
            item = hashlib.sha256(f"{r}:{key}:{i}".encode()).hexdigest()[:16]  # val.jsonl never changes
            by_contact.setdefault(contact, []).append(Cut(item, r, i, contact, str(meta.get("role_tag") or "")))
    queues = [rng.sample(cuts, len(cuts)) for _, cuts in sorted(by_contact.items())]
    out: list[Cut] = []
    while len(out) < config.n_items and any(queues):
        for q in queues:
            if q and len(out) < config.n_items:
                out.append(q.pop())
    return out


def read_items(folder: Path) -> dict | None:
    path = folder / ITEMS_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ClonekitError(f"{path}: not valid JSON ({err.msg}); delete it to prepare the items again") from None


def _settings_dict(s: SamplingSettings) -> dict:
    d = asdict(s)
    d.pop("static_cache", None)  # how fast, not what: same replies either way
    return d


def prepare_items(run_ref, config: BlindConfig | None = None, on_event: OnEvent = ignore_event,
                  cancel: CancelToken = NEVER_CANCELLED) -> Path:
    """Generate the clone's candidate for every planned cut not yet in items.json."""
    from trainer.evaluate import read_val
    from trainer.inference import open_run

    config = config or BlindConfig()
    run = open_run(run_ref)
    folder = blind_dir(run.path)
    path = folder / ITEMS_FILE
    records = read_val(run)
    cuts = plan_cuts(records, config)
    if not cuts:
        raise ClonekitError(f"{run.info.get('dataset')}/val.jsonl: no real conversation with a reply of yours "
                            "after a contact's message; rebuild the dataset with a larger val split")
    settings = _settings_dict(config.sampling)
    existing = read_items(folder)
    if existing is not None and (existing.get("sampling") != settings or existing.get("seed") != config.seed):
        raise ClonekitError(
            f"{path}: its items were generated with other settings (sampling {existing.get('sampling')}, seed "
            f"{existing.get('seed')}); use the same settings, or move the blind/ folder away to start a new test")
    done = {it["item"]: it for it in (existing or {}).get("items", [])}
    todo = [c for c in cuts if c.item not in done]
    persona = str(run.persona.get("name") or "me")
    doc = {"run_id": run.run_id, "dataset_version": run.info.get("dataset_version"), "persona": persona,
           "sampling": settings, "seed": config.seed, "complete": False,
           "items": list(done.values())}
    if not todo:
        if existing is not None and existing.get("complete"):
            return path
        atomic_write_text(path, json.dumps(dict(doc, complete=True), ensure_ascii=False, indent=1) + "\n")
        return path
    on_event(Log(f"generating {len(todo)} clone replies ({len(done)} already in {path})"))
    model, tokenizer, eot_ids, max_len = _load(run, config.device)
    for n, cut in enumerate(todo):
        cancel.check()
        on_event(Progress("clone replies", n, len(todo)))
        rec = records[cut.record]
        msgs = rec["messages"][: cut.index]
        clone = clone_reply(model, tokenizer, msgs, cut.contact, config.sampling, eot_ids, max_len,
                            seed=config.seed + int(cut.item[:8], 16), cancel=cancel)
        cancel.check()  # a reply cut short by the cancel is not an item
        doc["items"].append({
            "item": cut.item, "contact": cut.contact, "role_tag": cut.role_tag,
            "context": [{"role": m["role"], "name": m.get("name") or (cut.contact if m["role"] == "user" else persona),
                         "content": m["content"]} for m in msgs if m["role"] != "system"],
            "real": rec["messages"][cut.index]["content"].strip(), "clone": clone,  # both stripped: no tell
            "source": {"record": cut.record, "turn": cut.index, "start": (rec.get("meta") or {}).get("start")},
        })
        atomic_write_text(path, json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
    on_event(Progress("clone replies", len(todo), len(todo)))
    atomic_write_text(path, json.dumps(dict(doc, complete=True), ensure_ascii=False, indent=1) + "\n")
    return path


def _load(run, device: str | None):
    from trainer.inference import load_model, stop_ids

    model, tokenizer = load_model(run, device=device)
    cfg = run.info.get("config") or {}
    max_len = int(cfg.get("max_length") or cfg.get("max_seq_len") or 2048)
    return model, tokenizer, stop_ids(run, tokenizer), max_len


def clone_reply(model, tokenizer, msgs: list[dict], contact: str, sampling: SamplingSettings,
                eot_ids: list[int], history_tokens: int, seed: int, cancel: CancelToken = NEVER_CANCELLED) -> str:
    """The clone's next turn after ``msgs`` (a dataset record's messages, system first),
    prompted exactly as in training and `clonekit eval`."""
    from trainer.generate import generate_reply
    from trainer.prompting import build_prompt

    system, turns = (msgs[0]["content"], msgs[1:]) if msgs and msgs[0]["role"] == "system" else ("", msgs)
    prompt = build_prompt(tokenizer, system, turns, contact, history_tokens=history_tokens)
    return generate_reply(model, tokenizer, prompt.input_ids, sampling, eot_ids, cancel=cancel, seed=seed).text.strip()


# ---------------------------------------------------------------------------- answers
class AnswerLog:
    """Append-only JSONL of answers, durable per answer."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / ANSWERS_FILE

    def read(self) -> list[dict]:
        if not self.path.is_file():
            return []
        data = self.path.read_bytes()
        # the last piece is b"" or a line cut off by a kill inside its write: never acknowledged
        complete = data.split(b"\n")[:-1]
        out = []
        for n, line in enumerate(complete, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                raise ClonekitError(f"{self.path}:{n}: not a JSON answer; the file was edited by hand? "
                                    "fix or delete that line") from None
        return out

    def append(self, record: dict) -> None:
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                # a line torn by a kill: cut it away, or this answer would be glued to it
                whole = os.pread(fd, size, 0)
                os.ftruncate(fd, whole.rfind(b"\n") + 1)
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the lock
        if created:
            _fsync_dir(self.path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # platforms without directory handles
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_answers(folder: Path) -> list[dict]:
    """Every answer, the first one per (rater, item) only (two sessions of one rater at
    once could both answer an item)."""
    seen: set[tuple[str, str]] = set()
    out = []
    for a in AnswerLog(folder).read():
        key = (rater_key(a["rater"]), a["item"])
        if key not in seen:
            seen.add(key)
            out.append(a)
    return out


def rater_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def stable_draw(*parts: object) -> int:
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def rater_order(items: list[dict], key: str) -> list[dict]:
    """A rater's own shuffled order, except that two items cut from one conversation come
    earlier turn first: the later item's context holds the earlier item's real reply, and
    seeing it first would give that item away."""
    order = sorted(items, key=lambda it: stable_draw("order", key, it["item"]))
    slots: dict[object, list[int]] = {}
    for pos, it in enumerate(order):
        src = it.get("source") or {}
        slots.setdefault(src.get("record", it["item"]), []).append(pos)
    out = list(order)
    for positions in slots.values():
        group = sorted((order[p] for p in positions), key=lambda it: (it.get("source") or {}).get("turn", 0))
        for pos, it in zip(positions, group):
            out[pos] = it
    return out


# ---------------------------------------------------------------------------- a session
@dataclass(frozen=True)
class Shown:
    """One item as a rater sees it: candidates[0] is option 1."""
    item: dict
    candidates: tuple[str, str]
    real_side: int  # 1 or 2


class BlindSession:
    def __init__(self, run_dir: str | Path, rater: str) -> None:
        rater = " ".join((rater or "").split())
        if not rater:
            raise ClonekitError("--rater: give the name of the person answering (e.g. --rater Jess)")
        self.rater = rater
        self.folder = blind_dir(run_dir)
        items = read_items(self.folder)
        if items is None or not items.get("complete"):
            raise ClonekitError(f"{self.folder / ITEMS_FILE}: the blind-test items are not ready; "
                                "prepare them first (`clonekit blind RUN --prepare`)")
        self.persona = items.get("persona") or "me"
        self.items = items["items"]
        self.log = AnswerLog(self.folder)
        key = rater_key(rater)
        answered = {a["item"] for a in read_answers(self.folder) if rater_key(a["rater"]) == key}
        order = rater_order(self.items, key)
        self.queue = [it for it in order if it["item"] not in answered]
        self.answered_before = len(self.items) - len(self.queue)
        self.answered_now: list[dict] = []

    @property
    def total(self) -> int:
        return len(self.items)

    def next(self) -> Shown | None:
        if not self.queue:
            return None
        it = self.queue[0]
        real_side = 1 + stable_draw("side", rater_key(self.rater), it["item"]) % 2
        pair = (it["real"], it["clone"]) if real_side == 1 else (it["clone"], it["real"])
        return Shown(it, pair, real_side)

    def answer(self, key: str) -> dict:
        """Record '1', '2' or 's' (skip) for the current item; durable before it returns."""
        shown = self.next()
        if shown is None:
            raise ClonekitError("no items left for this rater")
        if key not in ("1", "2", "s"):
            raise ValueError(f"answer must be 1, 2 or s (got {key!r})")
        picked = KEYS.get(key)
        verdict = "skip" if picked is None else ("real" if picked == shown.real_side else "clone")
        it = shown.item
        record = {"rater": self.rater, "item": it["item"], "contact": it["contact"], "role_tag": it["role_tag"],
                  "real_side": shown.real_side, "picked": picked, "verdict": verdict,
                  "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        self.log.append(record)
        self.queue.pop(0)
        self.answered_now.append(record)
        return record
