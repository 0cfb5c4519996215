"""Attention that costs per conversation, not per packed row.

A packed row holds several conversations one after the other. transformers' sdpa path
keeps them apart with a dense [T, T] block-diagonal mask built from position_ids (and a
host sync to detect packing); the kernel then computes every masked-out block anyway.
Here the collator hands the conversation boundaries over as ``cu_seq_lens_q/k`` and
``max_length_q/k`` (the names transformers' flash-attention kwargs use, so they travel
through the model's ``**kwargs`` to each attention layer), and the attention is:

- on CUDA: PyTorch's own variable-length flash attention
  (``torch.nn.attention.varlen.varlen_attn``): each conversation attends causally to
  itself only, no mask tensor, no padding, no sync;
- elsewhere (CPU, the tests): one causal SDPA call per conversation, the same function.

``register()`` adds it to transformers' attention registry under ``ATTN_NAME``; a name
the mask registry does not know makes transformers skip building any mask."""

from __future__ import annotations

import inspect
from typing import Any

from trainer.data import PackedCollator

ATTN_NAME = "clonekit_packed"


def varlen_available() -> bool:
    """True when this torch has the CUDA variable-length flash attention and a GPU."""
    import torch

    if not torch.cuda.is_available():
        return False
    try:
        from torch.nn.attention.varlen import varlen_attn  # noqa: F401
    except ImportError:
        return False
    major, _ = torch.cuda.get_device_capability()
    return major >= 8  # flash attention: Ampere and newer


def supported(config, device: str) -> bool:
    """This attention can replace the model's: a decoder without attention dropout or
    soft-capping, and on CUDA the varlen kernel exists."""
    if getattr(config, "attention_dropout", 0.0) or getattr(config, "attn_logit_softcapping", None):
        return False
    return device != "cuda" or varlen_available()


class VarlenCollator(PackedCollator):
    """PackedCollator plus the conversation boundaries: ``cu_seq_lens_q/k`` (int32 offsets
    of every conversation in the row) and ``max_length_q/k`` (the longest, a Python int
    so no kernel has to ask the GPU for it)."""

    def __call__(self, features: list[dict]) -> dict:
        import torch

        batch = super().__call__(features)
        lengths = [len(ids) for f in features for ids in f["input_ids"]]
        offsets = [0]
        for n in lengths:
            offsets.append(offsets[-1] + n)
        cu = torch.tensor(offsets, dtype=torch.int32)
        longest = max(lengths)
        batch.update(cu_seq_lens_q=cu, cu_seq_lens_k=cu, max_length_q=longest, max_length_k=longest)
        return batch


def _varlen_call():
    """Adapt to the varlen API of the installed torch (2.10 took ``is_causal``; later ones
    take ``window_size`` and ``enable_gqa``)."""
    from torch.nn.attention.varlen import varlen_attn

    params = inspect.signature(varlen_attn).parameters
    return varlen_attn, "window_size" in params, "enable_gqa" in params


def packed_attention(module, query, key, value, attention_mask, dropout: float = 0.0, scaling: float | None = None,
                     sliding_window: int | None = None, **kwargs: Any):
    """transformers attention-interface signature: query [1, Hq, T, D], key/value
    [1, Hkv, T, D]; returns ([1, T, Hq, D], None)."""
    import torch

    cu = kwargs.get("cu_seq_lens_q")
    if cu is None:
        raise ValueError(f"attention {ATTN_NAME!r} needs cu_seq_lens_q from the packed collator (VarlenCollator)")
    if query.shape[0] != 1:
        raise ValueError(f"attention {ATTN_NAME!r} expects one packed row per micro-batch, got {query.shape[0]}")
    hq, hkv = query.shape[1], key.shape[1]
    q = query[0].transpose(0, 1)  # [T, H, D]
    k = key[0].transpose(0, 1)
    v = value[0].transpose(0, 1)
    if q.is_cuda:
        fn, has_window, has_gqa = _varlen_call()
        if not has_gqa and hkv != hq:
            k = k.repeat_interleave(hq // hkv, dim=1)
            v = v.repeat_interleave(hq // hkv, dim=1)
        extra: dict[str, Any] = {"scale": scaling}
        longest = int(kwargs["max_length_q"])
        if has_window:
            window = sliding_window - 1 if sliding_window and longest > sliding_window else -1
            extra["window_size"] = (window, 0)
        else:
            if sliding_window and longest > sliding_window:
                raise ValueError(f"a conversation of {longest} tokens exceeds the sliding window {sliding_window}, "
                                 "which this torch's varlen attention cannot apply")
            extra["is_causal"] = True
        if has_gqa:
            extra["enable_gqa"] = hkv != hq
        cu = cu.to(device=q.device, dtype=torch.int32)
        out = fn(q.contiguous(), k.contiguous(), v.contiguous(), cu, cu, longest, longest, **extra)
        return out.unsqueeze(0), None
    # One causal SDPA per conversation (CPU: reading the offsets costs nothing).
    bounds = cu.tolist()
    outs = []
    for s, e in zip(bounds[:-1], bounds[1:]):
        qs, ks, vs = q[s:e].transpose(0, 1), k[s:e].transpose(0, 1), v[s:e].transpose(0, 1)
        if hkv != hq:
            ks = ks.repeat_interleave(hq // hkv, dim=0)
            vs = vs.repeat_interleave(hq // hkv, dim=0)
        n = e - s
        if sliding_window and n > sliding_window:
            i = torch.arange(n)
            mask = (i[None, :] <= i[:, None]) & (i[:, None] - i[None, :] < sliding_window)
            o = torch.nn.functional.scaled_dot_product_attention(qs, ks, vs, attn_mask=mask, scale=scaling)
        else:
            o = torch.nn.functional.scaled_dot_product_attention(qs, ks, vs, is_causal=True, scale=scaling)
        outs.append(o.transpose(0, 1))
    return torch.cat(outs, dim=0).unsqueeze(0), None


def register() -> str:
    """Make ``attn_implementation=ATTN_NAME`` loadable; returns the name."""
    from transformers import AttentionInterface

    AttentionInterface.register(ATTN_NAME, packed_attention)
    return ATTN_NAME
