"""Streaming chat speed: time to first token and tokens/s of our streaming path
(trainer.generate.generate_reply, a callback streamer inside generate) against a plain
``model.generate`` call and against transformers' TextIteratorStreamer (generate on a
thread), on the same model in the same run, greedy, same prompt, same token count.

CPU (default): a small random-init Llama.
GPU: ``--device cuda --shape 7b`` builds a 7B-shaped Mistral (random init, bf16, on the
device, no download) and also reports tokens/s against the memory-bandwidth limit
(weight bytes read per token / HBM bandwidth). ``--static-cache`` adds the static KV
cache variant: plain ``generate(cache_implementation="static")`` (transformers compiles
the forward with CUDA graphs) against our streaming path, which then runs
trainer.static_decode's own loop (the whole decode step as one CUDA graph, token k read
back while step k+1 runs). Both compile on their first call for a cache size: the
warm-up time printed (tens of seconds for 7B) is that one-off cost.

    python bench/chat.py                                # CPU
    python bench/chat.py --device cuda --shape 7b --static-cache --new-tokens 128
    python bench/chat.py --device cuda --shape 7b --auto --static-cache   # + the default path

``--auto`` times the default (``static_cache=None``) from a cold start: replies come from
the eager path while the static loop compiles in a background thread; it reports how long
until the switch, how many replies were answered meanwhile, and the tokens/s after.
With $OUT set, the printed report is also written to $OUT/chat_bench.md.

Imports only torch, transformers, tokenizers and trainer.generate (no polars/openai)."""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainer.generate import SamplingSettings, generate_reply  # noqa: E402

SHAPES = {
    "small": dict(hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=8,
                  num_key_value_heads=4),
    "7b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
               num_key_value_heads=8),
}


def make_tokenizer(vocab_size: int):
    """A byte-level BPE trained here on random words (no download)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyzéàü😀🎉"
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(60000)]
    corpus = [" ".join(words[i:i + 50]) for i in range(0, len(words), 50)]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<|endoftext|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")


def make_model(shape: str, vocab: int, device: str):
    import torch
    from transformers import MistralConfig, MistralForCausalLM

    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    config = MistralConfig(vocab_size=vocab, max_position_embeddings=4096, tie_word_embeddings=False,
                           **SHAPES[shape])
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = MistralForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    return model.eval()


def weight_bytes_per_token(model) -> int:
    """Every weight is read once per decoded token, except the input embedding table
    (one row per token)."""
    emb = model.get_input_embeddings().weight
    return sum(p.numel() * p.element_size() for p in model.parameters()) - emb.numel() * emb.element_size()


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def plain_generate(model, ids, n: int, pad: int, stop: int, device: str, static: bool,
                   first_only: bool = False) -> tuple[float, int]:
    """``first_only``: stop after the first token (TTFT) with the same cache shape as a
    full call, so a static cache is not recompiled for it."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _First(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.ones(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

    extra: dict = {"cache_implementation": "static"} if static else {}
    if first_only:
        extra["stopping_criteria"] = StoppingCriteriaList([_First()])
    sync(device)
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n,
                             do_sample=False, eos_token_id=stop, pad_token_id=pad, **extra)
    sync(device)
    return time.perf_counter() - t0, out.shape[1] - ids.shape[1]


def ours(model, tok, ids_list, n: int, stop: int, device: str, static: bool) -> tuple[float, float, int]:
    settings = SamplingSettings(temperature=0, repetition_penalty=1.0, max_new_tokens=n, static_cache=static)
    first: list[float] = []
    sync(device)
    t0 = time.perf_counter()
    reply = generate_reply(model, tok, ids_list, settings, [stop],
                           on_text=lambda s: first.append(time.perf_counter()) if not first else None)
    sync(device)
    total = time.perf_counter() - t0
    return total, (first[0] - t0) if first else total, len(reply.token_ids)


def text_iterator(model, tok, ids, n: int, pad: int, stop: int, device: str) -> tuple[float, float, int]:
    import torch
    from transformers import TextIteratorStreamer

    streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
    kwargs = dict(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, do_sample=False,
                  eos_token_id=stop, pad_token_id=pad, streamer=streamer)

    def run() -> None:
        with torch.inference_mode():
            model.generate(**kwargs)
    sync(device)
    t0 = time.perf_counter()
    thread = threading.Thread(target=run)
    thread.start()
    first = None
    for piece in streamer:
        if first is None and piece:
            first = time.perf_counter()
    thread.join()
    sync(device)
    total = time.perf_counter() - t0
    return total, (first - t0) if first else total, n  # n tokens: the stop id is unreachable


def main() -> None:
    import torch
    import transformers

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="small")
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--prompt-tokens", type=int, default=200)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--static-cache", action="store_true", help="also time the static-cache (compiled) variant")
    ap.add_argument("--sampled", action="store_true",
                    help="also time a sampled reply (temperature 0.7, top-p 0.9) on the static-cache loop")
    ap.add_argument("--bandwidth-tbs", type=float, default=4.8, help="HBM bandwidth for the limit (H200: 4.8)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    ap.add_argument("--auto", action="store_true",
                    help="time the default path first: background compile, eager replies meanwhile")
    args = ap.parse_args()
    _Tee(os.environ.get("OUT"))
    if args.threads:
        torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    tok = make_tokenizer(args.vocab)
    model = make_model(args.shape, len(tok), args.device)
    setup = time.perf_counter() - t0
    # Never stop early: an end-of-turn id outside the vocabulary can't be produced, so every
    # variant decodes exactly n tokens and the comparison is like for like.
    stop = model.config.vocab_size
    rng = random.Random(1)
    ids_list = [rng.randrange(10, len(tok)) for _ in range(args.prompt_tokens)]
    ids = torch.tensor([ids_list], device=args.device)
    n = args.new_tokens
    gpu = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(f"# chat bench: {args.shape} ({sum(p.numel() for p in model.parameters()) / 1e6:.0f}M params, "
          f"{next(model.parameters()).dtype}), device {gpu}, torch {torch.__version__}, "
          f"transformers {transformers.__version__}, prompt {args.prompt_tokens} tok, {n} new tok, "
          f"best of {args.repeats}; setup {setup:.1f}s")

    if args.auto:
        auto_path(model, tok, ids_list, n, stop, args)
    variants = [False, True] if args.static_cache else [False]
    rows = []
    for static in variants:
        label = "static cache (compiled on CUDA)" if static else "dynamic cache"
        t_c = time.perf_counter()
        plain_generate(model, ids, n, tok.pad_token_id, stop, args.device, static)  # warm-up / compile
        warm = time.perf_counter() - t_c
        t_c = time.perf_counter()
        ours(model, tok, ids_list, n, stop, args.device, static)
        warm_ours = time.perf_counter() - t_c
        plain, plain_ttft, mine, mine_ttft, iters = [], [], [], [], []
        for _ in range(args.repeats):
            t, k = plain_generate(model, ids, n, tok.pad_token_id, stop, args.device, static)
            plain.append(k / t)
            plain_ttft.append(plain_generate(model, ids, n, tok.pad_token_id, stop, args.device, static,
                                             first_only=True)[0])
            t, ttft, k = ours(model, tok, ids_list, n, stop, args.device, static)
            mine.append(k / t)
            mine_ttft.append(ttft)
            if not static:
                t, ttft, k = text_iterator(model, tok, ids, n, tok.pad_token_id, stop, args.device)
                iters.append((k / t, ttft))
        best = max(mine)
        print(f"\n## {label} (warm-up: plain {warm:.1f}s, ours {warm_ours:.1f}s)")
        print("| path | TTFT ms | tokens/s |\n|---|---|---|")
        print(f"| plain model.generate | {min(plain_ttft) * 1e3:.1f} | {max(plain):.1f} |")
        print(f"| ours: generate_reply streaming | {min(mine_ttft) * 1e3:.1f} | {best:.1f} |")
        if iters:
            print(f"| TextIteratorStreamer (thread) | {min(i[1] for i in iters) * 1e3:.1f} | "
                  f"{max(i[0] for i in iters):.1f} |")
        print(f"\nours / plain tokens/s: {best / max(plain):.3f}   "
              f"TTFT ours / plain: {min(mine_ttft) / min(plain_ttft):.3f}   "
              f"(median ratio {statistics.median(mine) / statistics.median(plain):.3f})")
        if args.device.startswith("cuda"):
            limit = args.bandwidth_tbs * 1e12 / weight_bytes_per_token(model)
            print(f"bandwidth limit {limit:.0f} tok/s ({weight_bytes_per_token(model) / 1e9:.2f} GB/token at "
                  f"{args.bandwidth_tbs} TB/s): ours at {best / limit:.0%} of it")
        rows.append((label, best, max(plain)))
        if static:
            check_greedy(model, tok, ids, ids_list, n, stop, args.device)
    if args.sampled:
        settings = SamplingSettings(temperature=0.7, top_p=0.9, repetition_penalty=1.1, max_new_tokens=n,
                                    static_cache=True)
        for attempt in ("first (compiles the sampling graph)", "second"):
            sync(args.device)
            t0 = time.perf_counter()
            reply = generate_reply(model, tok, ids_list, settings, [stop], seed=0)
            sync(args.device)
            t = time.perf_counter() - t0
            print(f"sampled, static cache, {attempt}: {len(reply.token_ids)} tokens in {t:.2f}s "
                  f"= {len(reply.token_ids) / t:.1f} tok/s")


class _Tee:
    """print() also into $OUT/chat_bench.md when OUT is set."""

    def __init__(self, out: str | None) -> None:
        self.lines: list[str] = []
        self.path = Path(out) / "chat_bench.md" if out else None
        if self.path is not None:
            import builtins

            self.path.parent.mkdir(parents=True, exist_ok=True)
            real = builtins.print

            def tee(*a, **k):
                real(*a, **k)
                if k.get("file") in (None, sys.stdout):
                    self.lines.append(" ".join(str(x) for x in a))
                    self.path.write_text("\n".join(self.lines) + "\n", encoding="utf-8")
            builtins.print = tee


def auto_path(model, tok, ids_list, n: int, stop: int, args) -> None:
    """The default (static_cache=None) from cold: eager replies while compiling, then the switch."""
    from trainer import static_decode

    settings = SamplingSettings(temperature=0, repetition_penalty=1.0, max_new_tokens=n, static_cache=None)
    if not static_decode.compilable(model):
        print("\n## default path: not compilable here (CPU or quantized): the eager path, as 'dynamic cache'")
        return
    needed = len(ids_list) + n
    t_start = time.perf_counter()
    meanwhile: list[float] = []
    while True:
        sync(args.device)
        t0 = time.perf_counter()
        reply = generate_reply(model, tok, ids_list, settings, [stop])
        sync(args.device)
        rate = len(reply.token_ids) / (time.perf_counter() - t0)
        if static_decode.warm_decoder(model, needed):
            break
        meanwhile.append(rate)
        if model in static_decode._WARM_FAILED:
            print(f"\n## default path: background compile FAILED ({static_decode._WARM_FAILED[model]}); "
                  f"replies stay on the eager path at {statistics.median(meanwhile):.1f} tok/s")
            return
        if time.perf_counter() - t_start > 600:
            print("\n## default path: compile not done after 600 s")
            return
    switched = time.perf_counter() - t_start
    after = []
    for _ in range(args.repeats):
        sync(args.device)
        t0 = time.perf_counter()
        reply = generate_reply(model, tok, ids_list, settings, [stop])
        sync(args.device)
        after.append(len(reply.token_ids) / (time.perf_counter() - t0))
    print(f"\n## default path (static_cache auto): compiled in the background in {switched:.1f}s; "
          f"{len(meanwhile)} replies answered meanwhile on the eager path "
          f"(median {statistics.median(meanwhile) if meanwhile else float('nan'):.1f} tok/s); "
          f"after the switch: best {max(after):.1f} tok/s, median {statistics.median(after):.1f}")
    if args.device.startswith("cuda"):
        limit = args.bandwidth_tbs * 1e12 / weight_bytes_per_token(model)
        print(f"default path after the switch: {max(after) / limit:.0%} of the {limit:.0f} tok/s bandwidth limit")


def check_greedy(model, tok, ids, ids_list, n: int, stop: int, device: str) -> None:
    """Same tokens from our loop as from plain generate (bf16 near-ties may split late)."""
    import torch

    with torch.inference_mode():
        ref = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n,
                             do_sample=False, eos_token_id=stop, pad_token_id=tok.pad_token_id,
                             cache_implementation="static")[0, ids.shape[1]:].tolist()
    mine = generate_reply(model, tok, ids_list, SamplingSettings(temperature=0, repetition_penalty=1.0,
                                                                 max_new_tokens=n, static_cache=True),
                          [stop]).token_ids
    same = next((i for i, (a, b) in enumerate(zip(ref, mine)) if a != b), min(len(ref), len(mine)))
    print(f"greedy check: ours and plain generate agree on the first {same} of {len(ref)} tokens")


if __name__ == "__main__":
    main()
