"""The slot decoder (trainer.slot_decode, what `clonekit serve` batches on a GPU) computes
what each model computes: for tiny random-init models of the families people fine-tune
(Llama, Mistral, Qwen2, Qwen3, Phi-3, Gemma 2 with eager attention and soft-capping), rows
of different lengths decoded together give each row exactly its own greedy
``model.generate`` tokens; a model whose sliding window is shorter than the cache is
refused (it stays on the eager batch)."""

from __future__ import annotations

import pytest

TINY = dict(vocab_size=320, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=1024)


def _model(family: str):
    import torch
    import transformers as tf

    torch.manual_seed(0)
    configs = {
        "llama": lambda: tf.LlamaConfig(**TINY),
        "mistral": lambda: tf.MistralConfig(**TINY, sliding_window=4096),
        "qwen2": lambda: tf.Qwen2Config(**TINY),
        "qwen3": lambda: tf.Qwen3Config(**TINY, head_dim=16),
        "phi3": lambda: tf.Phi3Config(**TINY, pad_token_id=0),
        "gemma2": lambda: tf.Gemma2Config(**TINY, head_dim=16, sliding_window=4096,
                                          attn_implementation="eager"),
    }
    config = configs[family]()
    attn = "eager" if family == "gemma2" else "sdpa"
    return tf.AutoModelForCausalLM.from_config(config, attn_implementation=attn).eval()


def _load(decoder, model, slot: int, prompt: list[int]) -> None:
    import torch
    from transformers import DynamicCache

    from trainer.batching import cache_kwarg

    cache = DynamicCache()
    out = model(input_ids=torch.tensor([prompt]), use_cache=True, **{cache_kwarg(model): cache})
    first = out.logits[0, -1].argmax()
    seen = torch.zeros(decoder.seen.shape[1], dtype=torch.bool)
    seen[prompt] = True
    seen[first] = True
    decoder.load(slot, [(layer.keys[0], layer.values[0]) for layer in cache.layers], len(prompt), first, seen,
                 torch.tensor([1.0, 1.0, 1.0]), False)


@pytest.mark.parametrize("family", ["llama", "mistral", "qwen2", "qwen3", "phi3", "gemma2"])
def test_rows_of_different_lengths_decode_as_alone(family):
    import torch

    from trainer.slot_decode import SlotDecoder, supported

    model = _model(family)
    assert supported(model, 512)
    prompts = [[5, 6, 7, 8, 9, 10, 11], [12, 13], [14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24]]
    steps = 9
    with torch.inference_mode():
        want = [model.generate(torch.tensor([p]), max_new_tokens=steps + 1, do_sample=False,
                               pad_token_id=0)[0, len(p):].tolist() for p in prompts]
        decoder = SlotDecoder(model, 4, 512, compile_step=False)
        # slot 1 stays free: it steps along, and must not disturb the others
        for slot, prompt in zip((0, 2, 3), prompts):
            _load(decoder, model, slot, prompt)
        firsts = decoder.last.tolist()
        got = [[firsts[s]] for s in (0, 2, 3)]
        for _ in range(steps):
            ids = decoder.step().tolist()
            for row, slot in zip(got, (0, 2, 3)):
                row.append(ids[slot])
        # a row that joins later, into the free slot, also decodes as alone
        late = [30, 31, 32, 33]
        _load(decoder, model, 1, late)
        joined = [decoder.last[1].item()] + [decoder.step()[1].item() for _ in range(4)]
        alone = model.generate(torch.tensor([late]), max_new_tokens=5, do_sample=False, pad_token_id=0)
    assert got == want
    assert joined == alone[0, len(late):].tolist()
    keys, values = decoder.row(1)[0]  # its context, to move it back into an eager batch
    assert keys.shape[-2] == values.shape[-2] == len(late) + 4


def test_a_sliding_window_shorter_than_the_cache_is_refused():
    import transformers as tf

    from trainer.slot_decode import supported

    config = tf.MistralConfig(**TINY, sliding_window=256)
    model = tf.AutoModelForCausalLM.from_config(config, attn_implementation="sdpa")
    assert supported(model, 256) and not supported(model, 512)
    flash = tf.AutoModelForCausalLM.from_config(tf.LlamaConfig(**TINY), attn_implementation="sdpa")
    flash.config._attn_implementation = "flash_attention_2"  # a 4-D mask can't be passed there
    assert not supported(flash, 512)


def test_slot_bucket():
    from trainer.slot_decode import slot_bucket

    assert [slot_bucket(n) for n in (1, 2, 4, 5, 8, 9, 16, 17, 32)] == [4, 4, 4, 8, 8, 16, 16, 32, 32]
