"""Serving many at once: aggregate tokens/s, p50/p95 request latency and time to first
token (TTFT) of `clonekit serve`'s batching worker (trainer.batching, the default) against
the one-reply-at-a-time worker (``--one-at-a-time``, today's behaviour before batching) at
1, 4 and 16 concurrent streaming clients, in the same run, over real HTTP on 127.0.0.1.

Each client sends ``--rounds`` streaming requests one after another (so in the batching
worker requests join and leave mid-generation), each with its own ~``--prompt-tokens``
prompt and exactly ``--new-tokens`` tokens to generate (the end-of-turn id is made
unreachable). Tokens/s = all generated tokens / wall time of the level. TTFT = request
sent to first text chunk received; latency = request sent to [DONE].

CPU (default): a small random-init Mistral (bench/chat.py's shapes and tokenizer).
GPU: ``--device cuda --shape 7b`` (7B-shaped Mistral, random init, bf16, no download).
``--static-baseline`` adds the one-at-a-time worker on the compiled static-cache loop
(trainer.static_decode; its compile is timed separately) as a second reference.

    python bench/serve.py                                   # CPU, small model
    python bench/serve.py --device cuda --shape 7b --static-baseline

With $OUT set, the tables are also written to $OUT/serve_bench.md.
Imports torch, transformers, tokenizers and clonekit's trainer/ only."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from chat import SHAPES, make_model, make_tokenizer, sync  # noqa: E402

CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] "
          "+ '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def stream_request(host: str, port: int, body: dict) -> tuple[float, float, int]:
    """(ttft s, latency s, completion tokens) of one streaming request."""
    data = json.dumps(body).encode()
    conn = http.client.HTTPConnection(host, port, timeout=600)
    t0 = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body=data, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:200]!r}")
    ttft, tokens = None, 0
    while True:
        line = resp.readline()
        if not line:
            break
        line = line.strip()
        if not line.startswith(b"data: "):
            continue
        payload = line[6:]
        if payload == b"[DONE]":
            break
        event = json.loads(payload)
        if event.get("usage"):
            tokens = event["usage"]["completion_tokens"]
        for choice in event.get("choices", []):
            if choice["delta"].get("content") and ttft is None:
                ttft = time.perf_counter() - t0
    latency = time.perf_counter() - t0
    conn.close()
    return (ttft if ttft is not None else latency), latency, tokens


def run_level(url: tuple[str, int], model_id: str, prompts: list[str], clients: int, rounds: int,
              new_tokens: int, temperature: float = 0.7) -> dict:
    results: list[tuple[float, float, int]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(c: int) -> None:
        for r in range(rounds):
            body = {"model": model_id, "stream": True, "stream_options": {"include_usage": True},
                    "max_tokens": new_tokens, "temperature": temperature, "top_p": 0.95,
                    "messages": [{"role": "system", "content": "You are Sam."},
                                 {"role": "user", "content": prompts[(c * rounds + r) % len(prompts)]}]}
            try:
                out = stream_request(*url, body)
            except Exception as err:  # noqa: BLE001 — counted and reported below
                with lock:
                    errors.append(str(err))
                continue
            with lock:
                results.append(out)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, e.g. {errors[0]}")
    tokens = sum(r[2] for r in results)
    ttfts, lats = [r[0] for r in results], [r[1] for r in results]
    return {"clients": clients, "requests": len(results), "tokens": tokens, "wall": wall,
            "tps": tokens / wall, "ttfts": ttfts, "lats": lats}


def _needed(engine, prompts: list[str], args) -> int:
    return max(len(engine.build([{"role": "system", "content": "You are Sam."},
                                 {"role": "user", "content": p}]).input_ids) for p in prompts) + args.new_tokens


def wait_static(engine, prompts: list[str], args, ready=None, what: str = "", failures=None) -> str:
    """Wait for a background compile: the static loop that serves lone requests, or
    (``ready``, ``failures``) another decoder's readiness check and failure registry."""
    from trainer.static_decode import _WARM_FAILED, warm_decoder

    needed = _needed(engine, prompts, args)
    ready = ready or (lambda: warm_decoder(engine.model, needed))
    failures = _WARM_FAILED if failures is None else failures
    t0 = time.perf_counter()
    while not ready():
        if engine.model in failures:
            return f"{what}background compile failed ({failures[engine.model]}): the eager path answers"
        if time.perf_counter() - t0 > 400:
            return "its background compile was not done after 400 s"
        time.sleep(0.5)
    return f"{what}compiled in the background, ready {time.perf_counter() - t0:.1f}s after it was asked for"


def wait_slots(engine, prompts: list[str], args, levels: list[int]) -> list[str]:
    """Wait for the compiled slot decoders (trainer.slot_decode) the batched levels use:
    a server that has seen such a batch once has them; the first time, it answers on the
    eager batch for the ~tens of seconds they take to compile in the background."""
    from trainer import slot_decode

    needed = _needed(engine, prompts, args)
    notes = []
    for slots in sorted({slot_decode.slot_bucket(n) for n in levels if n > 1}):
        notes.append(wait_static(engine, prompts, args, lambda: slot_decode.ready_slots(engine.model, slots, needed)
                                 is not None, f"{slots}-slot decoder ", slot_decode.FAILED))
    return notes


def summarise(runs: list[dict]) -> dict:
    """Median tokens/s over the repeats (with min and max); TTFT and latency percentiles
    over every request of every repeat."""
    tps = sorted(r["tps"] for r in runs)
    ttfts = [t for r in runs for t in r["ttfts"]]
    lats = [t for r in runs for t in r["lats"]]
    return {"clients": runs[0]["clients"], "requests": sum(r["requests"] for r in runs), "repeats": len(runs),
            "tps": percentile(tps, .5), "tps_min": tps[0], "tps_max": tps[-1],
            "ttft50": percentile(ttfts, .5), "ttft95": percentile(ttfts, .95),
            "lat50": percentile(lats, .5), "lat95": percentile(lats, .95)}


def main() -> None:
    import torch
    import transformers

    from trainer.serve import Engine, attach, bind

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="small")
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--prompt-tokens", type=int, default=120)
    ap.add_argument("--new-tokens", type=int, default=48)
    ap.add_argument("--clients", default="1,4,16", help="concurrency levels (default 1,4,16)")
    ap.add_argument("--rounds", type=int, default=2, help="requests per client per level (default 2)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each level; median and range (default 3)")
    ap.add_argument("--max-batch", type=int, default=32)
    ap.add_argument("--temperature", type=float, default=0.7, help="0 = greedy (default 0.7, top-p 0.95)")
    ap.add_argument("--static-baseline", action="store_true",
                    help="also the one-at-a-time worker on the compiled static-cache loop")
    ap.add_argument("--unpipelined", action="store_true",
                    help="also the batching worker with the slot step handed out before the next is launched")
    ap.add_argument("--batched-only", action="store_true",
                    help="only the batching worker (a quick check of its warm-up; no reference, so no ratios)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    levels = [int(c) for c in args.clients.split(",")]

    t0 = time.perf_counter()
    tok = make_tokenizer(args.vocab)
    tok.chat_template = CHATML
    model = make_model(args.shape, len(tok), args.device)
    setup = time.perf_counter() - t0
    rng = random.Random(2)
    vocab_words = [w for w in tok.get_vocab() if w.isalpha() and len(w) > 2]
    prompts = []
    for _ in range(64):
        words = []
        while len(tok(" ".join(words))["input_ids"]) < args.prompt_tokens:
            words.extend(rng.choice(vocab_words) for _ in range(8))
        prompts.append(" ".join(words))
    unreachable = [model.config.vocab_size]  # never stop early: every request decodes new_tokens
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    sampling = "greedy" if args.temperature == 0 else f"sampled (T {args.temperature:g}, top-p 0.95)"
    header = (f"serve bench: {args.shape} ({sum(p.numel() for p in model.parameters()) / 1e6:.0f}M params, "
              f"{next(model.parameters()).dtype}), device {device_name}, torch {torch.__version__}, "
              f"transformers {transformers.__version__}, prompt ~{args.prompt_tokens} tok, {args.new_tokens} new "
              f"tok, {sampling}, {args.rounds} requests per client ({args.rounds + 1} at 1 client), {args.repeats} runs per level; "
              f"setup {setup:.1f}s")
    print("# " + header, flush=True)

    workers = [("one at a time (today's worker, dynamic cache)", dict(batching=False, static_cache=False)),
               ("batched (continuous)", dict(batching=True, max_batch=args.max_batch))]
    if args.static_baseline:
        workers.insert(1, ("one at a time, static cache (compiled)", dict(batching=False, static_cache=True)))
    if args.unpipelined:
        workers.append(("batched, slot steps not pipelined", dict(batching=True, max_batch=args.max_batch)))
    if args.batched_only:
        workers = [w for w in workers if w[1].get("batching")]
    table: dict[str, list[dict]] = {}

    class Notes(list):
        def append(self, note: str) -> None:  # printed at once too: a crash later keeps them
            print("note:", note, flush=True)
            super().append(note)

        def __iadd__(self, more):
            for note in more:
                self.append(note)
            return self
    notes = Notes()
    for label, kwargs in reversed(workers):  # the batched worker first: if it fails, fail before the long baseline
        engine = Engine(model, tok, "bench", {"name": "Sam"}, unreachable, **kwargs)
        if "not pipelined" in label:
            engine.batcher.pipelined = False
        server = attach(bind("127.0.0.1", 0), engine, api_key=None)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        addr = server.server_address[:2]
        try:
            t_w = time.perf_counter()
            run_level(addr, "bench", prompts, 1, 1, args.new_tokens, args.temperature)  # warm-up (compiles the static loop)
            sync(args.device)
            notes.append(f"{label}: warm-up request {time.perf_counter() - t_w:.1f}s")
            if engine.batcher is not None and engine.batcher.solo_static:
                notes.append(f"{label}: lone requests on the static loop; " + wait_static(engine, prompts, args))
            if engine.batcher is not None and engine.batcher.batch_static:
                notes += [f"{label}: {n}" for n in wait_slots(engine, prompts, args, levels)]
            table[label] = []
            for clients in levels:
                row = summarise([run_level(addr, "bench", prompts, clients,
                                           args.rounds if clients > 1 else args.rounds + 1, args.new_tokens,
                                           args.temperature) for _ in range(args.repeats)])
                table[label].append(row)
                print(f"{label:48s} c={clients:<3d} {row['tps']:8.1f} tok/s ({row['tps_min']:.1f}-"
                      f"{row['tps_max']:.1f})  TTFT p50 {row['ttft50'] * 1e3:7.0f} ms "
                      f"p95 {row['ttft95'] * 1e3:7.0f} ms  latency p50 {row['lat50']:6.2f} s p95 "
                      f"{row['lat95']:6.2f} s  ({row['requests']} req)", flush=True)
            if engine.batcher is not None:
                notes.append(f"{label}: largest batch {engine.batcher.max_seen_batch}, "
                             f"{engine.batcher.steps} batched decode steps ({engine.batcher.slot_steps} on the compiled "
                             f"slot decoder), {engine.batcher.solo_replies} replies "
                             f"begun alone on the static loop, {engine.batcher.handoffs} handed over to the batch")
        finally:
            server.shutdown()
            server.server_close()
            engine.close()

    base = table[workers[0][0]] if not args.batched_only else [{"tps": float("nan")}] * len(levels)
    lines = [f"**{header}**", "", "| worker | clients | requests | tokens/s, median (min-max) | vs one-at-a-time | "
             "TTFT p50 ms | TTFT p95 ms | latency p50 s | latency p95 s |", "|---|---|---|---|---|---|---|---|---|"]
    for label, _ in workers:
        for row, ref in zip(table[label], base):
            lines.append(f"| {label} | {row['clients']} | {row['requests']} | {row['tps']:.1f} "
                         f"({row['tps_min']:.1f}-{row['tps_max']:.1f}) | "
                         f"{row['tps'] / ref['tps']:.2f}x | {row['ttft50'] * 1e3:.0f} | {row['ttft95'] * 1e3:.0f} | "
                         f"{row['lat50']:.2f} | {row['lat95']:.2f} |")
    lines += [""] + [f"- {n}" for n in notes]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    out = os.environ.get("OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "serve_bench.md").write_text(text, encoding="utf-8")
        print(f"written to {out}/serve_bench.md")


if __name__ == "__main__":
    main()
