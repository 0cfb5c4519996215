"""Fast trainer tests: templates, label masking, packing, round trip, estimate, config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builder.errors import ClonekitError, ConfigError
from tests.trainer.conftest import write_dataset
from trainer.data import IGNORE, PackedCollator, PaddedCollator, encode_record, load_dataset_version, make_rows, pack, Encoded
from trainer.roundtrip import check_round_trip
from trainer.templates import prepare_tokenizer, render, to_model_messages

RECORD = {
    "messages": [
        {"role": "system", "content": "You are Sam."},
        {"role": "user", "content": "hey are you free", "name": "Alex"},
        {"role": "assistant", "content": "yes! around 8?"},
        {"role": "user", "content": "cool", "name": "Alex"},
        {"role": "assistant", "content": "see you"},
    ],
    "meta": {},
}


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    from trainer.tiny import train_tokenizer

    texts = [m["content"] for m in RECORD["messages"]] * 20 + ["hello world, how are you doing today?"] * 20
    t = train_tokenizer(texts, vocab_size=400)
    info = prepare_tokenizer(t, "auto")
    return t, info


def test_names_dropped_one_to_one_and_prefixed_in_groups():
    one = to_model_messages(RECORD["messages"])
    assert all(set(m) == {"role", "content"} for m in one)
    assert one[1]["content"] == "hey are you free"
    group = [{"role": "user", "content": "hi", "name": "Alex"}, {"role": "user", "content": "yo", "name": "Mia"},
             {"role": "assistant", "content": "hey both"}]
    out = to_model_messages(group)
    assert [m["content"] for m in out] == ["Alex: hi", "Mia: yo", "hey both"]
    assert to_model_messages(group[:1], group=True)[0]["content"] == "Alex: hi"


def test_labels_are_exactly_the_persona_turns_with_end_of_turn(tok):
    t, info = tok
    [enc] = encode_record(t, RECORD, info.end_of_turn, max_length=4096)
    trained = [i for i, l in zip(enc.input_ids, enc.labels) if l != IGNORE]
    assert all(l in (IGNORE, i) for i, l in zip(enc.input_ids, enc.labels))
    # Token by token: the trained tokens are both replies, each followed by <|im_end|>.
    im_end = t.convert_tokens_to_ids("<|im_end|>")
    expected = (t("yes! around 8?", add_special_tokens=False)["input_ids"] + [im_end]
                + t("see you", add_special_tokens=False)["input_ids"] + [im_end])
    assert trained == expected
    # and they are contiguous spans right after each "<|im_start|>assistant\n"
    text = render(t, to_model_messages(RECORD["messages"]))
    assert t.decode(enc.input_ids) == text
    assert trained.count(im_end) == 2 and info.stop_token_ids[0] == im_end


def test_train_on_all_labels_everything_but_the_first(tok):
    t, info = tok
    [enc] = encode_record(t, RECORD, info.end_of_turn, max_length=4096, train_on="all")
    assert enc.labels[0] == IGNORE and enc.labels[1:] == enc.input_ids[1:]


def test_truncation_is_reported(tok):
    t, info = tok
    [enc] = encode_record(t, RECORD, info.end_of_turn, max_length=10)
    assert enc.truncated and len(enc.input_ids) == 10


def test_pack_first_fit_decreasing():
    bins = pack([5, 3, 8, 2, 7, 1], capacity=10)
    assert sorted(i for b in bins for i in b) == list(range(6))
    assert all(sum([5, 3, 8, 2, 7, 1][i] for i in b) <= 10 for b in bins)
    assert len(bins) == 3
    assert pack([5, 3, 8, 2, 7, 1], 10) == bins  # deterministic


def test_packed_collator_positions_and_boundaries():
    a = Encoded([10, 11, 12], [IGNORE, 11, 12])
    b = Encoded([20, 21], [IGNORE, 21])
    c = Encoded([30, 31, 32, 33], [IGNORE, IGNORE, 32, 33])
    rows = make_rows([a, b, c], max_length=5, packing=True)
    batch = PackedCollator()([rows[i] for i in range(len(rows))])
    assert batch["input_ids"].shape[0] == 1 and "attention_mask" not in batch
    ids, pos, labels = batch["input_ids"][0].tolist(), batch["position_ids"][0].tolist(), batch["labels"][0].tolist()
    assert sorted(ids) == sorted(a.input_ids + b.input_ids + c.input_ids)
    starts = [i for i, p in enumerate(pos) if p == 0]
    assert len(starts) == 3  # positions restart per conversation
    for s in starts:
        assert labels[s] == IGNORE  # nothing predicted across a boundary
    for s, e in zip(starts, starts[1:] + [len(pos)]):
        assert pos[s:e] == list(range(e - s))


def test_packed_forward_equals_separate_forwards():
    """No attention across conversations: logits of a packed row equal each alone. (With
    use_cache=True transformers skips the packed-mask detection: training sets it False.)"""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, attn_implementation="sdpa")).eval()
    seqs = [Encoded([1, 5, 9, 13, 2], [IGNORE, 5, 9, 13, 2]), Encoded([3, 4, 7], [IGNORE, 4, 7])]
    batch = PackedCollator()([{"input_ids": [s.input_ids for s in seqs], "labels": [s.labels for s in seqs]}])
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits[0]
        alone = torch.cat([model(input_ids=torch.tensor([s.input_ids])).logits[0] for s in seqs])
    torch.testing.assert_close(packed, alone, atol=1e-5, rtol=1e-4)


def test_padded_collator_pads_and_masks():
    batch = PaddedCollator(pad_token_id=0, pad_to=6)([{"input_ids": [[5, 6, 7]], "labels": [[IGNORE, 6, 7]]}])
    assert batch["input_ids"].tolist() == [[5, 6, 7, 0, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE, 6, 7, IGNORE, IGNORE, IGNORE]]


def test_round_trip_passes_on_chatml(tok):
    t, info = tok
    rt = check_round_trip(t, RECORD, info)
    assert rt.assistant_turns == 2 and "see you<|im_end|>" in rt.trained_text


def test_round_trip_catches_a_generation_prompt_that_differs(tok):
    t, info = tok
    original = t.chat_template
    try:  # the generation prompt opens a different role than training renders
        t.chat_template = original.replace("{{- '<|im_start|>assistant", "{{- '<|im_start|>bot")
        assert t.chat_template != original
        with pytest.raises(ClonekitError, match="round-trip check failed.*inference prompt differs"):
            check_round_trip(t, RECORD, info)
    finally:
        t.chat_template = original


def test_round_trip_catches_a_missing_end_of_turn(tok):
    t, info = tok
    original = t.chat_template
    try:  # assistant turns rendered without <|im_end|>: the "model never stops" bug
        t.chat_template = (
            "{%- for m in messages %}{{- '<|im_start|>' + m['role'] + '\\n' + m['content'] }}"
            "{%- if m['role'] != 'assistant' %}{{- '<|im_end|>\\n' }}{%- else %}{{- '\\n' }}{%- endif %}{%- endfor %}"
            "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
        )
        with pytest.raises(ClonekitError, match="end-of-turn"):
            check_round_trip(t, RECORD, info)
    finally:
        t.chat_template = original


def test_named_llama3_template_adds_special_tokens(tok):
    from trainer.tiny import train_tokenizer

    t = train_tokenizer(["some text here"] * 10, vocab_size=300)
    n = len(t)
    info = prepare_tokenizer(t, "llama3")
    assert info.name == "llama3" and len(t) == n + 4 and set(info.added_tokens) == {
        "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"}
    [enc] = encode_record(t, RECORD, info.end_of_turn, 4096)
    eot = t.convert_tokens_to_ids("<|eot_id|>")
    assert [i for i, l in zip(enc.input_ids, enc.labels) if l != IGNORE].count(eot) == 2


def test_load_dataset_version_errors(tmp_path):
    v = write_dataset(tmp_path, n_train=3, n_val=1)
    ds = load_dataset_version(v)
    assert ds.version_id == "sam/v0001" and len(ds.train) == 3 and ds.persona["name"] == "Sam"
    (v / "train.jsonl").write_text("")
    with pytest.raises(ClonekitError, match="train.jsonl: no training records"):
        load_dataset_version(v)
    (v / "train.jsonl").write_text('{"messages": []}\n{not json\n')
    with pytest.raises(ClonekitError, match=r"train.jsonl:2: not valid JSON"):
        load_dataset_version(v)
    with pytest.raises(ClonekitError, match="not found|no manifest.json"):
        load_dataset_version(tmp_path / "nowhere")


def test_presets_and_unknown_keys():
    from trainer.presets import list_presets, resolve_config

    assert set(list_presets()) >= {"seed-qlora-7b", "qlora", "lora", "full", "tiny-cpu"}
    seed = resolve_config("seed-qlora-7b")
    assert (seed.lora_r, seed.lora_alpha, seed.lora_dropout, seed.max_length, seed.batch_size, seed.grad_accum,
            seed.epochs, seed.bnb_4bit_quant_type, seed.bnb_4bit_double_quant, seed.precision) == (
        32, 64, 0.05, 3000, 1, 8, 5, "nf4", True, "bf16")
    for name in list_presets():
        first = (Path(__file__).resolve().parents[2] / "trainer" / "presets" / f"{name}.toml").read_text().splitlines()
        assert first[0].startswith("#") and any("clonekit train" in l for l in first[:4])
    with pytest.raises(ConfigError, match="unknown preset"):
        resolve_config("nope")
    with pytest.raises(ConfigError, match="lora_r"):
        resolve_config("qlora", {"lora_r": 0})


def test_estimate_seed_recipe_on_7b_shape():
    from transformers import MistralConfig

    from trainer.estimate import GiB, largest_fitting_length, memory_bytes, model_shape, trainable_params
    from trainer.presets import resolve_config

    shape = model_shape(MistralConfig(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32,
                                      num_key_value_heads=8, intermediate_size=14336, vocab_size=32000))
    cfg = resolve_config("seed-qlora-7b")
    assert shape.total_params == 7_241_732_096
    assert trainable_params(shape, cfg) == 83_886_080  # the known r=32 all-linear count
    mem = memory_bytes(shape, cfg, trainable_params(shape, cfg))
    assert 6 * GiB < mem < 16 * GiB
    fit = largest_fitting_length(shape, cfg, trainable_params(shape, cfg), 8 * GiB)
    assert fit is not None and fit < 3000


def test_resume_skips_a_checkpoint_cut_off_mid_save(tmp_path):
    from trainer.train import last_complete_checkpoint

    for step, complete in ((4, True), (8, True), (12, False)):
        ck = tmp_path / f"checkpoint-{step}"
        ck.mkdir()
        (ck / "adapter_model.safetensors").write_bytes(b"x")
        if complete:
            (ck / "trainer_state.json").write_text('{"global_step": %d}' % step)
    (tmp_path / "checkpoint-10").mkdir()
    (tmp_path / "checkpoint-10" / "trainer_state.json").write_text('{"global_st')  # torn write
    best, partial = last_complete_checkpoint(tmp_path)
    assert best == str(tmp_path / "checkpoint-8")
    assert [p.name for p in partial] == ["checkpoint-12", "checkpoint-10"]
    assert last_complete_checkpoint(tmp_path, below_step=8)[0] == str(tmp_path / "checkpoint-4")
    assert last_complete_checkpoint(tmp_path / "missing") == (None, [])
