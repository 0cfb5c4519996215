"""Benchmark: parsing a 1,000,000-message WhatsApp Android export.

Generates (deterministically, into a temp dir) an en-GB 24h Android export with multi-line
messages, media placeholders and system lines (~65 MB for 1M messages), then times, each in
its own subprocess (wall time and peak RSS of that child):

  (a) clonekit:   `clonekit ingest FILE -o out.jsonl` (falls back to
                  builder.ingest.whatsapp.parse + JSONL write when the CLI is not wired);
                  with the CLI, the parser alone (parse + JSONL write) is timed as well
  (b) whatstk:    whatstk.WhatsAppChat.from_source(FILE)
  (c) chat-miner: chatminer.chatparsers.WhatsAppParser(FILE).parse_file()

and prints our speed-up against the faster reference (wall time, and CPU time, which a
loaded machine disturbs less), the peak-memory ratio, and the load average around the runs.

    pip install whatstk chat-miner      # references: only for this benchmark
    python bench/ingest.py              # 1,000,000 messages
    python bench/ingest.py --messages 50000 --keep /tmp/wa   # quick run, keep the file
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

NAMES = ["Sam", "Alex Morgan", "Jo", "Priya Shah", "+44 7700 900123", "Mum", "Chris O'Neil"]
WORDS = ("ok sure see you later tonight dinner train late love that haha what time are we "
         "meeting tomorrow morning coffee work meeting call me when you can yes no maybe "
         "sounds good brilliant cheers thanks mate").split()
SYSTEM = [
    "Messages and calls are end-to-end encrypted. No one outside of this chat, not even WhatsApp, can read or listen to them. Tap to learn more.",
    "Alex Morgan changed the group description",
    "Jo added Priya Shah",
    "You changed this group's icon",
]


def generate(path: Path, n: int, seed: int = 7) -> int:
    """Write an n-message Android export; return its size in bytes."""
    rng = random.Random(seed)
    t = dt.datetime(2019, 1, 1, 8, 0)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        buf = []
        for i in range(n):
            t += dt.timedelta(seconds=rng.randint(0, 900))
            head = t.strftime("%d/%m/%Y, %H:%M - ")
            r = rng.random()
            if r < 0.01:
                buf.append(head + rng.choice(SYSTEM) + "\n")
            else:
                who = NAMES[rng.randrange(len(NAMES))] if rng.random() < 0.4 else NAMES[0]
                if r < 0.06:
                    body = "<Media omitted>"
                elif r < 0.07:
                    body = "This message was deleted"
                else:
                    k = rng.randint(2, 12)
                    body = " ".join(rng.choice(WORDS) for _ in range(k))
                    if r > 0.93:  # multi-line message
                        body += "\n" + " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 8)))
                        if r > 0.98:
                            body += "\n\n" + " ".join(rng.choice(WORDS) for _ in range(3))
                buf.append(f"{head}{who}: {body}\n")
            if len(buf) >= 10_000:
                fh.write("".join(buf))
                buf.clear()
        fh.write("".join(buf))
    return path.stat().st_size


# Each runner is a tiny program run with `python -c`; it prints the message count.
FALLBACK = """
import sys, time
from pathlib import Path
from builder.ingest.base import Document
from builder.ingest import whatsapp
from builder.schema import to_contract_rows
p = Path(sys.argv[1])
df = whatsapp.parse([Document(name=p.name, text=p.read_text(encoding="utf-8"), chat_hint=p.stem)], lambda m: None)
to_contract_rows(df).write_ndjson(sys.argv[2])
print(df.height)
"""
WHATSTK = """
import sys
from whatstk import WhatsAppChat
chat = WhatsAppChat.from_source(filepath=sys.argv[1], max_size=None)  # default refuses > 50 MB
print(len(chat.df))
"""
CHATMINER = """
import sys, logging
logging.disable(logging.CRITICAL)
from chatminer.chatparsers import WhatsAppParser
parser = WhatsAppParser(sys.argv[1])
parser.parse_file()
print(len(parser.parsed_messages.get_df()))
"""


def run_child(cmd: list[str], env: dict[str, str]) -> tuple[float, int, str, float]:
    """Run one child; return (wall seconds, peak RSS bytes of that child, last stdout line,
    CPU seconds (user + system) of that child).

    Peak RSS comes from wait4() on this child alone (ru_maxrss, KiB on Linux), so earlier
    children do not mask later ones the way RUSAGE_CHILDREN's running maximum would.
    Output goes to temporary files, so a chatty child cannot block on a full pipe."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd[:4])} failed ({proc.returncode}):\n"
                             f"{err.read().decode(errors='replace')[-2000:]}")
        lines = out.read().decode(errors="replace").strip().splitlines()
    return wall, usage.ru_maxrss * 1024, lines[-1] if lines else "", usage.ru_utime + usage.ru_stime


def fmt_load(load: tuple[float, float, float]) -> str:
    return "/".join(f"{x:.1f}" for x in load)


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("polars", "whatstk", "chat-miner"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "missing"
    return out


def clonekit_cmd(src: Path, out: Path) -> tuple[list[str], str]:
    exe = shutil.which("clonekit")
    probe = subprocess.run([sys.executable, "-m", "clonekit", "ingest", "--help"], cwd=REPO,
                           capture_output=True, text=True)
    if probe.returncode == 0:
        return [sys.executable, "-m", "clonekit", "ingest", str(src), "-o", str(out)], "clonekit ingest (python -m clonekit)"
    if exe:
        return [exe, "ingest", str(src), "-o", str(out)], "clonekit ingest"
    return [sys.executable, "-c", FALLBACK, str(src), str(out)], "builder.ingest.whatsapp.parse + write_ndjson"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=1_000_000, help="messages to generate (default 1,000,000)")
    ap.add_argument("--keep", metavar="DIR", help="write the export here and keep it")
    ap.add_argument("--only-ours", action="store_true", help="skip the reference parsers")
    args = ap.parse_args()

    missing = [m for m in ("whatstk", "chatminer") if importlib.util.find_spec(m) is None]
    if missing and not args.only_ours:
        print("the reference parsers are missing: pip install whatstk chat-miner "
              "(or run with --only-ours)", file=sys.stderr)
        return 2

    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="clonekit-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    src = tmp / "WhatsApp Chat with Alex Morgan.txt"
    try:
        t0 = time.perf_counter()
        size = generate(src, args.messages)
        print(f"generated {args.messages:,} messages, {size / 1e6:.1f} MB in {time.perf_counter() - t0:.1f}s: {src}")
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        cmd, label = clonekit_cmd(src, tmp / "out.jsonl")
        results = {}
        runs = [("clonekit", cmd, label)]
        if "-c" not in cmd:  # the CLI: also time the parser alone (parse + JSONL), to separate it
            runs.append(("parser", [sys.executable, "-c", FALLBACK, str(src), str(tmp / "parser.jsonl")],
                         "builder.ingest.whatsapp.parse + write_ndjson"))
        if not args.only_ours:
            runs += [("whatstk", [sys.executable, "-c", WHATSTK, str(src)], "whatstk"),
                     ("chat-miner", [sys.executable, "-c", CHATMINER, str(src)], "chat-miner")]
        load_before = os.getloadavg()
        for name, command, label in runs:
            wall, rss, out, cpu = run_child(command, env)
            results[name] = (wall, rss, out, label, cpu)
            print(f"{name:11} {wall:8.2f} s  cpu {cpu:7.2f} s  peak RSS {rss / 2**20:6.0f} MiB  out={out!r}  "
                  f"[{label}]  load {os.getloadavg()[0]:.1f}", flush=True)
        load_after = os.getloadavg()
        print(f"load average (1/5/15 min): before {fmt_load(load_before)}, after {fmt_load(load_after)}; "
              f"{os.cpu_count()} CPUs")
        if args.only_ours:
            return 0
        ours_t, ours_m = results["clonekit"][0], results["clonekit"][1]
        ref = min(("whatstk", "chat-miner"), key=lambda k: results[k][0])
        ref_m = min(results["whatstk"][1], results["chat-miner"][1])
        print(f"speed-up vs the faster reference ({ref}): {results[ref][0] / ours_t:.1f}x wall, "
              f"{results[ref][4] / results['clonekit'][4]:.1f}x CPU time (goal >= 10x)")
        other = "chat-miner" if ref == "whatstk" else "whatstk"
        print(f"speed-up vs {other}: {results[other][0] / ours_t:.1f}x wall")
        print(f"peak memory: ours / lowest reference = {ours_m / ref_m:.2f} (goal < 1)")
        print(json.dumps({
            "date": dt.date.today().isoformat(), "machine": f"{platform.machine()} {os.cpu_count()} cpu",
            "load_before": fmt_load(load_before), "load_after": fmt_load(load_after),
            "python": platform.python_version(), "versions": versions(), "messages": args.messages,
            "mb": round(size / 1e6, 1),
            "results": {k: {"s": round(v[0], 2), "cpu_s": round(v[4], 2), "rss_mib": round(v[1] / 2**20)}
                        for k, v in results.items()},
        }))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
