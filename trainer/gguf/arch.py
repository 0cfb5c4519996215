"""Which model families the GGUF export writes and how: llama.cpp's architecture name,
its hyperparameter keys, the tensor names (the `gguf` package's own TensorNameMap) and
the Llama q/k row permutation. Follows llama.cpp's convert_hf_to_gguf.py
(conversion/llama.py, conversion/qwen.py, conversion/base.py) for these families."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator

from builder.errors import ClonekitError


@dataclass(frozen=True)
class ArchSpec:
    model_type: str  # transformers' config.model_type
    gguf_arch: str  # gguf.MODEL_ARCH member name
    permute_qk: bool  # llama.cpp's Llama graph uses "normal" rope: q/k rows are re-ordered


ARCHS = {
    "llama": ArchSpec("llama", "LLAMA", True),
    "mistral": ArchSpec("mistral", "LLAMA", True),  # llama.cpp runs Mistral on its llama graph
    "qwen2": ArchSpec("qwen2", "QWEN2", False),
    "qwen3": ArchSpec("qwen3", "QWEN3", False),
}


def arch_for(config) -> ArchSpec:
    model_type = getattr(config, "model_type", None)
    spec = ARCHS.get(model_type or "")
    if spec is None:
        raise ClonekitError(
            f"model type {model_type!r} is not supported by `clonekit gguf` (supported: "
            f"{', '.join(sorted(ARCHS))}); merge it with `clonekit merge` and convert with llama.cpp's "
            "convert_hf_to_gguf.py")
    if getattr(config, "num_local_experts", None) or getattr(config, "num_experts", None):
        raise ClonekitError(f"{model_type}: mixture-of-experts models are not supported by `clonekit gguf`")
    return spec


def _rope(config) -> tuple[float, dict[str, Any]]:
    """(rope theta, scaling dict) across transformers' old (rope_theta/rope_scaling) and
    new (rope_parameters) config layouts."""
    params = getattr(config, "rope_parameters", None) or {}
    if "full_attention" in params:
        params = params["full_attention"]
    scaling = dict(params or getattr(config, "rope_scaling", None) or {})
    theta = params.get("rope_theta", getattr(config, "rope_theta", None)) if params else None
    if theta is None:
        theta = getattr(config, "rope_theta", 10000.0)
    return float(theta), scaling


def rope_type(config) -> str:
    _, scaling = _rope(config)
    return str(scaling.get("rope_type") or scaling.get("type") or "default").lower()


def head_dim(config) -> int:
    return int(getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads)


def write_hparams(writer, config, spec: ArchSpec) -> None:
    """The `{arch}.*` keys llama.cpp reads (TextModel/LlamaModel.set_gguf_parameters)."""
    import gguf

    writer.add_context_length(int(config.max_position_embeddings))
    writer.add_embedding_length(int(config.hidden_size))
    writer.add_block_count(int(config.num_hidden_layers))
    writer.add_feed_forward_length(int(config.intermediate_size))
    writer.add_head_count(int(config.num_attention_heads))
    writer.add_head_count_kv(int(getattr(config, "num_key_value_heads", None) or config.num_attention_heads))
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_vocab_size(int(config.vocab_size))
    hd = head_dim(config)
    if getattr(config, "head_dim", None):
        writer.add_key_length(hd)
        writer.add_value_length(hd)
    if spec.gguf_arch == "LLAMA":
        writer.add_rope_dimension_count(hd)
    theta, scaling = _rope(config)
    writer.add_rope_freq_base(theta)
    kind = rope_type(config)
    if kind in ("default", "llama3"):
        return  # llama3 is carried by the rope_freqs tensor (extra_tensors)
    if kind == "linear":
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(scaling["factor"]))
    elif kind == "yarn":
        writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        writer.add_rope_scaling_factor(float(scaling["factor"]))
        writer.add_rope_scaling_orig_ctx_len(int(scaling["original_max_position_embeddings"]))
    else:
        raise ClonekitError(f"rope scaling {kind!r} is not supported by `clonekit gguf` (default, linear, "
                            "yarn and llama3 are)")


def extra_tensors(config, spec: ArchSpec) -> Iterator[tuple[str, Any]]:
    """Tensors llama.cpp wants that the checkpoint does not hold: Llama 3.x's rope
    frequency factors (LlamaModel.generate_extra_tensors)."""
    import numpy as np

    if spec.gguf_arch != "LLAMA" or rope_type(config) != "llama3":
        return
    base, scaling = _rope(config)
    dim = head_dim(config)
    freqs = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float32) / dim))
    factor = scaling.get("factor", 8.0)
    low, high = scaling.get("low_freq_factor", 1.0), scaling.get("high_freq_factor", 4.0)
    old_len = scaling.get("original_max_position_embeddings") or getattr(config, "original_max_position_embeddings", None) or 8192
    low_wavelen, high_wavelen = old_len / low, old_len / high
    factors = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            factors.append(1.0)
        elif wavelen > low_wavelen:
            factors.append(factor)
        else:
            smooth = (old_len / wavelen - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    yield "rope_freqs.weight", np.asarray(factors, dtype=np.float32)


def permute(weights, n_head: int, n_head_kv: int | None):
    """llama.cpp's LlamaModel.permute: HF's rotate-half q/k rows -> interleaved pairs."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape))


class TensorNamer:
    """HF parameter name -> GGUF tensor name, plus the Llama q/k permutation."""

    def __init__(self, config, spec: ArchSpec) -> None:
        import gguf

        self.spec = spec
        self.config = config
        self.map = gguf.get_tensor_name_map(getattr(gguf.MODEL_ARCH, spec.gguf_arch), int(config.num_hidden_layers))
        self.tied = bool(getattr(config, "tie_word_embeddings", False))

    def skip(self, name: str) -> bool:
        if name.endswith("rotary_emb.inv_freq"):
            return True
        return self.tied and name == "lm_head.weight"  # llama.cpp reuses token_embd

    def gguf_name(self, name: str) -> str:
        new = self.map.get_name(name, try_suffixes=(".weight", ".bias"))
        if new is None:
            raise ClonekitError(f"tensor {name!r} has no GGUF name for {self.spec.model_type}; "
                                "this checkpoint has layers `clonekit gguf` does not know")
        return new

    def transform(self, name: str, data):
        """``data``: a numpy array in HF layout; returns what llama.cpp expects."""
        if self.spec.permute_qk:
            heads = int(self.config.num_attention_heads)
            kv_heads = int(getattr(self.config, "num_key_value_heads", None) or heads)
            if name.endswith(("q_proj.weight", "q_proj.bias")):
                return permute(data, heads, heads)
            if name.endswith(("k_proj.weight", "k_proj.bias")):
                return permute(data, heads, kv_heads)
        return data
