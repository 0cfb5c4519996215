"""Continuous batching for ``clonekit serve``: every request in flight shares one forward
pass per generated token, so the fifth friend does not wait for four replies.

One worker thread owns the model. Each loop turn it (1) takes every request that arrived
since the last step (up to ``max_batch`` in flight), prefills them together (left-padded,
one forward) and appends their key/value rows to the running batch; (2) runs one decode
step for the whole batch; (3) hands each request its new token (streamed through the same
incremental decoder / stop-string logic as the one-at-a-time path) and drops the rows of
requests that finished or were cancelled. New requests therefore join at the next step
and finished ones leave at once.

The batch cache is a transformers ``DynamicCache`` whose rows are left-padded to a common
length; a 2-D attention mask hides the padding and explicit position ids keep every row's
RoPE positions exactly those of an unbatched run, so greedy replies equal unbatched ones.
Columns that are padding for every remaining row are trimmed when a request leaves.

Sampling is per request: repetition penalty, temperature, top-p and greedy-or-not are
per-row tensors; a request with a ``seed`` draws its noise from its own generator, so its
reply does not depend on who else is in the batch.

On a GPU (``batch_static``) the batch moves onto the compiled slot decoder
(trainer.slot_decode: one CUDA-graph replay per step for the whole batch, rows at their own
positions in a static cache) as soon as one is warm for its size; the eager batch above
answers meanwhile (each size compiles once, in the background), and takes the rows back
when the batch outgrows its slots or cache length, or a seeded request joins. Requests
then join by loading into a free slot and leave by freeing theirs.

A lone request (``solo_static``, the default on a GPU) runs on the compiled static-cache
loop (trainer.static_decode: one CUDA-graph replay per token, ~4x the eager step) once its
background compile is done; when another request arrives meanwhile, the lone one stops
there and its cache rows and next token move into the batch, so nobody waits for it.

Admission control keeps the batch's key/value cache inside a token budget
(``max_batch_tokens``; by default half the GPU memory free once the model is loaded, divided
by the cache bytes one token costs; on a CPU every row may hold a full context). Because
rows are left-padded to a common length, what the cache holds is rows x longest row, so a
request is admitted only when (rows + 1) x the longest prompt + max_new_tokens among them
fits; otherwise it waits, first come first served (a request at the head of the queue is
never overtaken). One that can't fit even alone is refused (400) at once.

If the GPU still runs out of memory during a step, the batch cache is dropped, every
request in it goes back to the front of the queue in the order it was admitted, and the
budget is lowered to 3/4 of what the failed step held (never below the oldest request's
own need; it stays lowered while the server runs), so the most recently admitted ones
wait. A request that had already streamed text is not restarted: it is re-admitted with
its prompt plus the tokens it already produced (one prefill), and carries on where it
stopped, same streamer, same seeded generator, so the client only sees a pause. Only a
request that runs out of memory alone fails, with a 503."""

from __future__ import annotations

import collections
import queue
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from builder.events import CancelToken
from trainer.generate import SamplingSettings, _CallbackStreamer, _reply

DEFAULT_MAX_BATCH = 32
KV_MEMORY_FRACTION = 0.5  # of the GPU memory free after loading; the rest is for prefill activations
OOM_SHRINK = 0.75  # budget after an out-of-memory step, as a fraction of what that step held


@dataclass
class BatchJob:
    """What a request hands the worker. ``emit`` receives text pieces, then the Reply (or
    an Exception); it must not block."""
    input_ids: list[int]
    settings: SamplingSettings
    stop: list[str]
    seed: int | None
    emit: Callable[[Any], None]
    cancel: CancelToken = field(default_factory=CancelToken)


@dataclass(eq=False)
class _Row:
    job: BatchJob
    streamer: _CallbackStreamer
    generator: Any  # torch.Generator for seeded requests, else None
    produced: int = 0
    budget: int = 0
    tokens: list[int] = field(default_factory=list)  # generated so far (re-prefilled after an eviction)
    done: bool = False  # its Reply (or error) was emitted
    slot: int = -1  # its slot while the batch runs on the compiled slot decoder

    @property
    def need(self) -> int:
        """Cache tokens this row may come to hold: prompt + every token it may generate."""
        return len(self.job.input_ids) + self.budget


def kv_bytes_per_token(config, dtype) -> int:
    """Key/value cache bytes one token costs: layers x 2 (K and V) x kv heads x head dim x
    dtype bytes. Configs without num_key_value_heads use one kv head per attention head;
    without head_dim, hidden_size / heads. A non-float weight dtype (4-bit) computes in 16 bits."""
    import torch

    cfg = config.get_text_config() if hasattr(config, "get_text_config") else config

    def first(*names):
        for name in names:
            value = getattr(cfg, name, None)
            if value:
                return int(value)
        return 0
    layers = first("num_hidden_layers", "n_layer", "num_layers")
    heads = first("num_attention_heads", "n_head")
    kv_heads = first("num_key_value_heads", "num_kv_heads") or heads
    head_dim = first("head_dim") or (first("hidden_size", "n_embd") // max(heads, 1))
    dtype = dtype if isinstance(dtype, torch.dtype) and dtype.is_floating_point else torch.bfloat16
    size = torch.empty((), dtype=dtype).element_size()
    return max(1, layers * 2 * kv_heads * head_dim * size)


def _slot_ok(row: _Row) -> bool:
    """Rows the slot decoder may run: not seeded (a seeded row's draws come from its own
    generator, on the eager batch) and not asked to stay off compiled decoding."""
    return row.job.seed is None and row.job.settings.static_cache is not False


def is_out_of_memory(err: BaseException) -> bool:
    import torch

    return isinstance(err, torch.cuda.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and "out of memory" in str(err))


def _footprint(needs: list[int]) -> int:
    """Cache tokens a left-padded batch of these rows may come to hold."""
    return len(needs) * max(needs) if needs else 0


TOP_K_PREFILTER = 256  # top-p looks here first; a row whose nucleus is wider sorts everything


def choose_tokens(logits, seen, temperature, top_p, penalty, sample, noise):
    """Next ids [B] from last-position logits [B, V] with per-row settings ([B, 1] tensors;
    ``sample`` [B] bool). ``noise(width, rows)`` gives Exp(1) draws [B, width] for the rows
    flagged in ``rows`` (others unused), so a seeded row's generator is only drawn from for
    the path that row takes. Same arithmetic as trainer.static_decode.choose_token
    (transformers' repetition penalty, temperature, top-p): a token is dropped when the
    probability mass ranked above it already reaches top_p. When the top 256 candidates
    hold the nucleus (a trained model, nearly always) only they are looked at, instead
    of sorting the whole vocabulary per row: on a CPU that sort is most of a step."""
    import torch

    scores = logits.float()
    penalised = torch.where(scores < 0, scores * penalty, scores / penalty)
    scores = torch.where(seen, penalised, scores)
    greedy = scores.argmax(-1)
    if not bool(sample.any()):
        return greedy
    scores = scores / temperature
    k = min(TOP_K_PREFILTER, scores.shape[-1])
    top_scores, top_idx = scores.topk(k, dim=-1)
    top_probs = (top_scores - scores.logsumexp(-1, keepdim=True)).exp()
    fast = sample & (top_probs.sum(-1) >= top_p.squeeze(-1) + 1e-4)
    drawn = greedy
    if bool(fast.any()):
        above = top_probs.cumsum(-1) - top_probs  # mass ranked strictly above each candidate
        kept = top_probs.masked_fill(above >= top_p, 0.0)
        pick = (kept / noise(k, fast)).argmax(-1)
        drawn = torch.where(fast, top_idx.gather(-1, pick.unsqueeze(-1)).squeeze(-1), drawn)
    slow = sample & ~fast
    if bool(slow.any()):
        sorted_scores, sorted_idx = torch.sort(scores, descending=False)
        cumulative = sorted_scores.softmax(-1).cumsum(-1)
        remove_sorted = cumulative <= (1 - top_p)
        remove_sorted[..., -1:] = False
        remove = remove_sorted.scatter(-1, sorted_idx, remove_sorted)
        probs = scores.masked_fill(remove, float("-inf")).softmax(-1)
        drawn = torch.where(slow, (probs / noise(scores.shape[-1], slow)).argmax(-1), drawn)
    return drawn


def cache_kwarg(model) -> str:
    """transformers renamed ``past_key_values`` to ``cache`` (5.3x); use whichever forward takes."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _pad_left(t, length: int, dim: int):
    import torch

    missing = length - t.shape[dim]
    if missing <= 0:
        return t
    shape = list(t.shape)
    shape[dim] = missing
    return torch.cat([torch.zeros(shape, dtype=t.dtype, device=t.device), t], dim=dim)


class BatchWorker:
    """The generation thread. ``submit`` never blocks; ``close`` ends the thread after the
    batch in flight is cancelled. ``max_batch_tokens``: the cache token budget (None: from
    free GPU memory, or max_batch full contexts on a CPU)."""

    def __init__(self, model, tokenizer, stop_ids: list[int], max_batch: int = DEFAULT_MAX_BATCH,
                 on_error: Callable[[Exception], None] | None = None, solo_static: bool | None = None,
                 max_batch_tokens: int | None = None, batch_static: bool | None = None) -> None:
        import torch

        self._torch = torch  # set first: the budget below asks CUDA for free memory
        self.model, self.tokenizer = model, tokenizer
        self.stop_ids = set(stop_ids)
        self.max_batch = max_batch
        self.on_error = on_error
        self.device = next(model.parameters()).device
        self.solo_static = self.device.type == "cuda" if solo_static is None else solo_static
        from trainer.static_decode import compilable

        # batch_static: None, the compiled slot decoder where it compiles (a GPU); True also
        # runs it uncompiled elsewhere (tests); False, always the eager batch
        self.batch_static = compilable(model) if batch_static is None else batch_static
        self.slot_steps = 0  # decode steps run on the slot decoder
        self.pipelined = True  # launch slot step k+1 before handing out step k (False: bench's A/B)
        self._slot_support: dict[int, bool] = {}  # cache length -> slot_decode.supported
        self.solo_replies = 0  # answered (or begun) alone on the static loop
        self.handoffs = 0  # lone replies moved into the batch when others arrived
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.vocab = base.get_output_embeddings().weight.shape[0]
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.context = int(getattr(base.config, "max_position_embeddings", 0) or 0)
        self.cache_kwarg = cache_kwarg(base)
        self.kv_bytes_per_token = kv_bytes_per_token(base.config, getattr(base, "dtype", None))
        self.max_batch_tokens = max_batch_tokens or self._default_budget()
        self.token_budget = self.max_batch_tokens  # lowered after an out-of-memory step
        self.incoming: "queue.Queue[BatchJob | None]" = queue.Queue()
        self.waiting: "collections.deque[_Row]" = collections.deque()  # worker thread only; FIFO
        self.rows: list[_Row] = []
        self._reset_batch()
        self.steps = 0  # decode steps run (for tests and stats)
        self.max_seen_batch = 0
        self.peak_cache_tokens = 0  # most cache positions (rows x columns, padding included) ever held
        self.ooms = 0  # out-of-memory steps recovered from
        self.evictions = 0  # requests sent back to the queue by them
        self.thread = threading.Thread(target=self._loop, name="clonekit-batch", daemon=True)
        self.thread.start()

    def _reset_batch(self) -> None:
        self.slots = None  # SlotDecoder the rows live in, instead of the eager batch below
        self.in_flight = None  # the slot step launched but not yet handed out: (host ids, event, [(row, slot)])
        self.cache = None  # DynamicCache; each layer's keys/values [B, heads, T, dim], left-padded
        self.mask = None  # [B, T] long
        self.positions = None  # [B] next position per row
        self.seen = None  # [B, V] bool
        self.last = None  # [B] last chosen token
        self.params = None  # temperature, top_p, penalty: [B, 3]
        self.sample = None  # [B] bool

    def _default_budget(self) -> int:
        if self.device.type == "cuda":
            free, _ = self._torch.cuda.mem_get_info(self.device)
            return max(1, int(free * KV_MEMORY_FRACTION) // self.kv_bytes_per_token)
        return self.max_batch * (self.context or 4096)

    def need(self, prompt_tokens: int, max_new_tokens: int) -> int:
        """Cache tokens a request may come to hold (max_new_tokens capped by the context)."""
        if self.context:
            max_new_tokens = max(0, min(max_new_tokens, self.context - prompt_tokens))
        return prompt_tokens + max_new_tokens

    def too_large(self, prompt_tokens: int, max_new_tokens: int) -> str | None:
        """Why a request can never be admitted, even alone; None when it can."""
        need = self.need(prompt_tokens, max_new_tokens)
        if need <= self.token_budget:
            return None
        return (f"prompt ({prompt_tokens} tokens) plus max_tokens ({need - prompt_tokens}) is {need} tokens, over "
                f"this server's batch token budget of {self.token_budget} (--max-batch-tokens): send a shorter "
                "prompt or a smaller max_tokens")

    def submit(self, job: BatchJob) -> None:
        self.incoming.put(job)

    def pending(self) -> int:
        return self.incoming.qsize() + len(self.waiting) + len(self.rows)

    def close(self) -> None:
        self.incoming.put(None)

    # -- the loop -------------------------------------------------------------------------

    def _loop(self) -> None:
        torch = self._torch
        closing = False
        if self.device.type == "cuda":
            from trainer.static_decode import cudagraph_thread_state

            cudagraph_thread_state()
        while True:
            if not self.rows and not self.waiting:
                job = self.incoming.get()
                if job is None:
                    return
                self.waiting.append(self._new_row(job))
            while True:
                try:
                    job = self.incoming.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    closing = True
                    break
                self.waiting.append(self._new_row(job))
            new = self._take()
            try:
                with torch.inference_mode():
                    if len(new) == 1 and not self.rows and not new[0].tokens and self._try_solo(new[0]):
                        pass  # answered alone on the static loop, or handed over into self.rows
                    elif new:
                        with self._gpu_lock():
                            self._admit(new)
                    if self.rows:
                        with self._gpu_lock():
                            self._decode_step()
            except Exception as err:  # noqa: BLE001 — every request in flight gets it; the worker lives on
                if is_out_of_memory(err):
                    # the traceback's frames still hold the failed step's tensors: let them go first
                    traceback.clear_frames(err.__traceback__)
                    self._recover(new)
                else:
                    for row in self.rows + [r for r in new if r not in self.rows]:
                        self._finish(row, err)
                    self.rows = []
                    self._reset_batch()
                if self.on_error is not None:
                    self.on_error(err)
            if closing:
                for row in self.rows + list(self.waiting):
                    row.job.cancel.cancel()
                    self._finish(row, _reply(row.streamer, row.job.cancel, row.job.input_ids))
                self.rows = []
                self.waiting.clear()
                return

    def _new_row(self, job: BatchJob) -> _Row:
        return _Row(job, self._streamer(job), None, budget=self._budget(job))

    def _finish(self, row: _Row, item: Any) -> None:
        if not row.done:
            row.done = True
            row.job.emit(item)

    def _take(self) -> list[_Row]:
        """The waiting requests to admit now: from the head of the queue, while the batch
        has a free row and the padded cache would stay inside the token budget. A request
        that can't fit even alone is refused; a cancelled one is answered at once."""
        from trainer.serve_protocol import RequestError

        taken: list[_Row] = []
        needs = [r.need for r in self.rows]
        while self.waiting and len(self.rows) + len(taken) < self.max_batch:
            row = self.waiting[0]
            if row.job.cancel.cancelled:
                self.waiting.popleft()
                self._finish(row, _reply(row.streamer, row.job.cancel, row.job.input_ids))
                continue
            if row.need > self.token_budget:
                self.waiting.popleft()
                reason = self.too_large(len(row.job.input_ids), row.budget) or ""
                if row.need <= self.max_batch_tokens:  # fitted once: the budget was lowered after an OOM
                    self._finish(row, RequestError(503, "the server ran short of memory: " + reason,
                                                   code="server_overloaded"))
                else:
                    self._finish(row, RequestError(400, reason, "max_tokens", code="max_batch_tokens_exceeded"))
                continue
            if _footprint(needs + [row.need]) > self.token_budget:
                break  # first come first served: nobody overtakes the head of the queue
            self.waiting.popleft()
            needs.append(row.need)
            taken.append(row)
        return taken

    def _recover(self, new: list[_Row]) -> None:
        """An out-of-memory step: drop the cache, send every request in it back to the front
        of the queue (admission order) and lower the budget so the newest ones wait. A
        request that ran out of memory alone gets a 503."""
        from trainer.serve_protocol import RequestError

        torch = self._torch
        attempted = [r for r in self.rows + [r for r in new if r not in self.rows] if not r.done]
        held = _footprint([r.need for r in attempted])
        self.rows = []
        self._reset_batch()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        self.ooms += 1
        if len(attempted) <= 1:
            for row in attempted:
                self._finish(row, RequestError(503, f"out of memory generating this reply ({row.need} tokens) "
                                               "even alone; retry later or lower max_tokens",
                                               code="server_overloaded"))
            return
        self.token_budget = max(attempted[0].need, int(min(self.token_budget, held) * OOM_SHRINK))
        fits = 1
        while fits < len(attempted) and _footprint([r.need for r in attempted[:fits + 1]]) <= self.token_budget:
            fits += 1
        self.evictions += len(attempted) - fits
        self.waiting.extendleft(reversed(attempted))

    def _note_footprint(self) -> None:
        if self.slots is not None:
            self.peak_cache_tokens = max(self.peak_cache_tokens, self.slots.slots * self.slots.max_len)
        elif self.mask is not None:
            self.peak_cache_tokens = max(self.peak_cache_tokens, self.mask.shape[0] * self.mask.shape[1])

    def _gpu_lock(self):
        """Eager CUDA work holds the lock a background CUDA-graph capture waits for."""
        import contextlib

        if self.device.type != "cuda":
            return contextlib.nullcontext()
        from trainer.static_decode import GPU_LOCK

        return GPU_LOCK

    def _budget(self, job: BatchJob) -> int:
        budget = job.settings.max_new_tokens
        if self.context:
            budget = max(0, min(budget, self.context - len(job.input_ids)))
        return budget

    def _streamer(self, job: BatchJob) -> _CallbackStreamer:
        streamer = _CallbackStreamer(self.tokenizer, self.stop_ids, None, [s for s in job.stop if s])
        streamer.on_text = job.emit
        return streamer

    def _try_solo(self, row: _Row) -> bool:
        """Run a lone request on the warm static loop; False when that doesn't apply (off,
        seeded: its draw must not depend on the path, someone waiting, not compiled yet)."""
        job = row.job
        if not self.solo_static or job.seed is not None or job.settings.static_cache is False \
                or not self.incoming.empty() or self.waiting:
            return False
        from trainer.static_decode import static_decode, warm_decoder

        budget = row.budget
        if budget == 0 or not warm_decoder(self.model, len(job.input_ids) + budget):
            return False
        handoff = []

        def on_token(tid: int) -> bool:
            row.produced += 1
            row.tokens.append(tid)
            if job.cancel.cancelled or not row.streamer.add_token(tid) or row.produced >= budget:
                return False
            if not self.incoming.empty():
                handoff.append(True)  # someone is waiting: carry on in the batch
                return False
            return True
        s = job.settings
        self.solo_replies += 1
        stopped = static_decode(self.model, job.input_ids, budget, s.temperature, s.top_p, s.repetition_penalty,
                                on_token)
        if handoff and stopped is not None:
            self._adopt(row, *stopped)
        else:
            row.streamer.end()
            self._finish(row, _reply(row.streamer, job.cancel, job.input_ids))
        return True

    def _adopt(self, row: _Row, decoder, next_token) -> None:
        """The batch starts from a reply the static loop began: its cache up to the
        decoder's position, its seen-token mask, and the token it already chose."""
        from transformers import DynamicCache

        torch = self._torch
        self.handoffs += 1
        pos = int(decoder.pos[0])
        self.cache = DynamicCache(ddp_cache_data=[(layer.keys[:, :, :pos], layer.values[:, :, :pos])
                                                  for layer in decoder.cache.layers])
        self.mask = torch.ones((1, pos), dtype=torch.long, device=self.device)
        self.positions = torch.tensor([pos], dtype=torch.long, device=self.device)
        self.seen = decoder.seen.clone()
        s = row.job.settings
        self.params = torch.tensor([[s.temperature or 1.0, s.top_p, s.repetition_penalty]], dtype=torch.float32,
                                   device=self.device)
        self.sample = torch.tensor([s.temperature > 0], dtype=torch.bool, device=self.device)
        self.rows = [row]
        self.last = next_token.view(1).clone()
        self._note_footprint()
        self._deliver(list(self.rows), self.last.tolist())

    def _admit(self, rows: list[_Row]) -> None:
        """Prefill the new requests together and add them to the batch: into free slots of
        the compiled slot decoder when they fit there, else into the eager batch. A request
        sent back by an out-of-memory step is prefilled with its prompt plus what it generated."""
        if self.slots is None and not self.rows:
            self.slots = self._slot_decoder(rows)
        if self.slots is not None:
            if self._fits_slots(rows):
                self._admit_slots(rows)
                return
            self._leave_slots()
        self._admit_eager(rows)

    def _prefill(self, rows: list[_Row]):
        """One left-padded forward over the rows' contexts: (DynamicCache, mask [R, T], last
        logits [R, V], seen [R, V], params [R, 3], sample [R])."""
        from transformers import DynamicCache

        torch = self._torch
        dev = self.device
        inputs = [r.job.input_ids + r.tokens for r in rows]
        longest = max(len(i) for i in inputs)
        ids = torch.full((len(rows), longest), self.pad_id, dtype=torch.long, device=dev)
        mask = torch.zeros((len(rows), longest), dtype=torch.long, device=dev)
        for i, tokens in enumerate(inputs):
            n = len(tokens)
            ids[i, longest - n:] = torch.tensor(tokens, dtype=torch.long, device=dev)
            mask[i, longest - n:] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache()
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                         logits_to_keep=1, **{self.cache_kwarg: cache})
        seen = torch.zeros((len(rows), self.vocab), dtype=torch.bool, device=dev)
        # padding points at each row's last (real) token: a scatter of False for the pad id
        # could otherwise race a True for the same id in the prompt
        seen.scatter_(1, torch.where(mask.bool(), ids, ids[:, -1:]), True)
        settings = [r.job.settings for r in rows]
        params = torch.tensor([[s.temperature or 1.0, s.top_p, s.repetition_penalty] for s in settings],
                              dtype=torch.float32, device=dev)
        sample = torch.tensor([s.temperature > 0 for s in settings], dtype=torch.bool, device=dev)
        for row in rows:
            if row.job.seed is not None and row.generator is None:
                row.generator = torch.Generator(device=dev)
                row.generator.manual_seed(row.job.seed)
        return cache, mask, out.logits[:, -1, :], seen, params, sample

    def _admit_eager(self, rows: list[_Row]) -> None:
        torch = self._torch
        cache, mask, logits, seen, params, sample = self._prefill(rows)
        chosen = self._choose(logits, rows, seen, params, sample)
        if self.cache is None:
            self.cache, self.mask, self.seen, self.params, self.sample = cache, mask, seen, params, sample
            self.positions = mask.sum(-1)
        else:
            length = max(self.mask.shape[1], mask.shape[1])
            for layer, new_layer in zip(self.cache.layers, cache.layers):
                layer.keys = torch.cat([_pad_left(layer.keys, length, 2), _pad_left(new_layer.keys, length, 2)])
                layer.values = torch.cat([_pad_left(layer.values, length, 2),
                                          _pad_left(new_layer.values, length, 2)])
            self.mask = torch.cat([_pad_left(self.mask, length, 1), _pad_left(mask, length, 1)])
            self.positions = torch.cat([self.positions, mask.sum(-1)])
            self.seen = torch.cat([self.seen, seen])
            self.params = torch.cat([self.params, params])
            self.sample = torch.cat([self.sample, sample])
        self.rows.extend(rows)
        self._note_footprint()
        self.last = chosen if self.last is None else torch.cat([self.last, chosen])
        self._deliver(rows, chosen.tolist())

    # -- the compiled slot decoder (trainer.slot_decode) ----------------------------------

    def _slot_decoder(self, rows: list[_Row]):
        """A warm slot decoder that can hold ``rows`` (slot count rounded up to a power of
        two, cache length to the bucket of the longest need), or None: not on, seeded rows,
        over the token budget, a model it can't run, or still compiling (started now)."""
        from trainer import slot_decode, static_decode

        if not self.batch_static or not rows or not all(map(_slot_ok, rows)):
            return None
        slots = slot_decode.slot_bucket(len(rows))
        need = max(r.need for r in rows)
        length = static_decode._bucket(need)
        if length not in self._slot_support:
            self._slot_support[length] = slot_decode.supported(self.model, length)
        if not self._slot_support[length]:
            return None
        known = slot_decode.slot_key(slots, need) in static_decode._DECODERS.get(self.model, {})
        if not known and slot_decode.held_tokens(self.model) + slots * length > self.token_budget:
            return None  # every slot decoder keeps its cache: together they stay inside the budget
        if static_decode.compilable(self.model):
            # a lone request has the static loop: compile slots once a batch shows up
            return slot_decode.ready_slots(self.model, slots, need, start=len(rows) > 1)
        return slot_decode.eager_slots(self.model, slots, need)

    def _fits_slots(self, rows: list[_Row]) -> bool:
        return (len(self.rows) + len(rows) <= self.slots.slots
                and all(_slot_ok(r) and r.need <= self.slots.max_len for r in rows))

    def _admit_slots(self, rows: list[_Row]) -> None:
        cache, mask, logits, seen, params, sample = self._prefill(rows)
        chosen = self._choose(logits, rows, seen, params, sample)
        lengths = mask.sum(-1).tolist()
        free = sorted(set(range(self.slots.slots)) - {r.slot for r in self.rows})
        for i, (row, slot, length) in enumerate(zip(rows, free, lengths)):
            layers = [(layer.keys[i, :, -length:], layer.values[i, :, -length:]) for layer in cache.layers]
            self.slots.load(slot, layers, length, chosen[i], seen[i], params[i], sample[i])
            row.slot = slot
        self.rows.extend(rows)
        self._note_footprint()
        self._deliver(rows, chosen.tolist())

    def _enter_slots(self) -> None:
        """Move the eager batch into a warm slot decoder, when there is one for it."""
        decoder = self._slot_decoder(self.rows)
        if decoder is None:
            return
        lengths = self.mask.sum(-1).tolist()
        for i, (row, length) in enumerate(zip(self.rows, lengths)):
            layers = [(layer.keys[i, :, -length:], layer.values[i, :, -length:]) for layer in self.cache.layers]
            decoder.load(i, layers, length, self.last[i], self.seen[i], self.params[i], self.sample[i])
            row.slot = i
        rows = self.rows
        self._reset_batch()
        self.rows, self.slots = rows, decoder
        self._note_footprint()

    def _slot_step(self) -> None:
        """Launch the next slot step, then hand out the tokens of the one before it: the GPU
        decodes while this thread streams text. A row that finished in between got one
        token too many from the step now running; it is never handed out, and a request
        loaded into that slot meanwhile is queued on the same stream after it."""
        torch = self._torch
        cuda = self.device.type == "cuda"
        self.slot_steps += 1
        ids = self.slots.step()
        host = torch.empty(ids.shape, dtype=ids.dtype, pin_memory=cuda)
        host.copy_(ids, non_blocking=cuda)
        event = torch.cuda.Event() if cuda else None
        if event is not None:
            event.record()
        launched = (host, event, [(r, r.slot) for r in self.rows])
        if not self.pipelined:
            self._hand_out(launched)
            return
        previous, self.in_flight = self.in_flight, launched
        if previous is not None:
            self._hand_out(previous)

    def _hand_out(self, step) -> None:
        host, event, launched = step
        if event is not None:
            event.synchronize()
        ids = host.tolist()
        rows = [(row, slot) for row, slot in launched if not row.done]
        self._deliver([row for row, _ in rows], [ids[slot] for _, slot in rows])

    def _drain(self) -> None:
        """Hand out the slot step in flight (before the slots' state is read back)."""
        step, self.in_flight = self.in_flight, None
        if step is not None:
            self._hand_out(step)

    def _leave_slots(self) -> None:
        """Move the rows from the slot decoder back into an eager (left-padded) batch."""
        from transformers import DynamicCache

        torch = self._torch
        self._drain()
        if self.slots is None:  # every row finished in that step
            return
        decoder, rows = self.slots, self.rows
        self._reset_batch()
        self.rows = rows
        if not rows:
            return
        index = torch.tensor([r.slot for r in rows], dtype=torch.long, device=self.device)
        lengths = decoder.pos.index_select(0, index).tolist()
        longest = max(lengths)
        self.mask = torch.zeros((len(rows), longest), dtype=torch.long, device=self.device)
        for i, length in enumerate(lengths):
            self.mask[i, longest - length:] = 1
        layers = []
        for layer in decoder.cache.layers:
            heads, dim = layer.keys.shape[1], layer.keys.shape[3]
            keys = layer.keys.new_zeros((len(rows), heads, longest, dim))
            values = layer.values.new_zeros((len(rows), heads, longest, layer.values.shape[3]))
            for i, (row, length) in enumerate(zip(rows, lengths)):
                keys[i, :, longest - length:] = layer.keys[row.slot, :, :length]
                values[i, :, longest - length:] = layer.values[row.slot, :, :length]
            layers.append((keys, values))
        self.cache = DynamicCache(ddp_cache_data=layers)
        self.positions = torch.tensor(lengths, dtype=torch.long, device=self.device)
        self.last = decoder.last.index_select(0, index)
        self.seen = decoder.seen.index_select(0, index)
        self.params = decoder.params.index_select(0, index)
        self.sample = decoder.sample.index_select(0, index)
        for row in rows:
            row.slot = -1

    # -- one step ---------------------------------------------------------------------------

    def _choose(self, logits, rows: list[_Row], seen, params, sample):
        torch = self._torch

        def noise(width: int, which):
            out = torch.empty((len(rows), width), dtype=torch.float32, device=self.device).exponential_(1)
            for i, flagged in enumerate(which.tolist()):
                if flagged and rows[i].generator is not None:  # drawn only when this row uses it
                    out[i] = torch.empty((width,), dtype=torch.float32,
                                         device=self.device).exponential_(1, generator=rows[i].generator)
            return out
        chosen = choose_tokens(logits[:, :self.vocab], seen, params[:, 0:1], params[:, 1:2], params[:, 2:3],
                               sample, noise)
        seen.scatter_(1, chosen.view(-1, 1), True)
        return chosen

    def _decode_step(self) -> None:
        self.steps += 1
        self.max_seen_batch = max(self.max_seen_batch, len(self.rows))
        if self.slots is not None:
            self._slot_step()
            return
        torch = self._torch
        batch = len(self.rows)
        self.mask = torch.cat([self.mask, torch.ones((batch, 1), dtype=torch.long, device=self.device)], dim=1)
        out = self.model(input_ids=self.last.view(batch, 1), attention_mask=self.mask,
                         position_ids=self.positions.view(batch, 1), use_cache=True, **{self.cache_kwarg: self.cache})
        self.positions = self.positions + 1
        self._note_footprint()
        self.last = self._choose(out.logits[:, -1, :], self.rows, self.seen, self.params, self.sample)
        self._deliver(list(self.rows), self.last.tolist())
        if self.rows and self.batch_static:
            self._enter_slots()

    def _deliver(self, rows: list[_Row], ids: list[int]) -> None:
        """Hand each row its token; drop the rows that are done."""
        finished = []
        for row, tid in zip(rows, ids):
            if row.budget == 0:
                done = True
            else:
                row.produced += 1
                row.tokens.append(int(tid))
                alive = not row.job.cancel.cancelled and row.streamer.add_token(int(tid))
                done = not alive or row.produced >= row.budget
            if done:
                row.streamer.end()
                self._finish(row, _reply(row.streamer, row.job.cancel, row.job.input_ids))
                finished.append(row)
        if not finished:
            return
        keep = [i for i, row in enumerate(self.rows) if row not in finished]
        self.rows = [self.rows[i] for i in keep]
        if not keep:
            self._reset_batch()
            return
        if self.slots is not None:
            return  # a finished row's slot is simply free for the next one
        torch = self._torch
        index = torch.tensor(keep, dtype=torch.long, device=self.device)
        self.mask = self.mask.index_select(0, index)
        lead = int((self.mask.cumsum(-1) == 0).sum(-1).min())  # padding shared by every row
        self.mask = self.mask[:, lead:]
        for layer in self.cache.layers:
            layer.keys = layer.keys.index_select(0, index)[:, :, lead:]
            layer.values = layer.values.index_select(0, index)[:, :, lead:]
        self.positions = self.positions.index_select(0, index)
        self.seen = self.seen.index_select(0, index)
        self.params = self.params.index_select(0, index)
        self.sample = self.sample.index_select(0, index)
        self.last = self.last.index_select(0, index)
