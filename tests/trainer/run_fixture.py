"""A finished run directory fabricated exactly per docs/CONTRACTS.md ("Runs"), for the
chat / compare / merge / serve / eval tests: a tiny random-init Llama base, a byte-level
BPE tokenizer trained here with chatml tokens and a chat template, a LoRA adapter with
non-zero weights (so base and fine-tuned really differ), run.json, and a dataset version
with train/val.jsonl. Built once per session (a few seconds on CPU)."""

from __future__ import annotations

import json
from pathlib import Path

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

PERSONA = {
    "name": "Sam",
    "facts": ["lives in Lisbon", "works as a nurse"],
    "style": "short lowercase replies, lots of emoji",
}

_CORPUS = [
    "hey how are you", "all good here 😀", "see you tomorrow at the beach",
    "ok cool", "lol that's funny", "I am at work until six", "did you eat yet",
    "Coffee later?", "yes!! 🎉", "the train is late again", "love you", "call me",
]


def _records() -> list[dict]:
    records = []
    for i, contact in enumerate(["Alex", "Mum", "Alex", "Boss"] * 3):
        msgs = [{"role": "system", "content": f"You are Sam talking to {contact}."}]
        for j in range(3):
            msgs.append({"role": "user", "name": contact, "content": _CORPUS[(i + j) % len(_CORPUS)]})
            msgs.append({"role": "assistant", "content": _CORPUS[(i + 2 * j + 1) % len(_CORPUS)]})
        records.append({"messages": msgs, "meta": {
            "contact": contact, "role_tag": "friend" if contact == "Alex" else "family",
            "source": "fixture", "start": "2024-01-01T10:00:00", "end": "2024-01-01T10:05:00",
            "n_tokens": 40, "synthetic": False}})
    return records


def load_adapter(run_dir: Path):
    """(tokenizer, PeftModel) of a finished run, loaded with plain transformers + peft (no
    clonekit code): the run folder is usable on its own."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(run_dir / "adapter")
    base = AutoModelForCausalLM.from_pretrained(run_dir / "base")
    return tok, PeftModel.from_pretrained(base, run_dir / "adapter").eval()


def make_tokenizer(save_dir: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|im_end|>",
        pad_token="<|endoftext|>", unk_token=None)
    fast.chat_template = CHATML_TEMPLATE
    fast.save_pretrained(save_dir)
    return fast


def make_run(root: Path, run_id: str = "tiny-run", status: str = "done") -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    run = root / run_id
    base_dir, adapter_dir = run / "base", run / "adapter"
    tokenizer = make_tokenizer(base_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=48, intermediate_size=96, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False)
    base = LlamaForCausalLM(config)
    base.save_pretrained(base_dir)

    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "o_proj"],
                      lora_dropout=0.0, task_type="CAUSAL_LM")
    peft_model = get_peft_model(base, lora)
    with torch.no_grad():  # LoRA B starts at zero; make the adapter change the outputs
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.5)
    peft_model.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)

    dataset = root / "datasets" / "fixture" / "v0001"
    dataset.mkdir(parents=True)
    records = _records()
    for split, rows in (("train", records[:8]), ("val", records[8:])):
        (dataset / f"{split}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    (dataset / "manifest.json").write_text(json.dumps({"version": "v0001", "config": {"persona": PERSONA}}))

    run_json = {
        "run_id": run_id, "status": status, "base": "tiny", "base_path": str(base_dir),
        "method": "lora", "load_in_4bit": False, "dataset": str(dataset),
        "dataset_version": "fixture/v0001", "manifest_sha256": "0" * 64, "persona": PERSONA,
        "chat_template": "chatml", "stop_token_ids": [tokenizer.eos_token_id],
        "config": {"max_seq_len": 512}, "best_checkpoint": None, "final": {"eval_loss": 5.9},
    }
    (run / "run.json").write_text(json.dumps(run_json, indent=2))
    return run


def make_full_run(lora_run: Path, run_id: str = "tiny-full") -> Path:
    """A full fine-tune beside ``lora_run``: its base with perturbed weights saved as
    <run>/model (with the tokenizer), method "full", same base_path and dataset."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    info = json.loads((lora_run / "run.json").read_text())
    run = lora_run.parent / run_id
    model = AutoModelForCausalLM.from_pretrained(info["base_path"])
    torch.manual_seed(1)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    model.save_pretrained(run / "model")
    AutoTokenizer.from_pretrained(lora_run / "adapter").save_pretrained(run / "model")
    (run / "run.json").write_text(json.dumps(dict(info, run_id=run_id, method="full"), indent=2))
    return run


_BUILT: dict[str, Path] = {}


def _session_run(tmp_path_factory):
    """One run per test session, shared by every module that imports the fixture."""
    if "run" not in _BUILT:
        _BUILT["run"] = make_run(tmp_path_factory.mktemp("runs"))
    return _BUILT["run"]


try:
    import pytest

    # Import into a test module (`from tests.trainer.run_fixture import tiny_run`) to use it.
    tiny_run = pytest.fixture(scope="session")(_session_run)
except ImportError:  # used outside pytest (bench scripts)
    tiny_run = None
