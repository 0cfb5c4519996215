"""clonekit gguf: an independent reader (transformers' own GGUF loader) agrees with the
export. For tiny random Llama, Mistral (sentencepiece-style vocabulary), Qwen2 (tied
embeddings, qkv bias) and Qwen3 (q/k norms) runs with a LoRA adapter on every linear
layer, the GGUF read back gives the merged model's logits within the stated tolerance
per quant type, and its tokenizer encodes the chat prompt to the same ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import os
import shutil

from builder.errors import ClonekitError
from tests.trainer.run_fixture import _CORPUS, PERSONA, _records, tiny_run  # noqa: F401  (fixture)

# Two checks per quant type, on logits of the chat prompt and two plain texts:
# - EXACT: the file read back by transformers vs the merged model with each weight rounded
#   the way the file stores it (gguf.quants round trip in torch): the file is exactly the
#   quantized merged model, names, q/k permutation and block layout included.
# - QUALITY: vs the unquantized merged model, max |logit difference| / max |logit|.
#   Measured here (tiny random models, hidden 64, whose logits are tiny and hypersensitive:
#   rounding the weights in torch gives the same numbers): f16 <= 0.005, bf16 <= 0.05,
#   q8_0 <= 0.15, q4_0/q4_1 <= 1.6. The bounds are about 2x those; a trained model is far
#   less sensitive (see test_real_training_run_exports).
EXACT = 2e-4
# The same measure on a really trained tiny model (tiny-cpu QLoRA run, hidden 128):
# measured f16 0.00036, q8_0 0.009, q4_0 0.12; bounds about 2.5x.
TRAINED_QUALITY = {"f16": 1e-3, "q8_0": 0.03, "q4_0": 0.3}
QUALITY = {"f32": 1e-6, "f16": 0.01, "bf16": 0.1, "q8_0": 0.3, "q4_1": 3.0, "q4_0": 3.0}
ARCHS = ("llama", "mistral", "qwen2", "qwen3")
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
TEXTS = [t for t in _CORPUS] + ["Don't you think 123456 is a lot? 🎉🎉", "  two spaces\nnew line\ttab"]


def byte_level_tokenizer(split: str | None):
    """GPT-2 style byte-level BPE (split=None: ByteLevel's own regex), or a Llama 3 / Qwen2
    style one whose pre-tokenizer is a Split regex followed by ByteLevel."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    if split is None:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(split), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=420, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(TEXTS * 4, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", unk_token=None)


def sentencepiece_tokenizer():
    """Llama 2 / Mistral layout: <unk> <s> </s>, the 256 byte-fallback pieces, then BPE
    pieces with the ▁ word marker (transformers' LlamaTokenizer, as Mistral ships)."""
    from tokenizers import SentencePieceBPETokenizer
    from transformers import LlamaTokenizer

    sp = SentencePieceBPETokenizer()
    sp.train_from_iterator(TEXTS * 4, vocab_size=300, min_frequency=1, show_progress=False)
    trained = json.loads(sp.to_str())["model"]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{f"<0x{b:02X}>": 3 + b for b in range(256)}}
    for piece in sorted(trained["vocab"], key=trained["vocab"].get):
        vocab.setdefault(piece, len(vocab))
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in trained["merges"]]
    return LlamaTokenizer(vocab=vocab, merges=merges)


def chat_texts(tokenizer) -> list[str]:
    """What a runtime tokenizes: each test text as a user turn of a chat prompt (so every
    text run follows a special token, as in training)."""
    return prompts(tokenizer)[:1] + [
        tokenizer.apply_chat_template([{"role": "user", "content": t}], tokenize=False, add_generation_prompt=True)
        for t in TEXTS]


LLAMA31_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 64}  # Llama 3.1's scheme, scaled down to a tiny context


def model_config(arch: str, vocab_size: int, tokenizer, rope: dict | None = None):
    from transformers import LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config

    common = dict(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  max_position_embeddings=1024, eos_token_id=tokenizer.eos_token_id,
                  bos_token_id=tokenizer.bos_token_id, pad_token_id=tokenizer.pad_token_id)
    if arch == "llama":
        return LlamaConfig(num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
                           rope_scaling=rope, **common)
    if arch == "mistral":
        return MistralConfig(num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
                             sliding_window=None, **common)
    if arch == "qwen2":  # small Qwen2.5 checkpoints tie the output head to the embeddings
        return Qwen2Config(num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True, **common)
    return Qwen3Config(num_attention_heads=2, num_key_value_heads=1, head_dim=128, tie_word_embeddings=False,
                       **common)


def make_arch_run(root: Path, arch: str, template: str = "chatml", rope: dict | None = None) -> Path:
    """A finished LoRA run (docs/CONTRACTS.md "Runs") of a tiny random ``arch`` model whose
    tokenizer got its chat template from trainer.templates.prepare_tokenizer, as training does."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from trainer.templates import prepare_tokenizer

    torch.manual_seed(0)
    run = root / f"{arch}-{template}"
    base_dir, adapter_dir = run / "base", run / "adapter"
    if arch == "mistral":
        tokenizer = sentencepiece_tokenizer()
    else:
        split = {"llama": LLAMA3_SPLIT if template == "llama3" else None}.get(arch, QWEN2_SPLIT)
        tokenizer = byte_level_tokenizer(split)
    info = prepare_tokenizer(tokenizer, template)
    model = AutoModelForCausalLM.from_config(model_config(arch, len(tokenizer), tokenizer, rope))
    with torch.no_grad():  # biases start at zero; make them matter
        for name, param in model.named_parameters():
            if name.endswith("bias") or "norm" in name:
                param.add_(torch.randn_like(param) * 0.1)
    model.save_pretrained(base_dir)
    tokenizer.save_pretrained(base_dir)
    lora = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    peft_model = get_peft_model(model, lora)
    with torch.no_grad():  # LoRA B starts at zero; make the adapter change the outputs
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.3)
    peft_model.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)
    dataset = run / "dataset"
    dataset.mkdir()
    (dataset / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _records()), encoding="utf-8")
    (run / "run.json").write_text(json.dumps({
        "run_id": run.name, "status": "done", "base": f"tiny-{arch}", "base_path": str(base_dir),
        "method": "lora", "load_in_4bit": False, "dataset": str(dataset), "dataset_version": "fixture/v0001",
        "manifest_sha256": "0" * 64, "persona": PERSONA, "chat_template": template,
        "stop_token_ids": info.stop_token_ids, "config": {"max_seq_len": 512}, "final": {},
    }, indent=2))
    return run


def prompts(tokenizer) -> list[str]:
    chat = [{"role": "system", "content": "You are Sam talking to Alex."},
            {"role": "user", "content": "hey how are you 😀"},
            {"role": "assistant", "content": "all good here, you?"},
            {"role": "user", "content": "Coffee later?  I'm at work until six"}]
    return [tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True),
            "the train is late again", "Don't you think 123456 is a lot? 🎉"]


def encode_texts(tokenizer, texts: list[str]):
    return [tokenizer(t, add_special_tokens=False, return_tensors="pt")["input_ids"] for t in texts]


def logits_of(model, batches) -> list:
    import torch

    with torch.no_grad():
        return [model(input_ids=ids).logits for ids in batches]


def rounded_like_the_file(model, quant: str):
    """A copy of ``model`` whose weights went through the storage type the export picks
    for each tensor (gguf.quants quantize + dequantize)."""
    import copy

    import gguf
    import numpy as np
    import torch

    from trainer.gguf.arch import TensorNamer, arch_for
    from trainer.gguf.quant import tensor_type

    out = copy.deepcopy(model)
    namer = TensorNamer(out.config, arch_for(out.config))
    with torch.no_grad():
        for name, param in out.named_parameters():
            if namer.skip(name):
                continue
            qtype = tensor_type(namer.gguf_name(name), tuple(param.shape), quant)
            data = param.detach().numpy()
            if qtype == gguf.GGMLQuantizationType.F16:
                data = data.astype(np.float16).astype(np.float32)
            elif qtype != gguf.GGMLQuantizationType.F32:
                data = gguf.quants.dequantize(gguf.quants.quantize(data, qtype), qtype).reshape(data.shape)
            param.copy_(torch.from_numpy(np.ascontiguousarray(data)))
    return out


def read_back(path: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)


def worst(got: list, want: list) -> float:
    return max(float((g - w).abs().max() / w.abs().max()) for g, w in zip(got, want))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("gguf-runs")


def _tok(run: Path):
    from trainer.inference import load_tokenizer

    return load_tokenizer(run / "adapter")


@pytest.mark.parametrize("arch", ARCHS)
def test_transformers_reads_the_export_back(arch, runs, tmp_path):
    from trainer.gguf import export_gguf
    from trainer.inference import open_run
    from trainer.merge import merge_adapter

    run = make_arch_run(runs, arch)
    tokenizer = _tok(run)
    batches = encode_texts(tokenizer, prompts(tokenizer))
    merged = merge_adapter(open_run(run), "fp32").eval()
    want = logits_of(merged, batches)
    quality = {}
    for quant in QUALITY:
        result = export_gguf(run, tmp_path / f"clone-{quant}.gguf", quant=quant, merge_dtype="fp32")
        assert result.path.is_file() and result.size == result.path.stat().st_size
        model, _ = read_back(result.path)
        got = logits_of(model, batches)
        exact = worst(got, logits_of(rounded_like_the_file(merged, quant), batches))
        assert exact < EXACT, (arch, quant, exact)
        quality[quant] = worst(got, want)
        assert quality[quant] < QUALITY[quant], (arch, quant, quality)
        if quant in ("q8_0", "q4_0", "q4_1"):  # every layer's 7 projections (hidden 64, ffn 128)
            assert result.tensor_types.get(quant.upper(), 0) >= 14, result.tensor_types
    print(f"\n{arch}: max |logit diff| / max |logit| vs the merged model: "
          + ", ".join(f"{q} {e:.2g}" for q, e in quality.items()))
    assert quality["f32"] < quality["f16"] < quality["q8_0"] < quality["q4_0"]

    _, gguf_tok = read_back(tmp_path / "clone-q8_0.gguf")
    assert gguf_tok.chat_template == tokenizer.chat_template
    for text in chat_texts(tokenizer):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert gguf_tok(text, add_special_tokens=False)["input_ids"] == ids, text
        assert gguf_tok(text)["input_ids"] == ids  # add_bos_token=False: as in training


def gguf_fields(path: Path) -> dict:
    import gguf

    reader = gguf.GGUFReader(path)
    return {name: field.contents() for name, field in reader.fields.items()}, reader


def test_cli_writes_gguf_and_modelfile_from_a_run(tiny_run, tmp_path, capsys):  # noqa: F811
    from clonekit.cli import main

    out = tmp_path / "export" / "sam.gguf"
    assert main(["gguf", str(tiny_run), "-o", str(out), "--quant", "q8_0"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == str(out) and out.is_file()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp file left
    fields, reader = gguf_fields(out)
    tok = _tok(tiny_run)
    assert fields["general.architecture"] == "llama" and fields["clonekit.run_id"] == "tiny-run"
    assert fields["tokenizer.chat_template"] == tok.chat_template
    assert fields["tokenizer.ggml.model"] == "gpt2" and fields["tokenizer.ggml.pre"] == "gpt-2"
    assert fields["tokenizer.ggml.eot_token_id"] == tok.convert_tokens_to_ids("<|im_end|>")
    assert fields["tokenizer.ggml.add_bos_token"] is False
    assert json.loads(fields["clonekit.persona"])["name"] == "Sam"
    assert "Lisbon" in fields["clonekit.system_prompt"]
    # the fixture's hidden size 48 is not a multiple of q8_0's 32-weight block: those rows stay f16
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    assert types["blk.0.ffn_down.weight"] == "Q8_0" and types["blk.0.attn_q.weight"] == "F16"
    assert types["blk.0.attn_norm.weight"] == "F32"

    modelfile = (tmp_path / "export" / "sam.Modelfile").read_text()
    assert "FROM ./sam.gguf" in modelfile
    assert 'TEMPLATE """{{- range .Messages }}<|im_start|>{{ .Role }}' in modelfile
    assert 'PARAMETER stop "<|im_end|>"' in modelfile
    system = modelfile.split('SYSTEM """', 1)[1].rsplit('"""', 1)[0]
    assert system == fields["clonekit.system_prompt"] and system.startswith("You are Sam")


def test_refusals_are_one_line_and_write_nothing(tiny_run, tmp_path):  # noqa: F811
    from transformers import Gemma2Config

    from trainer.gguf import export_gguf

    out = tmp_path / "clone.gguf"
    with pytest.raises(ClonekitError, match=r"llama-quantize .*clone.f16.gguf .*clone.gguf Q4_K_M"):
        export_gguf(tiny_run, out, quant="q4_k_m")
    with pytest.raises(ClonekitError, match="unknown type"):
        export_gguf(tiny_run, out, quant="q3")
    with pytest.raises(ClonekitError, match=r"\*\.gguf"):
        export_gguf(tiny_run, tmp_path / "clone.bin")
    out.write_bytes(b"keep")
    with pytest.raises(ClonekitError, match="already exists"):
        export_gguf(tiny_run, out)
    assert out.read_bytes() == b"keep"

    other = tmp_path / "gemma-run"
    shutil.copytree(tiny_run, other, ignore=shutil.ignore_patterns("base"))
    Gemma2Config(vocab_size=400, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2).save_pretrained(other / "base")
    info = json.loads((other / "run.json").read_text())
    (other / "run.json").write_text(json.dumps(dict(info, base="google/gemma-2-2b", base_path=str(other / "base"))))
    with pytest.raises(ClonekitError, match="'gemma2' is not supported .*llama, mistral, qwen2, qwen3"):
        export_gguf(other, tmp_path / "gemma.gguf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clone.gguf", "gemma-run"]


def test_disk_space_is_checked_before_any_work(tiny_run, tmp_path, monkeypatch):  # noqa: F811
    import trainer.gguf.export as export
    import trainer.merge as merge

    monkeypatch.setattr(export.shutil, "disk_usage", lambda _p: shutil._ntuple_diskusage(10, 10, 1000))
    monkeypatch.setattr(merge, "merge_adapter", lambda *a, **k: pytest.fail("merged before the disk check"))
    with pytest.raises(ClonekitError, match="GiB free but the export needs about"):
        export.export_gguf(tiny_run, tmp_path / "clone.gguf")
    assert list(tmp_path.iterdir()) == []


def test_cancel_midway_leaves_no_file(tiny_run, tmp_path):  # noqa: F811
    from builder.errors import Cancelled
    from builder.events import CancelToken, Progress
    from trainer.gguf import export_gguf

    token = CancelToken()

    def on_event(event):
        if isinstance(event, Progress) and event.stage == "gguf" and event.done == 5:
            token.cancel()

    with pytest.raises(Cancelled):
        export_gguf(tiny_run, tmp_path / "clone.gguf", on_event=on_event, cancel=token)
    assert list(tmp_path.iterdir()) == []


def test_full_fine_tune_exports_without_merging(tiny_run, tmp_path):  # noqa: F811
    import torch
    from transformers import AutoModelForCausalLM

    from tests.trainer.run_fixture import make_full_run
    from trainer.gguf import export_gguf

    full = make_full_run(tiny_run, run_id=f"full-{tmp_path.name}")
    path = export_gguf(full, tmp_path / "full.gguf", quant="f32").path
    model, _ = read_back(path)
    want = AutoModelForCausalLM.from_pretrained(full / "model", dtype=torch.float32).eval()
    ids = encode_texts(_tok(tiny_run), ["see you tomorrow at the beach"])
    assert worst(logits_of(model, ids), logits_of(want, ids)) < 1e-5
    shutil.rmtree(full)


def test_llama3_template_and_rope_scaling(runs, tmp_path):
    import numpy as np
    import torch
    from transformers import AutoConfig
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    from trainer.gguf import export_gguf

    run = make_arch_run(runs, "llama", template="llama3", rope=LLAMA31_ROPE)
    result = export_gguf(run, tmp_path / "l3.gguf", quant="f16", merge_dtype="fp32")
    fields, reader = gguf_fields(result.path)
    assert fields["tokenizer.ggml.pre"] == "llama-bpe"
    assert fields["tokenizer.ggml.eot_token_id"] == _tok(run).convert_tokens_to_ids("<|eot_id|>")
    # llama.cpp's rope_freqs tensor divides each rope frequency the way transformers' llama3 rope does
    factors = next(t for t in reader.tensors if t.name == "rope_freqs.weight").data
    config = AutoConfig.from_pretrained(run / "base")
    scaled, _ = ROPE_INIT_FUNCTIONS["llama3"](config, torch.device("cpu"))
    dim = config.hidden_size // config.num_attention_heads
    plain = 1.0 / (10000.0 ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    np.testing.assert_allclose(factors, (plain / scaled).numpy(), rtol=1e-5)
    assert factors.min() == 1.0 and factors.max() == 8.0  # both ends of the scheme are exercised

    modelfile = result.modelfile.read_text()
    assert result.template == "llama3" and "<|start_header_id|>{{ .Role }}<|end_header_id|>" in modelfile
    assert 'PARAMETER stop "<|eot_id|>"' in modelfile


def test_modelfile_template_matches_only_verified_templates():
    from trainer.modelfile import PROBE, TEMPLATES, render_modelfile
    from trainer.templates import CHATML, LLAMA3

    class Tok:
        def __init__(self, template):
            self.chat_template = template

        def apply_chat_template(self, messages, tokenize, add_generation_prompt):
            from jinja2 import Template

            return Template(self.chat_template).render(messages=messages, add_generation_prompt=add_generation_prompt)

    for template, name in ((CHATML, "chatml"), (LLAMA3, "llama3")):
        text, tpl = render_modelfile("x.gguf", Tok(template), [], "")
        assert tpl.name == name and tpl.python(PROBE) == Tok(template).apply_chat_template(PROBE, False, True)
        assert "SYSTEM" not in text
    mistral = ("{{ '<s>' }}{% for m in messages %}{% if m['role'] == 'user' %}{{ '[INST] ' + m['content'] + ' [/INST]' }}"
               "{% else %}{{ m['content'] + '</s>' }}{% endif %}{% endfor %}")
    text, tpl = render_modelfile("x.gguf", Tok(mistral), ["</s>"], "be Sam")
    assert tpl is None and "TEMPLATE" not in text.replace("no verified Go twin", "")
    assert 'PARAMETER stop "</s>"' in text and 'SYSTEM """be Sam"""' in text
    assert len(TEMPLATES) == 2


@pytest.mark.slow
def test_real_training_run_exports(tmp_path):
    """A real tiny QLoRA run (tiny-cpu preset: 4-bit base, LoRA on every projection and the
    head) merged into the dequantized base: each quant type read back by transformers."""
    from tests.trainer.conftest import write_dataset
    from trainer.gguf import export_gguf
    from trainer.inference import open_run
    from trainer.merge import merge_adapter
    from trainer.train import TrainRequest, train

    data = write_dataset(tmp_path / "datasets", n_train=24, n_val=4)
    run = train(TrainRequest(data=str(data), base="tiny", preset="tiny-cpu", out=tmp_path / "run",
                             overrides={"max_steps": 6, "eval_steps": 6, "max_length": 128, "grad_accum": 1}))
    assert open_run(run).method == "qlora"
    tokenizer = _tok(run)
    batches = encode_texts(tokenizer, prompts(tokenizer))
    merged = merge_adapter(open_run(run), "fp32").eval()
    want = logits_of(merged, batches)
    quality = {}
    for quant in ("f16", "q8_0", "q4_0"):
        path = export_gguf(run, tmp_path / f"{quant}.gguf", quant=quant).path
        model, gguf_tok = read_back(path)
        got = logits_of(model, batches)
        assert worst(got, logits_of(rounded_like_the_file(merged, quant), batches)) < EXACT
        quality[quant] = worst(got, want)
        assert gguf_tok(prompts(tokenizer)[0])["input_ids"] == batches[0][0].tolist()
    print(f"\ntrained tiny run: max |logit diff| / max |logit| {quality}")
    assert quality["f16"] < TRAINED_QUALITY["f16"] and quality["q8_0"] < TRAINED_QUALITY["q8_0"]
    assert quality["q4_0"] < TRAINED_QUALITY["q4_0"]


GO_RENDER = """package main

import (
	"encoding/json"
	"os"
	"text/template"
)

type Message struct{ Role, Content string }

func main() {
	var in struct {
		Template string
		Messages []Message
	}
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		panic(err)
	}
	t := template.Must(template.New("m").Parse(in.Template))
	if err := t.Execute(os.Stdout, map[string]any{"Messages": in.Messages}); err != nil {
		panic(err)
	}
}
"""


@pytest.mark.skipif(shutil.which("go") is None, reason="needs a Go toolchain (Ollama's templates are Go text/template)")
def test_modelfile_go_templates_render_like_training(tmp_path):
    """Go's own text/template renders each Modelfile TEMPLATE to exactly what the Jinja
    chat template gave in training, for a conversation as Ollama passes it (the Modelfile
    SYSTEM first in .Messages)."""
    import subprocess

    from trainer.modelfile import PROBE, TEMPLATES
    from trainer.templates import CHATML, LLAMA3

    (tmp_path / "render.go").write_text(GO_RENDER)
    jinja = {"chatml": CHATML, "llama3": LLAMA3}
    for tpl in TEMPLATES:
        for messages in (PROBE, PROBE[1:], PROBE + [{"role": "assistant", "content": "ok\n\n  see you"},
                                                    {"role": "user", "content": "{{ not a template }} <b>"}]):
            go = subprocess.run(
                ["go", "run", str(tmp_path / "render.go")], cwd=tmp_path, capture_output=True, text=True, check=True,
                input=json.dumps({"Template": tpl.go, "Messages": [{"Role": m["role"], "Content": m["content"]}
                                                                  for m in messages]}),
                env={**os.environ, "GOCACHE": str(tmp_path / "gocache"), "GOPATH": str(tmp_path / "gopath"),
                     "GO111MODULE": "off"}).stdout
            from jinja2 import Template

            want = Template(jinja[tpl.name]).render(messages=messages, add_generation_prompt=True)
            assert go == want == tpl.python(messages), (tpl.name, go, want)
