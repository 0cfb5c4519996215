"""clonekit merge: the merged model is a plain transformers folder whose logits match
base + adapter."""

from __future__ import annotations

import json

import pytest

from builder.errors import ClonekitError
from tests.trainer.run_fixture import tiny_run  # noqa: F401  (fixture)


def test_merged_logits_match_base_plus_adapter(tiny_run, tmp_path):  # noqa: F811
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainer.inference import load_model
    from trainer.merge import merge_run

    out = merge_run(tiny_run, tmp_path / "merged", dtype="fp32")
    assert (out / "model.safetensors").is_file()
    assert json.loads((out / "clonekit_merge.json").read_text())["run_id"] == "tiny-run"
    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.chat_template and "im_start" in tok.chat_template
    assert merged.generation_config.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>")
    assert not any("lora" in n for n, _ in merged.named_parameters())

    peft_model, _ = load_model(tiny_run, device="cpu")
    ids = tok("hey how are you 😀", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        want = peft_model(input_ids=ids).logits
        got = merged(input_ids=ids).logits
        with peft_model.disable_adapter():
            base = peft_model(input_ids=ids).logits
    assert torch.allclose(got, want, atol=1e-4, rtol=1e-4)
    assert (base - want).abs().max() > 1e-2  # the adapter really changes the model

    # bf16 (the default) stays close too, and the loader takes a merged folder
    out16 = merge_run(tiny_run, tmp_path / "merged16")
    m16, _ = load_model(tiny_run, merged=str(out16), device="cpu", dtype="fp32")
    with torch.no_grad():
        assert (m16(input_ids=ids).logits - want).abs().max() < 0.1


def test_merge_refuses_existing_output(tiny_run, tmp_path):  # noqa: F811
    from trainer.merge import merge_run

    (tmp_path / "taken").mkdir()
    with pytest.raises(ClonekitError, match="already exists"):
        merge_run(tiny_run, tmp_path / "taken")
