"""The chat templates of 16 popular instruct models (tests/fixtures/chat_templates, cited in
SOURCES.md) on tiny tokenizers carrying their real special tokens and bos/eos: what the
probe decides for each, and, for every conversation shape clonekit produces (one-to-one,
group chat, persona first with and without a system prompt, two persona turns in a
row), that the loss-carrying tokens are exactly the persona's turns, each with its
end-of-turn token, and that chat's prompt is token for token where training put it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from builder.errors import ClonekitError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "chat_templates"
KEYS = sorted(p.stem for p in FIXTURES.glob("*.json"))

SYSTEM = "You are Sam, texting with Alex. Keep it short."


def spec(key: str) -> dict:
    return json.loads((FIXTURES / f"{key}.json").read_text(encoding="utf-8"))


def _u(text, name="Alex"):
    return {"role": "user", "content": text, "name": name}


def _a(text):
    return {"role": "assistant", "content": text}


SHAPES = {
    "one_to_one": [{"role": "system", "content": SYSTEM}, _u("hey are you free tonight"), _a("yes! around 8?"),
                   _u("cool, where"), _a("usual place")],
    "group": [{"role": "system", "content": SYSTEM}, _u("anyone up for pizza"), _u("me!", "Mia"),
              _a("always, 8pm?"), _u("works", "Jo"), _a("see you both")],
    "persona_first_with_system": [{"role": "system", "content": SYSTEM}, _a("did you get home ok?"),
                                  _u("yes thanks"), _a("good night then")],
    "persona_first_no_system": [_a("did you get home ok?"), _u("yes thanks"), _a("good night then")],
    "two_persona_turns_in_a_row": [{"role": "system", "content": SYSTEM}, _u("how was work"), _a("long day"),
                                   _a("tell you later"), _u("ok"), _a("call you at 9")],
}
CORPUS = [m["content"] for msgs in SHAPES.values() for m in msgs] + ["Alex: hi", "Mia: hello", "Jo: yes"]


def record(shape: str) -> dict:
    return {"messages": [dict(m) for m in SHAPES[shape]], "meta": {"contact": "Alex", "role_tag": "friend"}}


def tiny_tokenizer(key: str):
    from trainer.tiny import apply_template, train_tokenizer

    return apply_template(train_tokenizer(CORPUS * 4, vocab_size=400), spec(key))


@pytest.fixture(scope="module")
def prepared():
    from trainer.templates import prepare_tokenizer

    out = {}
    for key in KEYS:
        tok = tiny_tokenizer(key)
        out[key] = (tok, prepare_tokenizer(tok, "auto"))
    return out


def expected_persona_turns(messages: list[dict], merged: bool) -> list[str]:
    out: list[str] = []
    prev = None
    for m in messages:
        if m["role"] == "assistant":
            if merged and prev == "assistant":
                out[-1] += "\n" + m["content"]
            else:
                out.append(m["content"])
        if m["role"] != "system":
            prev = m["role"]
    return out


def trained_spans(tok, seqs) -> list[str]:
    from trainer.data import IGNORE

    spans = []
    for e in seqs:
        cur: list[int] = []
        for tid, label in zip(e.input_ids, e.labels):
            if label != IGNORE:
                assert label == tid
                cur.append(tid)
            elif cur:
                spans.append(tok.decode(cur))
                cur = []
        if cur:
            spans.append(tok.decode(cur))
    return spans


def test_all_seventeen_fixtures_are_here_and_cited():
    assert len(KEYS) == 17
    sources = (FIXTURES / "SOURCES.md").read_text(encoding="utf-8")
    for key in KEYS:
        s = spec(key)
        assert s["chat_template"] and s["eos_token"] and s["source"]["repo"]
        assert f"`{key}.json`" in sources


# What the probe finds for each real template, and so what clonekit does with it.
VERDICTS = {
    "gemma2": dict(system="fold", merge_runs=True, assistant_first=False),
    "gemma3": dict(system="native", merge_runs=True, assistant_first=False, list_content=False),
    "gemma3_1b_first": dict(system="native", list_content=True, merge_runs=True, assistant_first=False),
    "mistral7b_v0_3": dict(system="fold", merge_runs=True, assistant_first=False),
    "mistral_nemo": dict(system="fold", merge_runs=True, assistant_first=False),
    "mistral_small3": dict(system="native", merge_runs=True, assistant_first=False),
    "qwen3": dict(system="native", merge_runs=False, template_kwargs={"enable_thinking": False}),
    "r1_distill": dict(prompt_suffix="\n</think>\n\n", merge_runs=False),
    "r1_distill_old": dict(prompt_suffix="", merge_runs=False),
    "phi3_5": dict(system="native", merge_runs=False, assistant_first=True),
    "phi4_mini": dict(system="native", merge_runs=False, assistant_first=True),
    "phi4_reasoning": dict(system="fold", generation_mask=True, merge_runs=False),
    "llama3_1": dict(system="native", merge_runs=False, assistant_first=True),
    "qwen2_5": dict(system="native", merge_runs=False, assistant_first=True),
    "smollm2": dict(system="native", merge_runs=False, assistant_first=True),
}
END_OF_TURN = {"gemma2": "<end_of_turn>", "gemma3": "<end_of_turn>", "gemma3_1b_first": "<end_of_turn>",
               "llama3_1": "<|eot_id|>", "llama3_2": "<|eot_id|>", "llama3_3": "<|eot_id|>",
               "mistral7b_v0_3": "</s>", "mistral_nemo": "</s>", "mistral_small3": "</s>",
               "phi3_5": "<|end|>", "phi4_mini": "<|end|>", "phi4_reasoning": "<|im_end|>", "qwen2_5": "<|im_end|>", "qwen3": "<|im_end|>",
               "smollm2": "<|im_end|>", "r1_distill": "<｜end▁of▁sentence｜>", "r1_distill_old": "<｜end▁of▁sentence｜>"}


@pytest.mark.parametrize("key", KEYS)
def test_the_base_template_is_kept_and_probed(prepared, key):
    from trainer.template_fit import TemplateFit

    tok, info = prepared[key]
    assert info.name == "base" and not info.added_tokens and info.fallback_reason is None
    assert info.end_of_turn == END_OF_TURN[key]
    assert tok.convert_tokens_to_ids(info.end_of_turn) in info.stop_token_ids
    fit = TemplateFit.from_dict(info.fit)
    for attr, want in VERDICTS.get(key, {}).items():
        assert getattr(fit, attr) == want, (key, attr)


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("shape", list(SHAPES))
def test_loss_is_exactly_the_persona_turns_and_chat_prompts_match(prepared, key, shape):
    from trainer.data import IGNORE, encode_record
    from trainer.prompting import build_prompt
    from trainer.template_fit import TemplateFit

    tok, info = prepared[key]
    fit = TemplateFit.from_dict(info.fit)
    rec = record(shape)
    seqs = encode_record(tok, rec, info.end_of_turn, max_length=4096)
    spans = trained_spans(tok, seqs)
    # Mistral v0.3 renders "[/INST] reply</s>": the space after [/INST] belongs to the reply.
    got = Counter(s[1:] if key == "mistral7b_v0_3" and s.startswith(" ") else s for s in spans)
    want = Counter(t + info.end_of_turn for t in expected_persona_turns(rec["messages"], fit.merge_runs))
    assert got == want, (key, shape, spans)
    assert not any("<think>" in s or "</think>" in s for s in spans)

    # Chat's prompt for the last persona turn (prompting.build_prompt, as chat/serve/eval
    # call it) is token for token the start of a training sequence whose next token is trained.
    msgs = rec["messages"]
    last = max(i for i, m in enumerate(msgs) if m["role"] == "assistant")
    system = msgs[0]["content"] if msgs[0]["role"] == "system" else ""
    history = [m for m in msgs[:last] if m["role"] != "system"]
    if not history:
        return  # nothing before the persona speaks: chat always starts with the user
    prompt = build_prompt(tok, system, history, "Alex", history_tokens=1 << 20).input_ids
    assert any(e.input_ids[: len(prompt)] == prompt and e.labels[len(prompt)] != IGNORE for e in seqs), (key, shape)


def test_adapt_merges_folds_and_opens_as_the_template_needs():
    from trainer.template_fit import TemplateFit, adapt
    from trainer.templates import to_model_messages

    gemma2 = TemplateFit(system="fold", merge_runs=True, assistant_first=False)
    group = adapt(gemma2, to_model_messages(SHAPES["group"]))
    assert group == [
        {"role": "user", "content": f"{SYSTEM}\n\nAlex: anyone up for pizza\nMia: me!"},
        {"role": "assistant", "content": "always, 8pm?"},
        {"role": "user", "content": "Jo: works"},
        {"role": "assistant", "content": "see you both"}]
    first = adapt(gemma2, to_model_messages(SHAPES["persona_first_with_system"]))
    assert first[0] == {"role": "user", "content": f"{SYSTEM}\n\n(new conversation)"}
    assert [m["role"] for m in first] == ["user", "assistant", "user", "assistant"]
    # A template that takes everything keeps the conversation as it is, a system-less
    # persona-first one aside (there is nothing to prompt its first turn with).
    plain = TemplateFit()
    assert adapt(plain, to_model_messages(SHAPES["two_persona_turns_in_a_row"])) == to_model_messages(
        SHAPES["two_persona_turns_in_a_row"])
    assert adapt(plain, to_model_messages(SHAPES["persona_first_no_system"]))[0] == {
        "role": "user", "content": "(new conversation)"}
    listed = adapt(TemplateFit(list_content=True), [{"role": "user", "content": "hi"}])
    assert listed == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]


@pytest.mark.parametrize("key", KEYS)
def test_the_two_render_path_equals_rendering_every_turn(prepared, key):
    """persona_turns' fast path for prefix-stable templates gives exactly the turn-by-turn result."""
    from trainer.template_fit import persona_turns
    from trainer.templates import to_model_messages

    tok, info = prepared[key]
    for shape in SHAPES:
        msgs = to_model_messages(record(shape)["messages"])
        assert persona_turns(tok, msgs, info.end_of_turn) == persona_turns(tok, msgs, info.end_of_turn, each_turn=True)


def test_qwen3_is_trained_in_non_thinking_mode_turn_by_turn(prepared):
    from trainer.data import encode_record
    from trainer.prompting import build_prompt

    tok, info = prepared["qwen3"]
    rec = record("one_to_one")
    seqs = encode_record(tok, rec, info.end_of_turn, max_length=4096)
    assert len(seqs) == 2  # the last turn in the full render, the earlier one as chat renders it
    prompt = tok.decode(build_prompt(tok, SYSTEM, [{"role": "user", "content": "hey are you free tonight"}], "Alex").input_ids)
    assert prompt.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")


def test_reasoning_prompt_closes_the_think_block(prepared):
    from trainer.prompting import build_prompt

    tok, _ = prepared["r1_distill"]
    prompt = tok.decode(build_prompt(tok, SYSTEM, [{"role": "user", "content": "hey"}], "Alex").input_ids)
    assert prompt.endswith("<｜Assistant｜><think>\n\n</think>\n\n")


def test_the_templates_own_generation_marks_give_the_labels(prepared):
    """Phi-4-reasoning marks assistant text with {% generation %}: those marks are the
    labels; a mark that stops before the end-of-turn token is extended through it."""
    from trainer.data import encode_record
    from trainer.template_fit import attach, generation_spans, persona_turns, probe
    from trainer.templates import to_model_messages

    tok, info = prepared["phi4_reasoning"]
    original = tok.chat_template
    try:
        tok.chat_template = original.replace("{% generation %}{{message['content'] + '<|im_end|>'}}{% endgeneration %}",
                                             "{% generation %}{{message['content']}}{% endgeneration %}{{'<|im_end|>'}}")
        assert tok.chat_template != original
        fit = attach(tok, probe(tok))
        msgs, full, _turns = persona_turns(tok, to_model_messages(record("one_to_one")["messages"]), info.end_of_turn)
        marks = generation_spans(tok, fit, msgs, full)
        assert [full[a:b] for a, b in marks] == ["yes! around 8?", "usual place"]  # the marks stop short
        spans = trained_spans(tok, encode_record(tok, record("one_to_one"), info.end_of_turn, 4096))
        assert spans == ["yes! around 8?<|im_end|>", "usual place<|im_end|>"]
    finally:
        tok.chat_template = original
        attach(tok, info.fit)


def test_strip_think():
    from trainer.template_fit import strip_think

    assert strip_think("<think>\nhmm\n</think>\n\nyes! around 8?") == "yes! around 8?"
    assert strip_think("yes") == "yes"
    assert strip_think("</think>\n\nok") == "ok"
    assert strip_think("sure <think>let me") == "sure"


@pytest.mark.parametrize("text", ["<think>\nhmm, 8?\n</think>\n\nyes! around 8?", "plain reply", "a < b <thi",
                                  "<think></think>ok", "x <think>y</think> z", "<thinking is fun>"])
def test_streamed_replies_hide_think_blocks_like_the_final_text(text):
    """chat and serve stream through ThinkFilter: whatever the chunking, the streamed text
    is the reply chat keeps (strip_think)."""
    import random

    from trainer.template_fit import ThinkFilter, strip_think

    for seed in range(20):
        rng, f, out, i = random.Random(seed), ThinkFilter(), [], 0
        while i < len(text):
            n = rng.randint(1, 4)
            out.append(f.feed(text[i:i + n]))
            i += n
        out.append(f.flush())
        assert "".join(out) == strip_think(text)


def test_every_record_is_checked_and_problems_are_counted(prepared):
    from trainer.data import encode_all

    tok, info = prepared["gemma2"]
    bad = {"messages": [{"role": "user", "content": "hi"}, {"role": "tool", "content": "{}"},
                        {"role": "assistant", "content": "ok"}], "meta": {}}
    records = [record("one_to_one"), bad, record("group"), bad, {"messages": [_u("only the other side")], "meta": {}}]
    enc, rep = encode_all(tok, records, info.end_of_turn, 4096, "assistant", where="train.jsonl")
    assert len(enc) == 2
    skipped = {k: v for k, v in rep.problems.items() if k.startswith("skipped")}
    refused = next(v for k, v in skipped.items() if "refuses" in k)
    assert refused == {"count": 2, "example": "train.jsonl:2"}
    assert skipped["skipped: no persona turn to train on"]["example"] == "train.jsonl:5"
    folded = next(v for k, v in rep.problems.items() if k.startswith("system prompt folded"))
    assert folded["count"] == 2 and folded["example"] == "train.jsonl:1"
    assert any(k.startswith("consecutive turns") for k in rep.problems)


def test_a_record_whose_persona_turns_are_all_cut_off_says_so(prepared):
    from trainer.data import encode_all

    tok, info = prepared["llama3_1"]
    enc, rep = encode_all(tok, [record("one_to_one")], info.end_of_turn, 40, "assistant", where="train.jsonl")
    assert not enc
    assert rep.problems == {"skipped: every persona turn is beyond max length 40 tokens (raise --max-length)":
                            {"count": 1, "example": "train.jsonl:1"}}


def test_nothing_trainable_is_refused_in_one_line_naming_the_record(prepared, tmp_path):
    from tests.trainer.conftest import write_dataset
    from trainer.data import load_dataset_version
    from trainer.template_check import encode_dataset

    tok, info = prepared["gemma2"]
    v = write_dataset(tmp_path, n_train=2, n_val=0)
    line = json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "tool", "content": "x"},
                                    {"role": "assistant", "content": "ok"}], "meta": {}})
    (v / "train.jsonl").write_text(line + "\n" + line + "\n")
    ds = load_dataset_version(v)
    with pytest.raises(ClonekitError) as err:
        encode_dataset(tok, ds, info, 512, "assistant")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{v / 'train.jsonl'}:1: ") and "--chat-template chatml" in msg


def test_named_fallback_adds_tokens_and_says_so():
    from trainer.template_check import verdict_lines
    from trainer.templates import prepare_tokenizer

    tok = tiny_tokenizer("gemma2")
    n = len(tok)
    info = prepare_tokenizer(tok, "llama3")
    assert info.name == "llama3" and len(info.added_tokens) == 4 and len(tok) == n + 4
    assert any("new rows trained" in line for line in verdict_lines(info))


# ------------------------------------------------------------------ real training, all 16
REPLY = "ok see you"
TINY = dict(hidden_size=64, num_layers=1, num_heads=2, num_kv_heads=1, intermediate_size=128, vocab_size=300)
TRAIN = {"max_steps": 30, "eval_steps": 30, "max_length": 1024, "grad_accum": 1, "lr": 1e-2, "method": "lora"}


@pytest.fixture(scope="module")
def one_thread():
    """The tiny model trains ~6x faster on one thread than on two busy cores."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def reply_dataset(tmp_path_factory) -> Path:
    """Every conversation shape, the persona always answering REPLY: a few steps teach it
    to say it and stop."""
    v = tmp_path_factory.mktemp("ds") / "sam" / "v0001"
    v.mkdir(parents=True)
    recs = [record(s) for s in SHAPES]
    for r in recs:
        for m in r["messages"]:
            if m["role"] == "assistant":
                m["content"] = REPLY
    (v / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs * 4))
    (v / "manifest.json").write_text(json.dumps({"version": "v0001", "name": "sam", "config": {
        "persona": {"name": "Sam", "facts": [], "style": "short", "template": "default"}}}))
    return v


def _train_tiny(root: Path, data: Path, key: str, **overrides) -> Path:
    from trainer.config import TinyModelConfig
    from trainer.tiny import build_tiny_base
    from trainer.train import TrainRequest, train

    texts = [m["content"] for msgs in SHAPES.values() for m in msgs] + [REPLY]
    base = build_tiny_base(texts, TinyModelConfig(**TINY), root / "base", 1024, template=spec(key))
    return train(TrainRequest(data=str(data), base=str(base), preset="tiny-cpu", overrides={**TRAIN, **overrides},
                              out=root / "run"))


def _chat(run: Path, merged: Path | None = None):
    from trainer.chat_repl import start_session
    from trainer.generate import SamplingSettings

    session, _ = start_session(str(run), merged=str(merged) if merged else None, device="cpu",
                               settings=SamplingSettings(temperature=0, max_new_tokens=12))
    return session.reply("hey are you free tonight")


@pytest.mark.slow
def test_every_template_trains_chats_stops_and_merges(tmp_path, reply_dataset, one_thread):
    from trainer.merge import merge_run
    from trainer.run_dir import load_run

    failures = []
    # Phi-4-reasoning (the {% generation %} example) has its labels checked above; its built-in
    # ~1000-token system prompt would double this test's time on the tiny vocabulary.
    for key in [k for k in KEYS if k != "phi4_reasoning"]:
        run = _train_tiny(tmp_path / key, reply_dataset, key)
        info = load_run(run)
        assert info.status == "done" and info.chat_template == "base" and info.info["template_fit"], key
        reply = _chat(run)
        merged = merge_run(str(run), tmp_path / key / "merged", dtype="fp32")
        again = _chat(run, merged)
        # Mistral v0.3 renders "[/INST] reply": the tiny byte-level tokenizer keeps that space.
        if (reply.text.strip(), reply.finish_reason, again.text.strip()) != (REPLY, "stop", REPLY):
            failures.append((key, reply.text, reply.finish_reason, again.text))
    assert not failures


@pytest.mark.slow
def test_named_template_fallback_resizes_trains_the_new_rows_and_reloads(tmp_path, reply_dataset, one_thread):
    """--chat-template llama3 on a Gemma-2 tiny base adds 4 tokens: training resizes and
    trains their rows; chat, merge and the merged reload resize the base the same way."""
    import torch
    from safetensors.torch import load_file

    from trainer.merge import merge_run
    from trainer.run_dir import load_run

    run = _train_tiny(tmp_path, reply_dataset, "gemma2", chat_template="llama3")
    info = load_run(run)
    assert info.chat_template == "llama3"
    adapter = load_file(run / "adapter" / "adapter_model.safetensors")
    new_rows = [k for k in adapter if "trainable_tokens" in k]
    assert new_rows and all(adapter[k].shape[0] == 4 for k in new_rows)
    assert all(adapter[k].abs().sum() > 0 for k in new_rows)
    reply = _chat(run)
    assert (reply.text.strip(), reply.finish_reason) == (REPLY, "stop")
    merged = merge_run(str(run), tmp_path / "merged", dtype="fp32")
    assert _chat(run, merged).text.strip() == REPLY
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(merged)
    base = AutoModelForCausalLM.from_pretrained(tmp_path / "base")
    n = base.get_input_embeddings().weight.shape[0]
    assert m.get_input_embeddings().weight.shape[0] == n + 4
    # Only the new rows were trained; the base's own embedding rows are untouched.
    assert torch.equal(m.get_input_embeddings().weight[:n], base.get_input_embeddings().weight)


def test_train_check_shows_the_verdict_and_marked_records(tmp_path, capsys):
    """`clonekit train --base X --check`: tokenizer only, no run folder, no weights."""
    from clonekit.cli import main
    from tests.trainer.conftest import write_dataset

    data = write_dataset(tmp_path / "datasets", n_train=6, n_val=2)
    base = tmp_path / "gemma2"
    tiny_tokenizer("gemma2").save_pretrained(base)
    runs = tmp_path / "runs"
    assert main(["train", "--data", str(data), "--base", str(base), "--check", "--out", str(runs / "x")]) == 0
    out = capsys.readouterr().out
    assert "the base model's own chat template; persona turns end with '<end_of_turn>'" in out
    assert "no system role: the persona prompt is folded into the first user turn" in out
    assert "6 of 6 training records can be trained on" in out
    shown = [line for line in out.splitlines() if line.endswith("(loss on the «marked» text):")]
    assert len(shown) == 3
    assert "«" in out and "<end_of_turn>»" in out and "<start_of_turn>model\n«" in out
    assert not runs.exists() and not (base / "model.safetensors").exists()
