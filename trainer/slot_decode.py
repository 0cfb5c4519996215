"""A compiled decode step for a whole batch (``clonekit serve``'s continuous batching on a GPU).

The eager batch (trainer.batching) launches some 15 kernels per layer per token from
Python, so a 16-row step of a 7B model is launch-bound. Here the batch lives in *slots*:
a static key/value cache of ``slots`` rows x ``max_len`` positions in which every row
keeps its own position. One decode step (forward of one token per slot, repetition
penalty, temperature/top-p or argmax per row) is a single
``torch.compile(mode="reduce-overhead")`` function, i.e. one CUDA-graph replay, whatever
the rows' lengths: each row writes its new key/value at its own position (a scatter),
attends to the columns up to it (a per-row mask) and uses it as its RoPE position.

Requests join by loading a prefilled row into a free slot (``load``) and leave by freeing
it; nothing is compacted, so joining and leaving never change a shape. A free slot still
runs through the step (its output is ignored): in a memory-bound decode that costs
compute, not bandwidth. The attention reads all ``max_len`` columns of every slot, so
``max_len`` is bucketed (trainer.static_decode.CACHE_BUCKET) and ``slots`` rounded up to a
power of two (``slot_bucket``), each pair compiled once, in the background.

Supported: models whose attention is ``sdpa`` or ``eager`` (a 4-D mask is passed as is)
and whose layers all attend to the full context once a sliding window at least as long as
the cache is dropped (trainer.static_decode._full_attention_config). Others, and rows with
a seed (their draws come from their own generator), stay on the eager batch."""

from __future__ import annotations

import weakref
from typing import Any

from trainer import static_decode
from trainer.batching import TOP_K_PREFILTER, cache_kwarg
from trainer.static_decode import GPU_LOCK, _bucket, _full_attention_config, ensure_warm, raise_recompile_limit

MIN_SLOTS = 4
# a slot compile that failed (why, per model): the batch stays eager, lone requests keep their loop
FAILED: "weakref.WeakKeyDictionary[Any, str]" = weakref.WeakKeyDictionary()


def slot_bucket(rows: int) -> int:
    """Slots for ``rows`` requests: the next power of two, at least MIN_SLOTS."""
    slots = MIN_SLOTS
    while slots < rows:
        slots *= 2
    return slots


def supported(model, max_len: int) -> bool:
    """Whether the slot decoder computes exactly what the model would for this cache length."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if getattr(base.config, "_attn_implementation", None) not in ("sdpa", "eager"):
        return False
    text = _full_attention_config(base.config, max_len).get_text_config(decoder=True)
    if getattr(text, "sliding_window", None) and text.sliding_window < max_len:
        return False
    return all(kind == "full_attention" for kind in (getattr(text, "layer_types", None) or ["full_attention"]))


def choose_rows(logits, seen, params, sample):
    """Next id per row, without a host sync (so it can live in a CUDA graph): transformers'
    repetition penalty, temperature and top-p (``params`` [S, 3]), then the exponential-race
    draw for rows with ``sample`` set and argmax for the others. As
    trainer.batching.choose_tokens's fast path: top-p ranks the TOP_K_PREFILTER most likely
    tokens (probabilities over the whole vocabulary), which is exact whenever they hold the
    nucleus (a trained model's nucleus is a few dozen tokens); a wider nucleus is cut at
    that rank. (A cumulative sum over the whole sorted vocabulary is what the eager path
    does; inductor fails to generate its split scan for several rows on a GPU.)"""
    import torch

    scores = logits.float()
    penalty = params[:, 2:3]
    scores = torch.where(seen, torch.where(scores < 0, scores * penalty, scores / penalty), scores)
    greedy = scores.argmax(-1)
    scaled = scores / params[:, 0:1]
    top_scores, top_idx = scaled.topk(min(TOP_K_PREFILTER, scaled.shape[-1]), dim=-1)
    top_probs = (top_scores - scaled.logsumexp(-1, keepdim=True)).exp()
    above = top_probs.cumsum(-1) - top_probs  # mass ranked strictly above each candidate
    kept = top_probs.masked_fill(above >= params[:, 1:2], 0.0)
    pick = (kept / torch.empty_like(kept).exponential_(1)).argmax(-1, keepdim=True)
    return torch.where(sample, top_idx.gather(-1, pick).squeeze(-1), greedy)


class _SlotLayer:
    """One layer's slot cache, in the shape transformers' cache layers have: ``update``
    writes each row's new key/value at that row's own position and returns the whole cache."""

    is_compileable = True
    is_sliding = False
    is_initialized = True

    def __init__(self, keys, values, pos) -> None:
        self.keys, self.values, self.pos = keys, values, pos
        self.max_cache_len = keys.shape[2]
        self.device = keys.device

    def update(self, key_states, value_states, *args, **kwargs):
        index = self.pos.view(-1, 1, 1, 1).expand(-1, key_states.shape[1], 1, key_states.shape[3])
        self.keys.scatter_(2, index, key_states)
        self.values.scatter_(2, index.expand(-1, -1, -1, value_states.shape[3]), value_states)
        return self.keys, self.values

    def get_seq_length(self, *args) -> int:
        return 0  # positions are per row and always passed explicitly

    def get_mask_sizes(self, *args, **kwargs) -> tuple[int, int]:
        return self.max_cache_len, 0

    def get_max_length(self) -> int:
        return self.max_cache_len


class SlotDecoder:
    """``slots`` rows of a static cache of ``max_len`` positions and the (compiled) step
    that decodes one token for all of them. Buffers, one entry per slot: ``last`` (the
    token to feed), ``pos`` (its position), ``seen`` (ids in the context, for the
    repetition penalty), ``params`` (temperature, top-p, penalty), ``sample``."""

    def __init__(self, model, slots: int, max_len: int, compile_step: bool) -> None:
        import torch
        from transformers import StaticCache

        self.model, self.slots, self.max_len = model, slots, max_len
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.device = next(model.parameters()).device
        self.cache = StaticCache(config=_full_attention_config(base.config, max_len), max_cache_len=max_len)
        self.cache.layers = []  # allocated by the first load, in the dtype the model's keys come out in
        self.layer_count = base.config.get_text_config(decoder=True).num_hidden_layers
        self.cache_kwarg = cache_kwarg(base)
        self.bool_mask = base.config._attn_implementation == "sdpa"
        vocab = base.get_output_embeddings().weight.shape[0]
        dev = self.device
        self.last = torch.zeros((slots,), dtype=torch.long, device=dev)
        self.pos = torch.zeros((slots,), dtype=torch.long, device=dev)
        self.seen = torch.zeros((slots, vocab), dtype=torch.bool, device=dev)
        self.params = torch.ones((slots, 3), dtype=torch.float32, device=dev)
        self.sample = torch.zeros((slots,), dtype=torch.bool, device=dev)
        self.columns = torch.arange(max_len, device=dev)
        self.compiled = compile_step
        self.warm = not compile_step
        self.mask_dtype = None
        if compile_step:
            for t in (self.last, self.pos, self.seen, self.params, self.sample, self.columns):
                torch._dynamo.mark_static_address(t)
            raise_recompile_limit()
            self.step = torch.compile(self._step, mode="reduce-overhead", fullgraph=True)
        else:
            self.step = self._step

    def _allocate(self, like) -> None:
        import torch

        _, heads, _, dim = like.shape
        shape = (self.slots, heads, self.max_len, dim)
        for _ in range(self.layer_count):
            keys = torch.zeros(shape, dtype=like.dtype, device=self.device)
            values = torch.zeros(shape, dtype=like.dtype, device=self.device)
            if self.compiled:
                torch._dynamo.mark_static_address(keys)
                torch._dynamo.mark_static_address(values)
            self.cache.layers.append(_SlotLayer(keys, values, self.pos))
        self.mask_dtype = like.dtype

    def _step(self):
        """One token for every slot; returns the chosen ids [slots] (a graph output: copy it
        before the next call)."""
        import torch

        allowed = self.columns.view(1, -1) <= self.pos.view(-1, 1)
        if self.bool_mask:
            mask = allowed
        else:
            mask = torch.zeros(allowed.shape, dtype=self.mask_dtype, device=self.device).masked_fill(
                ~allowed, torch.finfo(self.mask_dtype).min)
        out = self.model(input_ids=self.last.view(-1, 1), position_ids=self.pos.view(-1, 1),
                         attention_mask=mask.view(self.slots, 1, 1, self.max_len), use_cache=True,
                         **{self.cache_kwarg: self.cache})
        self.pos.add_(1).clamp_(max=self.max_len - 1)  # a free slot keeps stepping: stay inside the cache
        nxt = choose_rows(out.logits[:, -1, :], self.seen, self.params, self.sample)
        self.seen.scatter_(1, nxt.view(-1, 1), True)
        self.last.copy_(nxt)
        return nxt

    def load(self, slot: int, layers, length: int, last, seen, params, sample) -> None:
        """Put a prefilled request into ``slot``: ``layers`` is [(keys, values)] per layer, each
        [heads, length, dim] (its context), ``last`` the token chosen after it (a 0-d tensor),
        ``seen`` its [vocab] mask, ``params`` [3] and ``sample`` its settings."""
        if not self.cache.layers:
            self._allocate(layers[0][0].unsqueeze(0))
        for layer, (keys, values) in zip(self.cache.layers, layers):
            layer.keys[slot, :, :length] = keys
            layer.values[slot, :, :length] = values
        self.pos[slot] = length
        self.last[slot] = last
        self.seen[slot] = seen
        self.params[slot] = params
        self.sample[slot] = sample

    def row(self, slot: int):
        """A slot's context back out: [(keys, values)] per layer, [heads, pos, dim] each."""
        length = int(self.pos[slot])
        return [(layer.keys[slot, :, :length], layer.values[slot, :, :length]) for layer in self.cache.layers]

    def exercise(self, stream) -> None:
        """Compile, then (on a GPU) record the CUDA graph, on a dummy row in slot 0."""
        import torch

        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        from transformers import DynamicCache

        cache = DynamicCache()
        base(input_ids=torch.zeros((1, 8), dtype=torch.long, device=self.device), use_cache=True,
             **{self.cache_kwarg: cache})
        layers = [(layer.keys[0], layer.values[0]) for layer in cache.layers]
        self.load(0, layers, 8, self.last[0], self.seen[0], self.params[0], True)
        self.step()  # compiles and runs once (no capture): no lock needed
        with GPU_LOCK:  # the next calls record and replay the CUDA graph
            for _ in range(2):
                self.step()
            if stream is not None:
                stream.synchronize()


def slot_key(slots: int, needed: int) -> tuple[str, int, int]:
    return ("slots", slots, _bucket(needed))


def held_tokens(model) -> int:
    """Cache positions (slots x length) of every slot decoder this model has, compiled or
    compiling: each keeps its cache for the life of the process."""
    keys = set(static_decode._DECODERS.get(model, {})) | set(static_decode._WARMING.get(model, {}))
    return sum(key[1] * key[2] for key in keys if isinstance(key, tuple) and key[0] == "slots")


def ready_slots(model, slots: int, needed: int, on_failure=None, start: bool = True) -> "SlotDecoder | None":
    """The compiled slot decoder for ``slots`` rows of ``needed`` positions when it is warm;
    otherwise start compiling it in the background (once; not when ``start`` is False)
    and return None."""
    key = slot_key(slots, needed)
    if ensure_warm(model, key, lambda: SlotDecoder(model, slots, key[2], compile_step=True), on_failure, start,
                   FAILED):
        return static_decode._DECODERS[model][key]
    return None


def eager_slots(model, slots: int, needed: int) -> SlotDecoder:
    """An uncompiled slot decoder (CPU, tests), reused per size like the compiled ones."""
    key = slot_key(slots, needed)
    per_model = static_decode._DECODERS.setdefault(model, {})
    if key not in per_model:
        per_model[key] = SlotDecoder(model, slots, key[2], compile_step=False)
    return per_model[key]
