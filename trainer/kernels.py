"""Fused training kernels from Liger (liger-kernel, maintained by LinkedIn): fused linear
cross-entropy (the [tokens x vocab] logits are never materialised: they are computed
and consumed a chunk at a time), RMSNorm, SwiGLU and RoPE as Triton kernels. CUDA only;
applied to the loaded base model before LoRA wraps it."""

from __future__ import annotations

from builder.errors import ClonekitError
from trainer.config import TrainConfig


def liger_available() -> bool:
    try:
        import liger_kernel.transformers  # noqa: F401
    except ImportError:
        return False
    return True


def wanted(cfg: TrainConfig, device: str) -> bool:
    """Whether this run uses the fused kernels ("on" without them is a user error)."""
    if cfg.fused_kernels == "off" or device != "cuda":
        if cfg.fused_kernels == "on" and device != "cuda":
            raise ClonekitError("fused_kernels = on needs a CUDA GPU (Liger's kernels are Triton); use --fused-kernels auto")
        return False
    if not liger_available():
        if cfg.fused_kernels == "on":
            raise ClonekitError("fused_kernels = on needs liger-kernel: pip install liger-kernel (or --fused-kernels off)")
        return False
    return True


def _head_is_trained(cfg: TrainConfig) -> bool:
    targets = cfg.target_modules
    return cfg.method != "full" and isinstance(targets, list) and "lm_head" in targets


def apply(model, cfg: TrainConfig, head_rows_trained: bool = False) -> list[str]:
    """Patch ``model`` (a transformers causal LM, before peft) in place; returns the kernels
    applied, [] when Liger has none for this architecture. The fused cross-entropy reads
    the head's plain weight, so it stays off when anything peft adds trains the head: a
    LoRA on lm_head, or rows of tokens clonekit added (``head_rows_trained``)."""
    from liger_kernel.transformers.monkey_patch import MODEL_TYPE_TO_APPLY_LIGER_FN, _apply_liger_kernel_to_instance

    model_type = getattr(model.config, "model_type", None)
    if model_type not in MODEL_TYPE_TO_APPLY_LIGER_FN:
        if cfg.fused_kernels == "on":
            raise ClonekitError(f"fused_kernels = on: Liger has no kernels for model type {model_type!r}; use --fused-kernels auto")
        return []
    flce = not _head_is_trained(cfg) and not head_rows_trained
    _apply_liger_kernel_to_instance(model=model, rope=True, rms_norm=True, swiglu=True,
                                    fused_linear_cross_entropy=flce, cross_entropy=False)
    return ["rope", "rms_norm", "swiglu"] + (["fused_linear_cross_entropy"] if flce else [])
