"""Quantization types the export writes itself, with the `gguf` package's numpy
quantizers (gguf.quants), and the per-tensor choice llama.cpp makes: 1-D tensors and
norms stay f32 (convert_hf_to_gguf.py prepare_tensors); a row length that is not a
multiple of the block size falls back to f16 (as convert_hf_to_gguf does on QuantError).

k-quants (Q4_K_M, Q5_K_M, Q6_K, ...) and i-quants need importance-aware search that only
llama.cpp's C++ `llama-quantize` implements; gguf.quants can read them but not write
them. The export refuses those and prints the llama-quantize command instead."""

from __future__ import annotations

from dataclasses import dataclass

from builder.errors import ClonekitError

# name -> (GGMLQuantizationType member, LlamaFileType member)
QUANTS = {
    "f32": ("F32", "ALL_F32"),
    "f16": ("F16", "MOSTLY_F16"),
    "bf16": ("BF16", "MOSTLY_BF16"),
    "q8_0": ("Q8_0", "MOSTLY_Q8_0"),
    "q4_0": ("Q4_0", "MOSTLY_Q4_0"),
    "q4_1": ("Q4_1", "MOSTLY_Q4_1"),
}
# llama-quantize type names for what the export does not write itself
LLAMA_QUANTIZE_ONLY = {
    "q2_k": "Q2_K", "q3_k_s": "Q3_K_S", "q3_k_m": "Q3_K_M", "q3_k_l": "Q3_K_L",
    "q4_k_s": "Q4_K_S", "q4_k_m": "Q4_K_M", "q5_k_s": "Q5_K_S", "q5_k_m": "Q5_K_M",
    "q6_k": "Q6_K", "q5_0": "Q5_0", "q5_1": "Q5_1", "iq4_xs": "IQ4_XS", "iq4_nl": "IQ4_NL",
}
# 4-bit files keep the output projection at q8_0 (llama-quantize gives it q6_K, which
# gguf.quants cannot write): it is the tensor 4 bits hurt most.
OUTPUT_TENSOR = "output.weight"


def llama_quantize_command(src: str, dst: str, quant: str) -> str:
    return f"llama-quantize {src} {dst} {LLAMA_QUANTIZE_ONLY.get(quant, quant.upper())}"


def check_quant(quant: str, output: str) -> str:
    q = quant.lower()
    if q in QUANTS:
        return q
    if q in LLAMA_QUANTIZE_ONLY:
        f16 = output[:-5] + ".f16.gguf" if output.endswith(".gguf") else output + ".f16.gguf"
        raise ClonekitError(
            f"--quant {quant}: k-quants and q5 types are written by llama.cpp's llama-quantize, not by the "
            f"gguf package; export --quant f16 -o {f16}, then run: {llama_quantize_command(f16, output, q)}")
    raise ClonekitError(f"--quant {quant}: unknown type; use one of {', '.join(QUANTS)} "
                        f"(or {', '.join(LLAMA_QUANTIZE_ONLY)} through llama-quantize)")


@dataclass(frozen=True)
class Plan:
    qtype: object  # gguf.GGMLQuantizationType
    shape: tuple[int, ...]  # logical shape (numpy order)
    nbytes: int

    @property
    def type_name(self) -> str:
        return self.qtype.name


def tensor_type(gguf_name: str, shape: tuple[int, ...], quant: str):
    """The GGMLQuantizationType this tensor is stored as in a ``quant`` file."""
    import gguf

    T = gguf.GGMLQuantizationType
    if len(shape) <= 1 or gguf_name.endswith("_norm.weight") or gguf_name == "rope_freqs.weight" or quant == "f32":
        return T.F32
    want = getattr(T, QUANTS[quant][0])
    if quant in ("q4_0", "q4_1") and gguf_name == OUTPUT_TENSOR:
        want = T.Q8_0
    block, _ = gguf.GGML_QUANT_SIZES[want]
    if shape[-1] % block:
        return T.F16
    return want


def plan(gguf_name: str, shape: tuple[int, ...], quant: str) -> Plan:
    import gguf

    qtype = tensor_type(gguf_name, shape, quant)
    block, type_size = gguf.GGML_QUANT_SIZES[qtype]
    n = 1
    for s in shape:
        n *= int(s)
    return Plan(qtype, tuple(int(s) for s in shape), n // block * type_size)


def encode(data, p: Plan):
    """numpy float32 array -> the bytes-bearing array GGUFWriter.write_tensor_data takes."""
    import gguf
    import numpy as np

    T = gguf.GGMLQuantizationType
    if p.qtype == T.F32:
        return np.ascontiguousarray(data, dtype=np.float32)
    if p.qtype == T.F16:
        return np.ascontiguousarray(data, dtype=np.float16)
    return gguf.quants.quantize(np.ascontiguousarray(data, dtype=np.float32), p.qtype)


def file_type(quant: str) -> int:
    import gguf

    return int(getattr(gguf.LlamaFileType, QUANTS[quant][1]))
