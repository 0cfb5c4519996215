"""Synthesis client throughput against the fake OpenAI-compatible server.

The server (tests/support/openai_server.py) runs in a subprocess with a fixed per-request
latency, so this process's CPU time is the client's alone. For each concurrency the real
request path runs (scheduler, rate limiter, openai client, retries, SQLite cache commit
before use): reference = ideal throughput concurrency / latency, measured = requests /
wall time. Second reference, same run: the same bodies posted by a bare httpx2 client (what the
openai SDK sits on), which shows what the server, loopback and machine allow. Client
overhead per request = clonekit's wall time per request at concurrency 1 minus the bare
client's, and client CPU milliseconds per request.

    python bench/synth.py                      # 2,000 requests at c=8 and c=64, 50 at c=1
    python bench/synth.py --requests 500 --latency 0.2 --markdown
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from builder.events import NEVER_CANCELLED, ignore_event  # noqa: E402
from builder.synth.cache import RequestCache  # noqa: E402
from builder.synth.config import SynthConfig  # noqa: E402
from builder.synth.synth import _execute, plan_synth  # noqa: E402
from tests.support.synth_data import make_version  # noqa: E402


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.openai_server", "--latency", str(latency),
                             "--lifetime", "900"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    base_url = proc.stdout.readline().strip()
    if not base_url.startswith("http"):
        proc.kill()
        raise SystemExit("the fake server did not start")
    return proc, base_url


def measure(version: Path, base_url: str, work: Path, n: int, concurrency: int) -> dict:
    cfg = SynthConfig(version=str(version), mode="self-instruct", n=n, per_call=1, few_shot=2,
                      base_url=base_url, model="fake-model", concurrency=concurrency, seed=concurrency,
                      cache_dir=str(work / f"cache-c{concurrency}"), synthetic_share=0.9)
    plan = plan_synth(cfg)
    from builder.tokens import load_counter

    counter = load_counter(plan.counter_name)
    cache = RequestCache(Path(cfg.cache_dir) / "synth.sqlite")
    try:
        cpu0, t0 = time.process_time(), time.perf_counter()
        out, stats = asyncio.run(_execute(plan, "sk-bench", cache, counter, ignore_event, NEVER_CANCELLED))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        cache.close()
    assert len(out.results) == n and stats.sent == n, (len(out.results), stats)
    return {"c": concurrency, "n": n, "wall": wall, "cpu": cpu, "rps": n / wall}


def measure_raw(version: Path, base_url: str, n: int, concurrency: int) -> dict:
    """Reference: the same request bodies posted by a bare httpx2 client (what openai
    itself sits on) with a semaphore; no SDK, cache, limiter or bookkeeping."""
    import httpx2

    cfg = SynthConfig(version=str(version), mode="self-instruct", n=n, per_call=1, few_shot=2, base_url=base_url,
                      model="fake-model", seed=10_000 + concurrency, synthetic_share=0.9)
    bodies = [{"model": cfg.model, "messages": pr.request.messages, **pr.request.params,
               "response_format": pr.request.response_format} for pr in plan_synth(cfg).requests]

    async def go() -> None:
        sem = asyncio.Semaphore(concurrency)
        limits = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)
        async with httpx2.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:
            async def one(body: dict) -> None:
                async with sem:
                    r = await client.post("/chat/completions", json=body)
                    r.raise_for_status()
                    r.json()
            await asyncio.gather(*(one(b) for b in bodies))

    cpu0, t0 = time.process_time(), time.perf_counter()
    asyncio.run(go())
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {"c": concurrency, "n": n, "wall": wall, "cpu": cpu, "rps": n / wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--serial-requests", type=int, default=50)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64])
    ap.add_argument("--markdown", action="store_true", help="print a RESULTS.md table too")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-synth-"))
    version = make_version(work / "datasets")
    proc, base_url = start_server(args.latency)
    rows = []
    try:
        measure(version, base_url, work, 20, 4)  # warm-up: imports, first connections
        measure_raw(version, base_url, 20, 4)
        for c in args.concurrency:
            n = args.serial_requests if c == 1 else args.requests
            raw = measure_raw(version, base_url, n, c)
            row = measure(version, base_url, work, n, c)
            row["ideal"] = c / args.latency
            row["raw_rps"], row["raw_wall"], row["raw_cpu"] = raw["rps"], raw["wall"], raw["cpu"]
            rows.append(row)
            print(f"c={c:<3} n={n:<5} clonekit {row['rps']:7.1f} req/s ({row['rps'] / row['ideal']:6.1%} of ideal "
                  f"{row['ideal']:.0f}, {row['rps'] / raw['rps']:6.1%} of bare httpx {raw['rps']:.1f})  "
                  f"client cpu {row['cpu'] / n * 1000:5.2f} ms/req (bare {raw['cpu'] / n * 1000:.2f})", flush=True)
    finally:
        proc.terminate()
        proc.wait()
    serial = next((r for r in rows if r["c"] == 1), None)
    if serial:
        per_req = serial["wall"] / serial["n"] * 1000
        over_raw = (serial["wall"] - serial["raw_wall"]) / serial["n"] * 1000
        print(f"c=1: {per_req:.2f} ms per request = {args.latency * 1000:.0f} ms latency + "
              f"{per_req - args.latency * 1000:.2f} ms (server, loopback, client); clonekit's client costs "
              f"{over_raw:.2f} ms more than bare httpx (goal < 2 ms); "
              f"client CPU {serial['cpu'] / serial['n'] * 1000:.2f} ms/req")
    top = max(rows, key=lambda r: r["c"])
    print(f"throughput at c={top['c']}: {top['rps'] / top['ideal']:.1%} of ideal (goal >= 90%)")
    if args.markdown:
        print("\n| concurrency | requests | req/s | ideal | of ideal | bare httpx req/s | of bare | client CPU ms/req (bare) |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['c']} | {r['n']} | {r['rps']:.1f} | {r['ideal']:.0f} | {r['rps'] / r['ideal']:.1%} | "
                  f"{r['raw_rps']:.1f} | {r['rps'] / r['raw_rps']:.1%} | {r['cpu'] / r['n'] * 1000:.2f} "
                  f"({r['raw_cpu'] / r['n'] * 1000:.2f}) |")
        print(f"\n{platform.platform()}, python {platform.python_version()}, "
              f"openai {__import__('openai').__version__}")


if __name__ == "__main__":
    main()
