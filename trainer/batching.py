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

A lone request (``solo_static``, the default on a GPU) runs on the compiled static-cache
loop (trainer.static_decode: one CUDA-graph replay per token, ~4x the eager step) once its
background compile is done; when another request arrives meanwhile, the lone one stops
there and its cache rows and next token move into the batch, so nobody waits for it."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from builder.events import CancelToken
from trainer.generate import Reply, SamplingSettings, _CallbackStreamer, _reply

DEFAULT_MAX_BATCH = 32


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


@dataclass
class _Row:
    job: BatchJob
    streamer: _CallbackStreamer
    generator: Any  # torch.Generator for seeded requests, else None
    produced: int = 0
    budget: int = 0


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
    batch in flight is cancelled."""

    def __init__(self, model, tokenizer, stop_ids: list[int], max_batch: int = DEFAULT_MAX_BATCH,
                 on_error: Callable[[Exception], None] | None = None, solo_static: bool | None = None) -> None:
        import torch

        self.model, self.tokenizer = model, tokenizer
        self.stop_ids = set(stop_ids)
        self.max_batch = max_batch
        self.on_error = on_error
        self.device = next(model.parameters()).device
        self.solo_static = self.device.type == "cuda" if solo_static is None else solo_static
        self.solo_replies = 0  # answered (or begun) alone on the static loop
        self.handoffs = 0  # lone replies moved into the batch when others arrived
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.vocab = base.get_output_embeddings().weight.shape[0]
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.context = int(getattr(base.config, "max_position_embeddings", 0) or 0)
        self.cache_kwarg = cache_kwarg(base)
        self.incoming: "queue.Queue[BatchJob | None]" = queue.Queue()
        self.rows: list[_Row] = []
        self._torch = torch
        self._reset_batch()
        self.steps = 0  # decode steps run (for tests and stats)
        self.max_seen_batch = 0
        self.thread = threading.Thread(target=self._loop, name="clonekit-batch", daemon=True)
        self.thread.start()

    def _reset_batch(self) -> None:
        self.cache = None  # DynamicCache; each layer's keys/values [B, heads, T, dim], left-padded
        self.mask = None  # [B, T] long
        self.positions = None  # [B] next position per row
        self.seen = None  # [B, V] bool
        self.last = None  # [B] last chosen token
        self.params = None  # temperature, top_p, penalty: [B, 3]
        self.sample = None  # [B] bool

    def submit(self, job: BatchJob) -> None:
        self.incoming.put(job)

    def pending(self) -> int:
        return self.incoming.qsize() + len(self.rows)

    def close(self) -> None:
        self.incoming.put(None)

    # -- the loop -------------------------------------------------------------------------

    def _loop(self) -> None:
        torch = self._torch
        closing = False
        while True:
            new: list[BatchJob] = []
            if not self.rows:
                job = self.incoming.get()
                if job is None:
                    return
                new.append(job)
            while len(self.rows) + len(new) < self.max_batch:
                try:
                    job = self.incoming.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    closing = True
                    break
                new.append(job)
            try:
                with torch.inference_mode():
                    new = [j for j in new if not self._skip_cancelled(j)]
                    if len(new) == 1 and not self.rows and self._try_solo(new[0]):
                        pass  # answered alone on the static loop, or handed over into self.rows
                    elif new:
                        with self._gpu_lock():
                            self._admit(new)
                    if self.rows:
                        with self._gpu_lock():
                            self._decode_step()
            except Exception as err:  # noqa: BLE001 — every request in flight gets it; the worker lives on
                for row in self.rows:
                    row.job.emit(err)
                for job in new:
                    if not any(r.job is job for r in self.rows):
                        job.emit(err)
                self.rows = []
                self._reset_batch()
                if self.on_error is not None:
                    self.on_error(err)
            if closing:
                for row in self.rows:
                    row.job.cancel.cancel()
                    row.job.emit(_reply(row.streamer, row.job.cancel, row.job.input_ids))
                self.rows = []
                return

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

    def _try_solo(self, job: BatchJob) -> bool:
        """Run a lone request on the warm static loop; False when that doesn't apply (off,
        seeded: its draw must not depend on the path, someone waiting, not compiled yet)."""
        if not self.solo_static or job.seed is not None or job.settings.static_cache is False \
                or not self.incoming.empty():
            return False
        from trainer.static_decode import static_decode, warm_decoder

        budget = self._budget(job)
        if budget == 0 or not warm_decoder(self.model, len(job.input_ids) + budget):
            return False
        row = _Row(job, self._streamer(job), None, budget=budget)
        handoff = []

        def on_token(tid: int) -> bool:
            row.produced += 1
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
            job.emit(_reply(row.streamer, job.cancel, job.input_ids))
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
        self._deliver(self.last, 0)

    def _skip_cancelled(self, job: BatchJob) -> bool:
        if job.cancel.cancelled:
            job.emit(Reply("", [], len(job.input_ids), "cancelled"))
            return True
        return False

    def _admit(self, jobs: list[BatchJob]) -> None:
        """Prefill the new requests together and append them to the batch."""
        from transformers import DynamicCache

        torch = self._torch
        dev = self.device
        longest = max(len(j.input_ids) for j in jobs)
        ids = torch.full((len(jobs), longest), self.pad_id, dtype=torch.long, device=dev)
        mask = torch.zeros((len(jobs), longest), dtype=torch.long, device=dev)
        for i, job in enumerate(jobs):
            n = len(job.input_ids)
            ids[i, longest - n:] = torch.tensor(job.input_ids, dtype=torch.long, device=dev)
            mask[i, longest - n:] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache()
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                         logits_to_keep=1, **{self.cache_kwarg: cache})
        logits = out.logits[:, -1, :]
        new_layers = cache.layers

        seen = torch.zeros((len(jobs), self.vocab), dtype=torch.bool, device=dev)
        # padding points at each row's last (real) token: a scatter of False for the pad id
        # could otherwise race a True for the same id in the prompt
        seen.scatter_(1, torch.where(mask.bool(), ids, ids[:, -1:]), True)
        params = torch.tensor([[s.temperature or 1.0, s.top_p, s.repetition_penalty]
                               for s in (j.settings for j in jobs)], dtype=torch.float32, device=dev)
        sample = torch.tensor([j.settings.temperature > 0 for j in jobs], dtype=torch.bool, device=dev)
        rows = []
        for job in jobs:
            gen = None
            if job.seed is not None:
                gen = torch.Generator(device=dev)
                gen.manual_seed(job.seed)
            rows.append(_Row(job, self._streamer(job), gen, budget=self._budget(job)))

        if self.cache is None:
            self.cache, self.mask, self.seen, self.params, self.sample = cache, mask, seen, params, sample
            self.positions = mask.sum(-1)
            first_new = 0
        else:
            length = max(self.mask.shape[1], longest)
            for layer, new_layer in zip(self.cache.layers, new_layers):
                layer.keys = torch.cat([_pad_left(layer.keys, length, 2), _pad_left(new_layer.keys, length, 2)])
                layer.values = torch.cat([_pad_left(layer.values, length, 2),
                                          _pad_left(new_layer.values, length, 2)])
            self.mask = torch.cat([_pad_left(self.mask, length, 1), _pad_left(mask, length, 1)])
            self.positions = torch.cat([self.positions, mask.sum(-1)])
            self.seen = torch.cat([self.seen, seen])
            self.params = torch.cat([self.params, params])
            self.sample = torch.cat([self.sample, sample])
            first_new = len(self.rows)
        self.rows.extend(rows)
        chosen = self._choose(logits, first_new)
        self.last = chosen if first_new == 0 else torch.cat([self.last, chosen])
        self._deliver(chosen, first_new)

    def _choose(self, logits, first: int):
        torch = self._torch
        rows = self.rows[first:first + logits.shape[0]]
        seen = self.seen[first:first + len(rows)]
        params = self.params[first:first + len(rows)]
        sample = self.sample[first:first + len(rows)]

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
        torch = self._torch
        self.steps += 1
        self.max_seen_batch = max(self.max_seen_batch, len(self.rows))
        batch = len(self.rows)
        self.mask = torch.cat([self.mask, torch.ones((batch, 1), dtype=torch.long, device=self.device)], dim=1)
        out = self.model(input_ids=self.last.view(batch, 1), attention_mask=self.mask,
                         position_ids=self.positions.view(batch, 1), use_cache=True, **{self.cache_kwarg: self.cache})
        self.positions = self.positions + 1
        self.last = self._choose(out.logits[:, -1, :], 0)
        self._deliver(self.last, 0)

    def _deliver(self, chosen, first: int) -> None:
        """Hand each row its token; drop the rows that are done."""
        torch = self._torch
        ids = chosen.tolist()
        finished = []
        for offset, tid in enumerate(ids):
            index = first + offset
            row = self.rows[index]
            if row.budget == 0:
                done = True
            else:
                row.produced += 1
                alive = not row.job.cancel.cancelled and row.streamer.add_token(int(tid))
                done = not alive or row.produced >= row.budget
            if done:
                finished.append(index)
        if not finished:
            return
        for index in finished:
            row = self.rows[index]
            row.streamer.end()
            row.job.emit(_reply(row.streamer, row.job.cancel, row.job.input_ids))
        keep = [i for i in range(len(self.rows)) if i not in set(finished)]
        self.rows = [self.rows[i] for i in keep]
        if not keep:
            self._reset_batch()
            return
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
