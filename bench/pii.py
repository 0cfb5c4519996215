"""Benchmark: PII redaction quality on the labelled set and speed on 1M messages,
builder/curate/pii.py against the pre-issue-13 implementation (bench/_pii_old.py), same run.

Quality (tests/pii_eval/eval.jsonl, made by tests/pii_eval/generate.py; see SOURCES.md there):
  recall per type  = labelled spans replaced by a placeholder of that type (IoU >= 0.8)
  precision        = such placeholders / all placeholders of that type, over every line
  negatives kept   = look-alikes (dates, times, prices, versions, tracking/order numbers,
                     file names) with no placeholder touching them
  rows changed     = lines whose text outside the placeholders differs from the input
Scenarios: ``chat hints`` (each country's chat holds one +CC number, as the eval is
generated), and ``no hints`` (every +CC line dropped, no [pii] regions, no locale: national
numbers have nothing to go on; shows what inference buys).

Speed: 1,000,000 generated chat messages (40 chats; ~4% carry PII or look-alikes drawn
from the eval set with fresh digits, the rest ordinary text with some numbers), both
implementations alternating --repeats times in this process, caches cleared each run.

    python bench/pii.py                    # quality + 1M timing
    python bench/pii.py --messages 200000 --repeats 1
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import polars as pl  # noqa: E402

import _pii_old as old  # noqa: E402
from tests.pii_eval.score import by_set, load, score  # noqa: E402
from builder.curate import pii  # noqa: E402
from builder.curate.pii_detect import _phone_in, find_spans  # noqa: E402

OLD_TYPES = ["email", "phone", "url", "card", "iban"]
NEW_TYPES = list(pii.TYPES)


def redact_old(rows: list[dict]) -> list[str]:
    out, _ = old.redact_column(pl.DataFrame({"text": [r["text"] for r in rows]}), "text", OLD_TYPES)
    return out["text"].to_list()


def redact_new(rows: list[dict], consistent: bool = False) -> list[str]:
    df = pl.DataFrame({"chat": [r["chat"] for r in rows], "text": [r["text"] for r in rows]})
    out, _ = pii.redact_column(df, "text", NEW_TYPES,
                               options=pii.PiiOptions(locale_region=False, consistent=consistent))
    return out["text"].to_list()


def fmt(x) -> str:
    return "  -  " if x is None else f"{x:.3f}"


def quality(scenario: str) -> dict:
    rows = load(scenario)
    res = {}
    print(f"\n== quality: {scenario} ({len(rows)} lines) ==")
    for name, fn, types in (("old", redact_old, OLD_TYPES + ["ip"]), ("new", redact_new, NEW_TYPES)):
        t0 = time.perf_counter()
        outs = fn(rows)
        dt = time.perf_counter() - t0
        r = score(rows, outs, types)
        r["phone_by_set"] = by_set(rows, outs)
        r["seconds"] = dt
        res[name] = r
    print(f"{'type':10} {'n':>5} | {'old R':>6} {'old P':>6} | {'new R':>6} {'new P':>6}")
    for k in NEW_TYPES + ["overall"]:
        o, n = res["old"]["types"][k], res["new"]["types"][k]
        print(f"{k:10} {n['n']:5d} | {fmt(o['recall']):>6} {fmt(o['precision']):>6} | {fmt(n['recall']):>6} {fmt(n['precision']):>6}")
    for name in ("old", "new"):
        r = res[name]
        print(f"{name}: look-alike negatives kept {r['negatives_kept']:.3f} of {r['negatives']}; "
              f"rows changed outside placeholders: {r['rows_changed']}; {r['seconds']:.2f} s")
        print("   negatives kept by kind: " + ", ".join(f"{k} {v:.2f}" for k, v in r["neg_by"].items()))
        print("   phone recall by writing: " + ", ".join(f"{k} {v:.2f}" for k, v in r["phone_by_set"].items()))
    return res


# --- 1M messages --------------------------------------------------------------------------------
WORDS = ("ok yes no see you later tomorrow haha lol thanks love dinner at the on my way home work call me "
         "when are we meeting today train late sorry what time is it good night morning coffee").split()


def corpus(n: int, seed: int = 0) -> pl.DataFrame:
    """40 chats, each in one country (its phone lines come from that country's eval chat),
    sharing the e-mail, URL, card, IBAN, IP and look-alike lines."""
    rng = random.Random(seed)
    rows = load("chat hints")
    countries = sorted({r["chat"] for r in rows if r["set"].startswith("phone")})
    chats = rng.sample(countries, 40)
    phone_lines = {c: [r["text"] for r in rows if r["chat"] == c] for c in chats}
    shared = [r["text"] for r in rows if not r["set"].startswith("phone")]
    texts, chat_col = [], []
    for i in range(n):
        chat = chats[i % 40]
        u = rng.random()
        if u < 0.04:
            t = rng.choice(phone_lines[chat] if rng.random() < 0.5 else shared)
            # fresh digits so the distinct candidates grow with the corpus like real data
            t = re.sub(r"\d{3}(?=\d{4}\b)", lambda m: f"{rng.randint(100, 999)}", t, count=1)
        elif u < 0.10:
            t = f"{rng.choice(WORDS)} at {rng.randint(0, 23)}:{rng.randint(0, 59):02d} {rng.choice(WORDS)} {rng.randint(1, 99999)}"
        else:
            t = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12)))
        texts.append(t)
        chat_col.append(chat)
    return pl.DataFrame({"chat": chat_col, "text": texts})


def speed(n: int, repeats: int) -> dict:
    df = corpus(n)
    print(f"\n== speed: {n:,} messages, {repeats} runs each, alternating ==")
    times = {"old": [], "new": []}
    cpu = {"old": [], "new": []}
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        old.redact_column(df, "text", OLD_TYPES)
        times["old"].append(time.perf_counter() - t0)
        cpu["old"].append(time.process_time() - c0)
        find_spans.cache_clear()
        _phone_in.cache_clear()
        t0, c0 = time.perf_counter(), time.process_time()
        out, counts = pii.redact_column(df, "text", NEW_TYPES, options=pii.PiiOptions(locale_region=False))
        times["new"].append(time.perf_counter() - t0)
        cpu["new"].append(time.process_time() - c0)
        print(f"  old {times['old'][-1]:.2f} s wall ({cpu['old'][-1]:.2f} s CPU)   "
              f"new {times['new'][-1]:.2f} s wall ({cpu['new'][-1]:.2f} s CPU)   counts {counts}   load {os.getloadavg()[0]:.1f}")
    for k, v in times.items():
        print(f"{k}: median {statistics.median(v):.2f} s wall (min {min(v):.2f}, max {max(v):.2f}); "
              f"median {statistics.median(cpu[k]):.2f} s CPU (all threads)")
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-speed", action="store_true")
    args = ap.parse_args()
    import phonenumbers
    import tldextract

    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {platform.processor() or platform.machine()} "
          f"· {os.cpu_count()} cores · load {os.getloadavg()[0]:.2f} · python {platform.python_version()} "
          f"· polars {pl.__version__} · phonenumbers {phonenumbers.__version__} · tldextract {tldextract.__version__}")
    quality("chat hints")
    quality("no hints")
    if not args.skip_speed:
        speed(args.messages, args.repeats)


if __name__ == "__main__":
    main()
