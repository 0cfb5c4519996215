"""`--base tiny`: a small random-init Llama-architecture model and a byte-level BPE
tokenizer trained on the dataset's own text, built offline and saved to runs/<id>/base/
so chat, merge and serve can reload it like any local base.

``template`` (tests/fixtures/chat_templates/*.json: a real model's chat_template, special
tokens and bos/eos/pad) turns the tiny base into a stand-in for that model: same
template, same special tokens as single vocabulary entries, same bos/eos."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from trainer.config import TinyModelConfig

SPECIALS = ["<|endoftext|>", "<|pad|>", "<|im_start|>", "<|im_end|>"]


def train_tokenizer(texts: Iterable[str], vocab_size: int):
    """Byte-level BPE (every byte is in the alphabet, so any text encodes) with the chatml
    markers as special tokens. No chat template: clonekit sets chatml on it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        unk_token=None,
        bos_token=None,
        model_max_length=1 << 20,
    )


# Reasoning markers are ordinary added tokens in Qwen3 and DeepSeek-R1 (not "special"):
# decoding with skip_special_tokens keeps them, as on the real models.
_NOT_SPECIAL = {"<think>", "</think>"}


def apply_template(tokenizer, template: dict):
    """Give ``tokenizer`` a real model's chat template, special tokens and bos/eos/pad/unk
    (in place; returns it)."""
    from tokenizers import AddedToken

    roles = {k: template.get(k) for k in ("bos_token", "eos_token", "pad_token", "unk_token")}
    wanted = list(dict.fromkeys([t for t in template.get("special_tokens", []) if t]
                                + [t for t in roles.values() if t]))
    vocab = tokenizer.get_vocab()
    new = [t for t in wanted if t not in vocab]
    tokenizer.add_tokens([AddedToken(t, special=t not in _NOT_SPECIAL, normalized=False) for t in new
                          if t not in _NOT_SPECIAL], special_tokens=True)
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in new if t in _NOT_SPECIAL])
    for key, tok in roles.items():
        if tok:
            setattr(tokenizer, key, tok)
        elif key == "bos_token":
            tokenizer.bos_token = None
    tokenizer.chat_template = template["chat_template"]
    return tokenizer


def build_tiny_base(texts: Iterable[str], spec: TinyModelConfig, out_dir: Path, max_length: int,
                    template: dict | None = None) -> Path:
    """Train the tokenizer (with ``template``'s tokens and chat template when given), init
    the model (seeded), save both to ``out_dir``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = train_tokenizer(texts, spec.vocab_size)
    if template:
        apply_template(tokenizer, template)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads,
        max_position_embeddings=max(4096, max_length),
        tie_word_embeddings=False,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    torch.manual_seed(spec.seed)
    model = LlamaForCausalLM(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
