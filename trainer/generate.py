"""Streaming generation with real sampling.

``generate_reply`` runs ``model.generate`` on the calling thread and hands each new piece
of text to ``on_text`` as soon as its token is sampled (a streamer that decodes
incrementally). Keeping generation on one thread, with no queue in between, costs nothing
over a plain ``generate`` call (bench/chat.py measures it) and lets a compiled, static-cache
model keep its CUDA graphs. With ``SamplingSettings(static_cache=True)`` our own decode
loop (trainer.static_decode: one CUDA-graph replay per token, compiled on the first call)
replaces ``model.generate``; the default (None) does so on a GPU as soon as a background
compile is done, answering on the eager path meanwhile. Callers that need an iterator (the server) run this on one
worker thread and pass pieces through a queue themselves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from builder.errors import ConfigError
from builder.events import NEVER_CANCELLED, CancelToken

MAX_NEW_TOKENS_LIMIT = 8192


@dataclass
class SamplingSettings:
    temperature: float = 0.7
    top_p: float = 0.95
    repetition_penalty: float = 1.1
    max_new_tokens: int = 256
    # static KV cache + our decode loop (trainer.static_decode), compiled on CUDA. None = auto:
    # on a compilable CUDA model compile in the background and use it once warm; else off.
    static_cache: bool | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.temperature <= 5.0:
            raise ConfigError(f"temperature: must be between 0 and 5 (got {self.temperature})")
        if not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"top_p: must be in (0, 1] (got {self.top_p})")
        if not 0.5 <= self.repetition_penalty <= 3.0:
            raise ConfigError(f"repetition_penalty: must be between 0.5 and 3 (got {self.repetition_penalty})")
        if not 1 <= self.max_new_tokens <= MAX_NEW_TOKENS_LIMIT:
            raise ConfigError(f"max_new_tokens: must be between 1 and {MAX_NEW_TOKENS_LIMIT} (got {self.max_new_tokens})")


@dataclass
class Reply:
    text: str
    token_ids: list[int]
    prompt_tokens: int
    finish_reason: str  # "stop" (end of turn / stop string) | "length" | "cancelled"


class IncrementalDecoder:
    """Turns a growing list of token ids into text deltas without re-decoding everything
    and without emitting half a multi-byte character (the prefix/read offset method)."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.prefix_offset = 0
        self.read_offset = 0

    def push(self, new_ids: list[int]) -> str:
        self.ids.extend(new_ids)
        decode = self.tokenizer.decode
        prefix = decode(self.ids[self.prefix_offset:self.read_offset], skip_special_tokens=True)
        full = decode(self.ids[self.prefix_offset:], skip_special_tokens=True)
        if len(full) > len(prefix) and not full.endswith("\ufffd"):
            self.prefix_offset = self.read_offset
            self.read_offset = len(self.ids)
            return full[len(prefix):]
        return ""

    def flush(self) -> str:
        decode = self.tokenizer.decode
        prefix = decode(self.ids[self.prefix_offset:self.read_offset], skip_special_tokens=True)
        full = decode(self.ids[self.prefix_offset:], skip_special_tokens=True)
        self.prefix_offset = self.read_offset = len(self.ids)
        return full[len(prefix):].replace("\ufffd", "")


class _CallbackStreamer:
    """transformers streamer protocol (put/end): the first put is the prompt."""

    def __init__(self, tokenizer, stop_ids: set[int], on_text: Callable[[str], None] | None,
                 stop_strings: list[str]) -> None:
        self.decoder = IncrementalDecoder(tokenizer)
        self.stop_ids = stop_ids
        self.on_text = on_text
        self.stop_strings = stop_strings
        self.seen_prompt = False
        self.text = ""
        self.emitted = 0  # chars of self.text already handed to on_text
        self.generated: list[int] = []
        self.hit_stop = False
        self.hit_stop_string = False

    def put(self, value) -> None:
        if not self.seen_prompt:
            self.seen_prompt = True
            return
        if self.hit_stop or self.hit_stop_string:
            return
        for tid in value.reshape(-1).tolist():
            if not self.add_token(int(tid)):
                break

    def add_token(self, tid: int) -> bool:
        """One generated id; False once the reply is over (end of turn or stop string)."""
        if tid in self.stop_ids:
            self.hit_stop = True
            return False
        self.generated.append(tid)
        self._add(self.decoder.push([tid]))
        return not self.hit_stop_string

    def _add(self, piece: str) -> None:
        if not piece:
            return
        self.text += piece
        if self.stop_strings:
            cut = min((i for i in (self.text.find(s) for s in self.stop_strings) if i >= 0), default=-1)
            if cut >= 0:
                self.text = self.text[:cut]
                self.hit_stop_string = True
            # hold back a tail that could be the start of a stop string
            hold = max((len(s) - 1 for s in self.stop_strings), default=0) if not self.hit_stop_string else 0
            safe = max(self.emitted, len(self.text) - hold)
        else:
            safe = len(self.text)
        if self.on_text is not None and safe > self.emitted:
            self.on_text(self.text[self.emitted:safe])
        self.emitted = max(self.emitted, safe)

    def end(self) -> None:
        if not self.hit_stop_string:
            self._add(self.decoder.flush())
        if self.on_text is not None and len(self.text) > self.emitted:
            self.on_text(self.text[self.emitted:])
        self.emitted = len(self.text)


def _stopping(cancel: CancelToken, streamer: _CallbackStreamer):
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _Stop(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):  # noqa: ARG002
            done = cancel.cancelled or streamer.hit_stop_string
            return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([_Stop()])


def generation_kwargs(settings: SamplingSettings, stop_ids: list[int], pad_id: int | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "max_new_tokens": settings.max_new_tokens,
        "eos_token_id": list(stop_ids),
        "pad_token_id": pad_id if pad_id is not None else (stop_ids[0] if stop_ids else None),
        "repetition_penalty": settings.repetition_penalty,
    }
    if settings.temperature > 0:
        kwargs.update(do_sample=True, temperature=settings.temperature, top_p=settings.top_p, top_k=0)
    else:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    return kwargs


def generate_reply(model, tokenizer, input_ids: list[int], settings: SamplingSettings,
                   stop_ids: list[int], on_text: Callable[[str], None] | None = None,
                   cancel: CancelToken = NEVER_CANCELLED, stop_strings: list[str] | None = None,
                   seed: int | None = None) -> Reply:
    """Generate one reply; ``on_text`` receives text deltas as they are produced."""
    import torch

    if seed is not None:
        torch.manual_seed(seed)
    streamer = _CallbackStreamer(tokenizer, set(stop_ids), on_text, [s for s in stop_strings or [] if s])
    use_static = settings.static_cache
    if use_static is None:
        # a seeded reply stays on one path, so the same seed gives the same reply whether or
        # not the compile has finished (compare and eval seed every reply)
        use_static = seed is None and _static_ready(model, len(input_ids) + settings.max_new_tokens)
    if use_static:
        from trainer.static_decode import static_decode

        static_decode(model, input_ids, settings.max_new_tokens, settings.temperature, settings.top_p,
                      settings.repetition_penalty,
                      on_token=lambda tid: not cancel.cancelled and streamer.add_token(tid))
        streamer.end()
        return _reply(streamer, cancel, input_ids)
    device = next(model.parameters()).device
    ids = torch.tensor([input_ids], dtype=torch.long, device=device)
    with torch.inference_mode(), _gpu_lock(device):
        model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), streamer=streamer,
            stopping_criteria=_stopping(cancel, streamer),
            **generation_kwargs(settings, stop_ids, tokenizer.pad_token_id))
    return _reply(streamer, cancel, input_ids)


def _static_ready(model, needed: int) -> bool:
    """Auto mode: is the compiled decoder warm (starting its background compile if not)?"""
    if next(model.parameters()).device.type != "cuda" or adapters_disabled(model):
        return False
    from trainer.static_decode import warm_decoder

    return warm_decoder(model, needed)


def adapters_disabled(model) -> bool:
    """Inside peft's ``model.disable_adapter()`` (compare/eval's base replies): graphs
    compiled for the adapter don't apply, so the auto path stays eager."""
    if not hasattr(model, "disable_adapter"):
        return False
    for module in model.modules():
        flag = getattr(module, "disable_adapters", None)  # peft's tuner layers
        if isinstance(flag, bool):
            return flag
    return False


def _gpu_lock(device):
    """Eager GPU work holds the lock a background CUDA-graph capture waits for."""
    import contextlib

    if device.type != "cuda":
        return contextlib.nullcontext()
    from trainer.static_decode import GPU_LOCK

    return GPU_LOCK


def _reply(streamer: _CallbackStreamer, cancel: CancelToken, input_ids: list[int]) -> Reply:
    if streamer.hit_stop or streamer.hit_stop_string:
        reason = "stop"
    elif cancel.cancelled:
        reason = "cancelled"
    else:
        reason = "length"
    return Reply(streamer.text, streamer.generated, len(input_ids), reason)
