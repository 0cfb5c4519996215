"""Our own decode loop for the static KV cache (``SamplingSettings(static_cache=True)``).

``model.generate(cache_implementation="static")`` already replays a CUDA graph per token,
but spends the rest of each step in Python: logits processors, stopping criteria, the
streamer and a host sync. Here one decode step (forward of one token + repetition
penalty + temperature/top-p sampling or argmax + bookkeeping) is a single
``torch.compile(mode="reduce-overhead")`` function, i.e. one CUDA-graph replay, and the
loop launches step k+1 before it reads token k back to the host, so text decoding and
the ``on_text`` callback overlap with the GPU.

Sampling matches transformers' RepetitionPenaltyLogitsProcessor (over prompt and
generated ids), TemperatureLogitsWarper and TopPLogitsWarper; the draw uses the
exponential-race form of multinomial sampling (no host sync). Greedy output equals
``model.generate`` with a static cache.

On CPU, and for bitsandbytes-quantized models (not compilable), the same loop runs
eagerly. The first reply for a new cache size compiles (tens of seconds for a 7B model on
a GPU); cache sizes are rounded up to a multiple of ``CACHE_BUCKET`` tokens so later
replies reuse the graphs.

The default (``static_cache=None``, "auto") is the fast path without the wait: on a
compilable CUDA model, ``warm_decoder`` compiles a decoder in a background thread (on its
own CUDA stream; CUDA-graph capture waits for ``GPU_LOCK``, which an eager reply holds)
while replies are answered on the eager path; once warm, replies use it. Inductor's
on-disk caches make the next process compile faster."""

from __future__ import annotations

import inspect
import threading
import weakref
from typing import Any, Callable

CACHE_BUCKET = 512

_DECODERS: "weakref.WeakKeyDictionary[Any, dict[int, StaticDecoder]]" = weakref.WeakKeyDictionary()
_WARMING: "weakref.WeakKeyDictionary[Any, dict[int, threading.Thread]]" = weakref.WeakKeyDictionary()
_WARM_FAILED: "weakref.WeakKeyDictionary[Any, str]" = weakref.WeakKeyDictionary()
GPU_LOCK = threading.RLock()  # CUDA-graph capture must not overlap this process's other GPU work


def choose_token(logits, seen, temperature, top_p, penalty, sample: bool):
    """Next token id(s) from last-position logits [1, vocab]; ``seen`` [1, vocab] bool marks
    ids already in the context (repetition penalty). Tensor parameters, so one compiled graph
    serves every setting."""
    import torch

    scores = logits.float()
    penalised = torch.where(scores < 0, scores * penalty, scores / penalty)
    scores = torch.where(seen, penalised, scores)
    if not sample:
        return scores.argmax(-1)
    scores = scores / temperature
    sorted_scores, sorted_idx = torch.sort(scores, descending=False)
    cumulative = sorted_scores.softmax(-1).cumsum(-1)
    remove_sorted = cumulative <= (1 - top_p)
    remove_sorted[..., -1:] = False  # keep at least the most likely token
    remove = remove_sorted.scatter(-1, sorted_idx, remove_sorted)
    probs = scores.masked_fill(remove, float("-inf")).softmax(-1)
    # argmax(p / E), E ~ Exp(1), draws from p: multinomial without torch.multinomial's sync
    return (probs / torch.empty_like(probs).exponential_(1)).argmax(-1)


def _compilable(model, device) -> bool:
    if device.type != "cuda":
        return False
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    quantizer = getattr(base, "hf_quantizer", None)
    return quantizer is None or bool(getattr(quantizer, "is_compileable", False))


def _full_attention_config(config, max_len: int):
    """A sliding window at least as long as the cache is full attention; telling the cache
    so gives it plain static layers, whose position is a tensor. (Sliding static layers keep
    a Python int position, which torch.compile turns into a new graph, and cudagraphs into a
    new recording, at every step.)"""
    import copy

    text = config.get_text_config(decoder=True)
    window = getattr(text, "sliding_window", None)
    if not window or window < max_len:
        return config
    config = copy.deepcopy(config)
    text = config.get_text_config(decoder=True)
    text.sliding_window = None
    if getattr(text, "layer_types", None):
        text.layer_types = ["full_attention" for _ in text.layer_types]
    return config


class StaticDecoder:
    """A static cache of ``max_len`` positions and the (compiled) one-token step for one model."""

    def __init__(self, model, max_len: int, compile_step: bool) -> None:
        import torch
        from transformers import StaticCache

        self.model = model
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.max_len = max_len
        self.device = next(model.parameters()).device
        self.cache = StaticCache(config=_full_attention_config(base.config, max_len), max_cache_len=max_len)
        # transformers < 5.2x routes positions through cache_position, later ones through
        # position_ids (and the cache's own counter); pass both where accepted.
        params = inspect.signature(base.forward).parameters
        self.pass_cache_position = "cache_position" in params
        self.cache_kwarg = "cache" if "cache" in params else "past_key_values"  # renamed in transformers 5.3x
        self.warm = not compile_step  # an eager decoder needs no warm-up
        self.compiled_step = compile_step
        vocab = base.get_output_embeddings().weight.shape[0]
        self.seen = torch.zeros((1, vocab), dtype=torch.bool, device=self.device)
        self.pos = torch.zeros((1,), dtype=torch.long, device=self.device)
        self.params = torch.ones((3,), dtype=torch.float32, device=self.device)  # temperature, top_p, penalty
        if compile_step:
            for t in (self.seen, self.pos, self.params):
                torch._dynamo.mark_static_address(t)
            raise_recompile_limit()
            self.step = torch.compile(self._step, mode="reduce-overhead", fullgraph=True)
        else:
            self.step = self._step

    def _forward(self, ids, positions, **extra):
        kwargs: dict[str, Any] = {"cache_position": positions[0]} if self.pass_cache_position else {}
        kwargs[self.cache_kwarg] = self.cache
        out = self.model(input_ids=ids, position_ids=positions, use_cache=True, **kwargs, **extra)
        return out.logits[:, -1, :]

    def _choose(self, logits, sample: bool):
        nxt = choose_token(logits, self.seen, self.params[0], self.params[1], self.params[2], sample)
        self.seen.scatter_(1, nxt.view(1, 1), True)
        return nxt

    def _step(self, token, sample: bool):
        logits = self._forward(token.view(1, 1), self.pos.view(1, 1))
        self.pos.add_(1)
        return self._choose(logits, sample)

    def prefill(self, input_ids: list[int], temperature: float, top_p: float, penalty: float, sample: bool):
        """Reset the cache, run the prompt (eagerly: prompt lengths vary) and pick the first token."""
        import torch

        self.cache.reset()
        ids = torch.tensor([input_ids], dtype=torch.long, device=self.device)
        self.seen.zero_()
        self.seen.scatter_(1, ids, True)
        self.params.copy_(torch.tensor([temperature or 1.0, top_p, penalty]))
        positions = torch.arange(len(input_ids), device=self.device).unsqueeze(0)
        logits = self._forward(ids, positions, logits_to_keep=1)
        self.pos.fill_(len(input_ids))
        return self._choose(logits, sample)

    def exercise(self, stream) -> None:
        """Compile (and, on a GPU, record) the step for greedy and sampled replies."""
        for sample in (False, True):
            first = self.prefill([0] * 8, 1.0, 1.0, 1.0, sample)
            self.step(first, sample)  # compiles and runs once (no capture): no lock needed
            with GPU_LOCK:  # the next calls record and replay the CUDA graph
                for _ in range(2):
                    self.step(first, sample)
                if stream is not None:
                    stream.synchronize()


def decoder_for(model, needed: int) -> StaticDecoder:
    """The model's decoder for a cache of at least ``needed`` positions (bucketed, reused)."""
    size = _bucket(needed)
    per_model = _DECODERS.setdefault(model, {})
    if size not in per_model:
        device = next(model.parameters()).device
        per_model[size] = StaticDecoder(model, size, _compilable(model, device))
    return per_model[size]


def _bucket(needed: int) -> int:
    return -(-needed // CACHE_BUCKET) * CACHE_BUCKET


def compilable(model) -> bool:
    return _compilable(model, next(model.parameters()).device)


def warm_decoder(model, needed: int, on_failure=None) -> bool:
    """True when a compiled decoder for ``needed`` positions is ready; otherwise start
    compiling it in the background (once) and return False: answer on the eager path."""
    size = _bucket(needed)
    return ensure_warm(model, size, lambda: _new_decoder(model, size), on_failure)


def ensure_warm(model, key, make: Callable[[], Any], on_failure=None, start: bool = True,
                failures: "weakref.WeakKeyDictionary[Any, str] | None" = None) -> bool:
    """True when the compiled decoder registered under ``key`` is ready; otherwise start
    ``make()`` + its ``exercise()`` in a background thread (once per key; not when
    ``start`` is False) and return False. After a failed compile, the decoders sharing its
    ``failures`` registry (default: the lone-request loop's) are not tried again."""
    failures = _WARM_FAILED if failures is None else failures
    ready = _DECODERS.get(model, {}).get(key)
    if ready is not None and ready.warm:
        return True
    if not start or model in failures or not compilable(model):
        return False
    warming = _WARMING.setdefault(model, {})
    if key not in warming:
        thread = threading.Thread(target=_warm_up, args=(model, key, make, on_failure, failures), daemon=True,
                                  name=f"clonekit-compile-{key}")
        warming[key] = thread
        thread.start()
    return False


def _new_decoder(model, size: int) -> "StaticDecoder":
    return StaticDecoder(model, size, compile_step=True)


COMPILE_SWITCH_INTERVAL = 0.0005  # s; Python's default is 0.005
_COMPILE_LOCK = threading.Lock()


def _warm_up(model, key, make, on_failure, failures) -> None:
    """Compile one decoder; one at a time. While it runs, Python switches threads 10x as
    often: every eager torch op releases the GIL and waits up to the switch interval to get
    it back from the compiling thread, so an eager reply beside a compile ran ~20x slower
    at the default (CPU, small model: 3-11 tokens/s during the compile at 5 ms, 10-22 at
    0.2 ms, against ~200 alone; 0.5 ms sits between). On the H200 a fresh server's first
    64-token reply took 162 s beside two concurrent compiles, 32 s with this."""
    import sys

    with _COMPILE_LOCK:
        previous = sys.getswitchinterval()
        sys.setswitchinterval(min(previous, COMPILE_SWITCH_INTERVAL))
        try:
            _compile(model, key, make, on_failure, failures)
        finally:
            sys.setswitchinterval(previous)


def _compile(model, key, make, on_failure, failures) -> None:
    import contextlib

    import torch

    try:
        cudagraph_thread_state()
        decoder = make()
        stream = torch.cuda.Stream(device=decoder.device) if decoder.device.type == "cuda" else None
        with torch.inference_mode(), (torch.cuda.stream(stream) if stream else contextlib.nullcontext()):
            decoder.exercise(stream)
        decoder.warm = True
        _DECODERS.setdefault(model, {})[key] = decoder
    except Exception as err:  # noqa: BLE001 — the eager path keeps answering; say why once
        failures[model] = str(err).splitlines()[0] if str(err) else type(err).__name__
        if on_failure is not None:
            on_failure(failures[model])


_THREAD_TREES: list = []  # every thread's CUDA-graph trees, kept alive after the thread ends


def cudagraph_thread_state() -> None:
    """Give this thread inductor's CUDA-graph tree state, and keep it alive for the
    process. torch 2.11 sets it up only in the thread that first imported the module (and
    autograd's threads) and asserts elsewhere (later versions set it up lazily); a graph
    compiled in the background thread is replayed from the worker thread, which records
    its own copy once. The state is thread-local, so without the reference kept here a
    thread that ends (the compile thread, a closed server's worker) frees graphs and
    memory pools that outputs may still point into (a bench process that closed one server
    and started the next segfaulted once on the H200 before this; not since)."""
    import collections

    import torch

    try:
        from torch._inductor import cudagraph_trees
    except ImportError:  # a torch without inductor: nothing is compiled anyway
        return
    local = cudagraph_trees.local
    if hasattr(local, "tree_manager_containers"):
        return
    if torch._C._is_key_in_tls("tree_manager_containers"):
        return  # an autograd thread: it shares its parent's state
    local.tree_manager_containers = {}
    local.tree_manager_locks = collections.defaultdict(threading.Lock)
    _THREAD_TREES.append((local.tree_manager_containers, local.tree_manager_locks))


def raise_recompile_limit() -> None:
    """Every decoder compiles the same step function for its own buffers; dynamo counts
    those as recompiles of one function and falls back to eager after 8 by default."""
    import torch

    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(torch._dynamo.config, name) and getattr(torch._dynamo.config, name) < 64:
            setattr(torch._dynamo.config, name, 64)


def static_decode(model, input_ids: list[int], max_new_tokens: int, temperature: float, top_p: float,
                  penalty: float, on_token: Callable[[int], bool]):
    """Decode up to ``max_new_tokens`` tokens; ``on_token(id)`` returns False to stop.

    Stopped early, returns ``(decoder, next_token)``: the token already chosen after the
    last one reported (not yet in the cache), so a caller can carry on elsewhere with
    ``decoder.cache`` up to ``decoder.pos`` (trainer.batching hands a lone reply over to
    the batch this way); valid until the next call. Otherwise None."""
    import torch

    limit = getattr(model.config, "max_position_embeddings", None)
    if limit and len(input_ids) + max_new_tokens > limit:
        max_new_tokens = max(0, limit - len(input_ids))
    if max_new_tokens == 0:
        return None
    sample = temperature > 0
    decoder = decoder_for(model, len(input_ids) + max_new_tokens)
    cuda = decoder.device.type == "cuda"
    if decoder.compiled_step:
        cudagraph_thread_state()
    host = torch.empty((1,), dtype=torch.long, pin_memory=cuda)
    ready = torch.cuda.Event() if cuda else None
    with torch.inference_mode(), GPU_LOCK:
        nxt = decoder.prefill(input_ids, temperature, top_p, penalty, sample)
        for i in range(max_new_tokens):
            current = nxt
            host.copy_(current, non_blocking=cuda)
            if ready is not None:
                ready.record()
            if i + 1 < max_new_tokens:
                # launched before token i is read back: the GPU works while we stream
                nxt = decoder.step(current, sample).clone()
            if ready is not None:
                ready.synchronize()
            if not on_token(int(host[0])):
                decoder.warm = True
                return (decoder, nxt) if i + 1 < max_new_tokens else None
    decoder.warm = True  # compiled (or eager) and run: the auto path may use it too
    return None
