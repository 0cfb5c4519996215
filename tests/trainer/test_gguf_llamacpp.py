"""Opt-in (CLONEKIT_TEST_LLAMA_CPP=1, needs `pip install llama-cpp-python`, which compiles
llama.cpp: about 7.5 minutes on 2 cores): llama.cpp's own runtime loads the exported
files, tokenizes every test text to the training ids, gives the merged model's logits,
generates and stops at the end-of-turn token; and the q8_0 / q4_0 tensors are byte for
byte what llama.cpp's own quantizer (llama_model_quantize, i.e. llama-quantize) writes.

Evaluation runs one token per batch (n_batch=1): on this CI machine (Xeon with AMX_INT8)
llama-cpp-python 0.3.36 segfaults on batched matmuls of *any* q8_0/q4_0 file, its own
llama-quantize output included, while single-token decoding works; the known
machine-dependent AMX crash, ggml-org/llama.cpp#20824."""

from __future__ import annotations

import ctypes
import os
import time
from pathlib import Path

import pytest

from tests.trainer.test_gguf import (ARCHS, _tok, chat_texts, encode_texts, logits_of, make_arch_run, prompts,
                                     rounded_like_the_file)

llama_cpp = pytest.importorskip("llama_cpp") if os.environ.get("CLONEKIT_TEST_LLAMA_CPP") == "1" else None
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(llama_cpp is None, reason="set CLONEKIT_TEST_LLAMA_CPP=1 (needs llama-cpp-python)")]

# max |logit diff| / max |logit| of llama.cpp (f32 KV cache) against the merged model with
# the file's rounding; llama.cpp also rounds activations to 8 bits in q8_0/q4_0 matmuls.
# Measured over the four architectures: f32 <= 2.3e-6, q8_0 <= 0.135, q4_0 <= 0.057 (the
# rounding model already carries the weight error; what is left is llama.cpp's 8-bit
# activation rounding, large only because these random tiny models are hypersensitive).
LLAMA_CPP_TOLERANCE = {"f32": 1e-4, "q8_0": 0.3, "q4_0": 0.3}
F32 = 0  # GGML_TYPE_F32, for the KV cache


def load(path: Path):
    return llama_cpp.Llama(model_path=str(path), n_ctx=512, logits_all=True, verbose=False, n_threads=2,
                           n_batch=1, n_ubatch=1, type_k=F32, type_v=F32)


def llama_cpp_logits(llm, ids: list[int]):
    import numpy as np

    llm.reset()
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)])


@pytest.mark.parametrize("arch", ARCHS)
def test_llama_cpp_runs_the_export(arch, tmp_path):
    import numpy as np

    from trainer.gguf import export_gguf
    from trainer.inference import open_run
    from trainer.merge import merge_adapter

    run = make_arch_run(tmp_path, arch)
    tokenizer = _tok(run)
    texts = prompts(tokenizer)
    batches = encode_texts(tokenizer, texts)
    merged = merge_adapter(open_run(run), "fp32").eval()
    errors = {}
    for quant, tolerance in LLAMA_CPP_TOLERANCE.items():
        path = export_gguf(run, tmp_path / f"{quant}.gguf", quant=quant, merge_dtype="fp32").path
        llm = load(path)
        if quant == "f32":
            for text in chat_texts(tokenizer):
                want = tokenizer(text, add_special_tokens=False)["input_ids"]
                assert llm.tokenize(text.encode(), add_bos=False, special=True) == want, (arch, text)
        want = logits_of(rounded_like_the_file(merged, quant), batches)
        errors[quant] = max(
            float(np.abs(llama_cpp_logits(llm, ids[0].tolist()) - w[0].numpy()).max() / w.abs().max())
            for ids, w in zip(batches, want))
        assert errors[quant] < tolerance, (arch, quant, errors)
        del llm
    print(f"\n{arch}: llama.cpp vs the file's rounding {errors}")


@pytest.mark.parametrize("quant,ftype", [("q8_0", 7), ("q4_0", 2)])
def test_quantized_tensors_equal_llama_quantize(quant, ftype, tmp_path):
    import gguf
    import numpy as np

    from trainer.gguf import export_gguf

    run = make_arch_run(tmp_path, "llama")
    ours = export_gguf(run, tmp_path / f"{quant}.gguf", quant=quant, merge_dtype="fp32").path
    f32 = export_gguf(run, tmp_path / "f32.gguf", quant="f32", merge_dtype="fp32").path
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype, params.nthread = ftype, 2
    theirs = tmp_path / f"llama-quantize-{quant}.gguf"
    assert llama_cpp.llama_model_quantize(str(f32).encode(), str(theirs).encode(), ctypes.byref(params)) == 0
    a = {t.name: t for t in gguf.GGUFReader(ours).tensors}
    b = {t.name: t for t in gguf.GGUFReader(theirs).tensors}
    assert a.keys() == b.keys()
    same = [n for n in a if a[n].tensor_type == b[n].tensor_type]
    for name in same:
        assert np.array_equal(np.asarray(a[name].data).view(np.uint8), np.asarray(b[name].data).view(np.uint8)), name
    quantized = [n for n in same if a[n].tensor_type.name == quant.upper()]
    assert len(quantized) >= 14  # every projection of both layers
    # where the types differ, llama-quantize picked a k-quant gguf.quants cannot write
    assert all(b[n].tensor_type.name.endswith("_K") for n in a if n not in same)


def test_end_of_turn_stops_generation(tmp_path):
    """llama.cpp stops where training put the end of a turn: <|im_end|> is an
    end-of-generation token of the file; greedy generation from the chat prompt runs."""
    from trainer.gguf import export_gguf

    run = make_arch_run(tmp_path, "qwen2")
    tokenizer = _tok(run)
    path = export_gguf(run, tmp_path / "clone.gguf", quant="f16", merge_dtype="fp32").path
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=512, verbose=False, n_threads=2, n_batch=1, n_ubatch=1)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    eog = {i for i in range(len(tokenizer)) if llama_cpp.llama_vocab_is_eog(vocab, i)}
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in eog
    ids = tokenizer(prompts(tokenizer)[0], add_special_tokens=False)["input_ids"]
    start = time.perf_counter()
    out = llm.create_completion(ids, max_tokens=32, temperature=0.0)
    elapsed = time.perf_counter() - start
    n = out["usage"]["completion_tokens"]
    assert n > 0 and out["choices"][0]["finish_reason"] in ("stop", "length")
    print(f"\ngenerated {n} tokens in {elapsed:.3f} s ({n / elapsed:.0f} tok/s, tiny model, prompt included)")


def test_llama31_rope_scaling_in_llama_cpp(tmp_path):
    """Llama 3.1-style rope scaling reaches llama.cpp through the rope_freqs tensor: its
    logits match the merged model (which transformers runs with the llama3 rope)."""
    import numpy as np

    from tests.trainer.test_gguf import LLAMA31_ROPE
    from trainer.gguf import export_gguf
    from trainer.inference import open_run
    from trainer.merge import merge_adapter

    run = make_arch_run(tmp_path, "llama", template="llama3", rope=LLAMA31_ROPE)
    tokenizer = _tok(run)
    path = export_gguf(run, tmp_path / "l3.gguf", quant="f32", merge_dtype="fp32").path
    llm = load(path)
    merged = merge_adapter(open_run(run), "fp32").eval()
    for text in chat_texts(tokenizer):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert llm.tokenize(text.encode(), add_bos=False, special=True) == ids, text
    ids = encode_texts(tokenizer, prompts(tokenizer)[:1])
    want = logits_of(merged, ids)[0][0].numpy()
    got = llama_cpp_logits(llm, ids[0][0].tolist())
    assert np.abs(got - want).max() / np.abs(want).max() < 1e-4
