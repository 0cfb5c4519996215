"""Benchmark: 1,000,000 WhatsApp messages -> a written dataset version.

Generates 1M messages of Android exports ("Sam" is me), trains a small byte-level BPE
tokenizer locally, then times end to end (read/parse, sessions, tokens, persona, dedup,
balance, split, write). Every timed run is a fresh Python process that does its imports
first and then starts the clock; the two sides alternate, --repeats times (3), and the
medians are compared:

  (a) clonekit:   builder.curate.build.build(config)  (Polars)
  (b) reference:  a straightforward pandas + Python-loop version of the same steps, the way
                  the seed project does it: whatstk parses each export, a loop over rows
                  merges bursts and groups sessions with one tokenizer.encode call per
                  message, per-conversation MinHash (datasketch-style, numpy per
                  conversation), pandas sampling for the balance, json.dumps per record.
                  (pip install whatstk: only for this benchmark)

Both must produce about the same number of conversations (asserted, within 10%). Prints
every run's wall time, the median wall and CPU time of each side (CPU includes Polars'
threads), the speed-up of the medians in both, and the load average (the machine is
shared: compare ratios from the same invocation only).

Shapes (--shape): ``long`` (default) is bench/ingest.py's generator, five 7-person chats of
one endless session each (~2.4k long conversations); ``short`` is bench/_gen_chat.py's
real-chat shape, 40 chats of many short sessions (~31k conversations, chain messages).

    python bench/build.py                                   # 1,000,000 messages, long
    python bench/build.py --shape short                     # real-chat shape
    python bench/build.py --messages 200000 --skip-reference
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import re
import sys
import tempfile
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from ingest import generate  # noqa: E402  (bench/ingest.py's deterministic generator)

CHATS = ["Family", "Climbing", "Work", "Uni friends", "Neighbours"]
ME = "Sam"
MERGE_MIN, GAP_MIN, BUDGET, MIN_TOKENS, MAX_SHARE, VAL, SEED = 5, 60, 3000, 20, 0.4, 0.1, 0
NUM_PERM, SHINGLE, THRESH = 32, 3, 0.8


PEOPLE = ["Alex Morgan", "Jo", "Priya Shah", "Mum", "Chris O'Neil", "Dev", "Kim", "Lena", "Omar", "Tess",
          "Ravi", "Nina", "Ben", "Ola", "Yusuf", "Hana", "Max", "Ivy", "Leo", "Zoe", "Finn", "Ada", "Sol", "Eve",
          "Rae", "Gus", "Mia", "Tom", "Uma", "Kai"]


def make_inputs(folder: Path, n: int, shape: str = "long") -> list[Path]:
    """``long``: five 7-person chats from bench/ingest.py's generator (one endless session
    each). ``short``: bench/_gen_chat.py's real-chat shape, 30 1:1 chats and 10 groups."""
    paths = []
    if shape == "long":
        for i, chat in enumerate(CHATS):
            p = folder / f"WhatsApp Chat with {chat}.txt"
            generate(p, n // len(CHATS), seed=100 + i)
            paths.append(p)
        return paths
    from _gen_chat import generate_chat

    chats = [(name, [name]) for name in PEOPLE] + [(f"Group {g}", PEOPLE[g * 3:g * 3 + 5]) for g in range(10)]
    for i, (chat, others) in enumerate(chats):
        p = folder / f"WhatsApp Chat with {chat}.txt"
        generate_chat(p, n // len(chats), ME, others, seed=200 + i)
        paths.append(p)
    return paths


def train_tokenizer(paths: list[Path], out: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    sample = paths[0].read_text(encoding="utf-8").splitlines()[:20000]
    tok.train_from_iterator(sample, trainers.BpeTrainer(vocab_size=2000, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.save(str(out))
    return out


# ----------------------------------------------------------------- reference (pandas + loops)
def ref_parse(path: Path):
    """whatstk, as the seed project parses exports (header format auto-detected)."""
    from whatstk import WhatsAppChat

    df = WhatsAppChat.from_source(filepath=str(path)).df
    return df.assign(chat=path.stem.replace("WhatsApp Chat with ", "")).rename(
        columns={"date": "timestamp", "username": "sender", "message": "text"})


def ref_build(paths: list[Path], tok_path: Path, out: Path) -> int:
    import numpy as np
    import pandas as pd
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tok_path))
    df = pd.concat([ref_parse(p) for p in paths], ignore_index=True)
    df = df[df["sender"].notna() & (df["text"] != "<Media omitted>") & (df["text"] != "This message was deleted")]
    # merge bursts and split sessions: a loop over rows, one tokenizer call per message
    sessions: list[list[dict]] = []
    prev = None
    for row in df.itertuples(index=False):
        n = len(tok.encode(row.text, add_special_tokens=False).ids)
        gap = (row.timestamp - prev.timestamp).total_seconds() / 60 if prev is not None and prev.chat == row.chat else None
        if gap is None or gap >= GAP_MIN:
            sessions.append([{"sender": row.sender, "text": row.text, "start": row.timestamp, "end": row.timestamp,
                              "chat": row.chat, "n": n}])
        elif row.sender == prev.sender and gap <= MERGE_MIN:
            t = sessions[-1][-1]
            t["text"] += "\n" + row.text
            t["end"] = row.timestamp
            t["n"] += n + 1  # the joining newline is one token
        else:
            sessions[-1].append({"sender": row.sender, "text": row.text, "start": row.timestamp, "end": row.timestamp,
                                 "chat": row.chat, "n": n})
        prev = row
    convs = []
    for s in sessions:
        if sum(t["n"] for t in s) < MIN_TOKENS or not any(t["sender"] == ME for t in s):
            continue
        chunk, size = [], 0
        chunks = []
        for t in s:
            if chunk and size + t["n"] > BUDGET:
                chunks.append(chunk)
                chunk, size = [], 0
            chunk.append(t)
            size += t["n"]
        chunks.append(chunk)
        for c in chunks:
            last = max((i for i, t in enumerate(c) if t["sender"] == ME), default=None)
            if last is not None:
                convs.append(c[: last + 1])
    records = []
    for c in convs:
        contact = c[0]["chat"]
        system = f"You are {ME}, chatting with {contact} (group). Reply as {ME} would."
        msgs = [{"role": "system", "content": system}] + [
            {"role": "assistant", "content": t["text"]} if t["sender"] == ME else {"role": "user", "content": t["text"], "name": t["sender"]}
            for t in c
        ]
        records.append({"messages": msgs, "contact": contact, "n": sum(t["n"] for t in c) + len(tok.encode(system).ids),
                        "start": c[0]["start"], "end": c[-1]["end"]})
    # exact dedup
    seen, kept = set(), []
    for r in records:
        key = "\n".join(m["role"] + ":" + " ".join(re.sub(r"[^\w\s]+", " ", m["content"].lower()).split()) for m in r["messages"][1:])
        if key not in seen:
            seen.add(key)
            r["key"] = key
            kept.append(r)
    # near dedup: MinHash per conversation (numpy per conversation) + LSH buckets in a dict
    rng = np.random.default_rng(1)
    a = rng.integers(1, 2**31 - 1, NUM_PERM, dtype=np.uint64)
    b = rng.integers(0, 2**31 - 1, NUM_PERM, dtype=np.uint64)
    bands, rows_ = 8, 4
    buckets: dict = {}
    sets = []
    final = []
    for i, r in enumerate(kept):
        words = r["key"].split()
        sh = {" ".join(words[j:j + SHINGLE]) for j in range(max(1, len(words) - SHINGLE + 1))}
        hv = np.array([zlib.crc32(s.encode()) for s in sh], dtype=np.uint64)
        sig = ((hv[:, None] * a + b) % np.uint64(2**31 - 1)).min(axis=0)
        dup = False
        for band in range(bands):
            k = (band, sig[band * rows_:(band + 1) * rows_].tobytes())
            for j in buckets.get(k, []):
                o = sets[j]
                if len(sh & o) / len(sh | o) >= THRESH:
                    dup = True
                    break
            if dup:
                break
        sets.append(sh)
        if not dup:
            for band in range(bands):
                buckets.setdefault((band, sig[band * rows_:(band + 1) * rows_].tobytes()), []).append(i)
            final.append(r)
    # balance: cap each contact at MAX_SHARE of tokens (pandas sampling)
    meta = pd.DataFrame({"contact": [r["contact"] for r in final], "n": [r["n"] for r in final]})
    totals = meta.groupby("contact")["n"].sum()
    cap = MAX_SHARE * totals.sum()
    keep_idx = []
    for contact, g in meta.groupby("contact"):
        g = g.sample(frac=1.0, random_state=SEED)
        keep_idx += list(g.index[g["n"].cumsum() <= cap]) if totals[contact] > cap else list(g.index)
    final = [final[i] for i in sorted(keep_idx)]
    random.Random(SEED).shuffle(final)
    n_val = max(1, int(len(final) * VAL))
    out.mkdir(parents=True)
    for name, part in (("val.jsonl", final[:n_val]), ("train.jsonl", final[n_val:])):
        with open(out / name, "w", encoding="utf-8") as fh:
            for r in part:
                fh.write(json.dumps({"messages": r["messages"], "meta": {"contact": r["contact"], "n_tokens": r["n"],
                         "start": r["start"].isoformat(), "end": r["end"].isoformat()}}, ensure_ascii=False) + "\n")
    (out / "manifest.json").write_text(json.dumps({"sha256": hashlib.sha256((out / "train.jsonl").read_bytes()).hexdigest()}))
    return len(final)


# ----------------------------------------------------------------------------- clonekit
def ours(paths: list[Path], tok_path: Path, root: Path) -> tuple[Path, dict]:
    from builder.curate.build import build
    from builder.curate.config import load_build_config

    cfg = load_build_config(None, {
        "build.sources": [str(p) for p in paths], "build.me": [ME], "build.root": str(root), "build.name": "bench",
        "tokenizer.spec": str(tok_path), "sessions.min_tokens": MIN_TOKENS, "balance.max_share": MAX_SHARE,
        "clean.num_perm": NUM_PERM, "clean.near_dup_threshold": THRESH,
    })
    stages: dict[str, float] = {}
    last = [time.perf_counter(), None]

    def on_event(ev):
        stage = getattr(ev, "stage", None)
        if stage == "build":  # one "build" bar across the steps: the step is in extra
            stage = ev.extra.get("step", stage)
        if stage and stage != last[1]:
            now = time.perf_counter()
            if last[1]:
                stages[last[1]] = stages.get(last[1], 0) + now - last[0]
            last[0], last[1] = now, stage

    path = build(cfg, on_event=on_event)
    stages[last[1]] = time.perf_counter() - last[0]
    return path, stages


def _worker(side: str, inputs: Path, out: Path) -> int:
    """One timed build in this (fresh) process: imports first, then the clock. Prints one
    JSON line: wall, cpu, conversations (and clonekit's stages)."""
    paths = [Path(p) for p in json.loads((inputs / "paths.json").read_text())]
    tok = inputs / "tokenizer.json"
    if side == "ours":
        import builder.curate.build  # noqa: F401
        from builder.ingest.detect import parsers

        parsers()  # imports every format's parser module (the sniffers run on each file)
    else:
        import pandas  # noqa: F401
        import whatstk  # noqa: F401  (pulls in seaborn/scipy: ~3 s)
        from tokenizers import Tokenizer  # noqa: F401
    t0, c0 = time.perf_counter(), time.process_time()
    if side == "ours":
        path, stages = ours(paths, tok, out)
        n = json.loads((path / "manifest.json").read_text())["counts"]["conversations"]
    else:
        n, stages = ref_build(paths, tok, out), {}
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"wall": wall, "cpu": cpu, "conversations": n, "stages": stages}))
    return 0


def _run(side: str, inputs: Path, out: Path) -> dict:
    import subprocess

    proc = subprocess.run([sys.executable, __file__, "--worker", side, "--inputs", str(inputs), "--out", str(out)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{side} run failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _median(xs: list[float]) -> float:
    return sorted(xs)[len(xs) // 2]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--skip-reference", action="store_true")
    ap.add_argument("--shape", choices=["long", "short"], default="long",
                    help="long: bench/ingest.py's endless sessions; short: real-chat shape (bench/_gen_chat.py)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each side (median reported)")
    ap.add_argument("--worker", choices=["ours", "reference"], help=argparse.SUPPRESS)
    ap.add_argument("--inputs", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return _worker(args.worker, args.inputs, args.out)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_p = Path(tmp)
        (tmp_p / "exports").mkdir()
        paths = make_inputs(tmp_p / "exports", args.messages, args.shape)
        (tmp_p / "paths.json").write_text(json.dumps([str(p) for p in paths]))
        train_tokenizer(paths, tmp_p / "tokenizer.json")
        os.sync()  # the generated files on disk before any timing (no writeback during a run)
        load0 = os.getloadavg()[0]
        sides = ["ours"] + ([] if args.skip_reference else ["reference"])
        runs: dict[str, list[dict]] = {side: [] for side in sides}
        # each run in a fresh process, the sides alternating, so both see the same machine
        for r in range(args.repeats):
            for side in sides:
                runs[side].append(_run(side, tmp_p, tmp_p / f"{side}-{r}"))
        ours_, wall = runs["ours"], [x["wall"] for x in runs["ours"]]
        mid = sorted(ours_, key=lambda x: x["wall"])[len(ours_) // 2]
        print(f"clonekit: median {_median(wall):.2f} s wall, {_median([x['cpu'] for x in ours_]):.2f} s CPU "
              f"({mid['conversations']} conversations); runs {', '.join(f'{w:.2f}' for w in wall)} s")
        print("  stages (median run): " + ", ".join(f"{k} {v:.2f}s" for k, v in mid["stages"].items()))
        if args.skip_reference:
            print(f"load average: {load0:.1f} -> {os.getloadavg()[0]:.1f}")
            return 0
        ref = runs["reference"]
        ref_wall, ref_cpu = _median([x["wall"] for x in ref]), _median([x["cpu"] for x in ref])
        ref_runs = ", ".join(f"{x['wall']:.2f}" for x in ref)
        print(f"reference (whatstk + pandas + loops): median {ref_wall:.2f} s wall, {ref_cpu:.2f} s CPU "
              f"({ref[0]['conversations']} conversations); runs {ref_runs} s")
        ours_cpu = _median([x["cpu"] for x in ours_])
        print(f"speed-up (medians): {ref_wall / _median(wall):.1f}x wall, {ref_cpu / ours_cpu:.1f}x CPU  "
              f"messages: {args.messages} ({args.shape})  load average {load0:.1f} -> {os.getloadavg()[0]:.1f} "
              f"(2 cores)  python {platform.python_version()}  {platform.machine()}")
        # same steps and settings: the two must agree on the size of the result
        n_ours, n_ref = mid["conversations"], ref[0]["conversations"]
        assert abs(n_ours - n_ref) <= 0.1 * max(n_ours, n_ref), (n_ours, n_ref)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
