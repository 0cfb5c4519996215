"""A real 4-bit QLoRA run of the tiny model on the demo dataset (the bundled fictional
exports, built into a dataset version exactly as `clonekit demo` builds it): it learns,
its labels cover exactly the persona's turns, and its adapter reloads with plain peft.
Resume after kill -9 is proven on the small synthetic data in test_train_run.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from builder.events import Log
from tests.trainer.run_fixture import load_adapter
from trainer.train import TrainRequest, train

STEPS = 30
OVERRIDES = {"max_steps": STEPS, "eval_steps": 15, "max_length": 256, "grad_accum": 1, "max_eval_records": 16}


@pytest.fixture(scope="module")
def demo_version(tmp_path_factory) -> Path:
    from builder.curate.build import build
    from builder.demo_workspace import create_demo_workspace

    ws = create_demo_workspace(tmp_path_factory.mktemp("demo") / "ws")
    return build(ws.build_config())


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, demo_version):
    events = []
    run_dir = train(TrainRequest(data=str(demo_version), base="tiny", preset="tiny-cpu", overrides=OVERRIDES,
                                 out=tmp_path_factory.mktemp("runs") / "demo"), on_event=events.append)
    return run_dir, [e.message for e in events if isinstance(e, Log)]


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.slow
def test_demo_run_learns(demo_run, demo_version):
    run_dir, logs = demo_run
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "done" and run["load_in_4bit"] and run["dataset_version"] == "demo/v0001"
    assert run["final"]["steps"] == STEPS
    rows = _records(run_dir / "metrics.jsonl")
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) == STEPS
    first, last = sum(losses[:8]) / 8, sum(losses[-8:]) / 8
    assert last < first - 0.3, (first, last)
    evals = [(r["step"], r["eval_loss"]) for r in rows if "eval_loss" in r]
    assert [s for s, _ in evals] == [15, 30]  # the closing evaluate is no extra curve point
    assert evals[1][1] < evals[0][1]
    # Eval is bounded by max_eval_records; the final val loss is reported once, labelled.
    assert run["final"]["val_records"] == 16
    n_val = len(_records(demo_version / "val.jsonl"))
    assert any(re.fullmatch(r"eval uses 16 of (\d+) val records \(max_eval_records\)", m) for m in logs), logs
    assert n_val > 16
    assert len([m for m in logs if m.startswith("step 30: val loss")]) == 1
    final = [m for m in logs if m.startswith("final val loss")]
    assert final == [f"final val loss (best checkpoint, step 30): {run['final']['eval_loss']:.4f}"]


@pytest.mark.slow
def test_demo_labels_cover_exactly_the_persona_turns(demo_run, demo_version):
    from transformers import AutoTokenizer

    from trainer.data import IGNORE, encode_record

    run_dir, _ = demo_run
    tok = AutoTokenizer.from_pretrained(run_dir / "adapter")
    records = _records(demo_version / "train.jsonl")
    # A real record with several persona turns between the other side's.
    record = max(records, key=lambda r: sum(m["role"] == "assistant" for m in r["messages"]))
    persona_turns = [m["content"] for m in record["messages"] if m["role"] == "assistant"]
    others = [m["content"] for m in record["messages"] if m["role"] != "assistant"]
    assert len(persona_turns) >= 2 and others

    [enc] = encode_record(tok, record, "<|im_end|>", max_length=1 << 16)
    assert not enc.truncated
    spans, current = [], []
    for t, (tid, label) in enumerate(zip(enc.input_ids, enc.labels)):
        if label != IGNORE:
            assert label == tid
            current.append(tid)
        elif current:
            spans.append(current)
            current = []
    if current:
        spans.append(current)
    # Each trained span is one persona turn plus its end-of-turn, nothing more or less.
    assert [tok.decode(s) for s in spans] == [c + "<|im_end|>" for c in persona_turns]
    untrained = tok.decode([tid for tid, label in zip(enc.input_ids, enc.labels) if label == IGNORE])
    for text in others:
        assert text in untrained


@pytest.mark.slow
def test_demo_adapter_reloads_with_plain_peft_and_generates(demo_run):
    import torch

    run_dir, _ = demo_run
    tok, model = load_adapter(run_dir)
    prompt = tok.apply_chat_template([{"role": "user", "content": "are you home for dinner tonight?"}],
                                     add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        tuned = model(**prompt).logits[0, -1]
        with model.disable_adapter():
            plain = model(**prompt).logits[0, -1]
        # 30 steps of a random-init model do not make fluent text (greedy may end the turn
        # at once): ask for a few tokens to see decoding run through the reloaded adapter.
        out = model.generate(**prompt, min_new_tokens=6, max_new_tokens=12, do_sample=False)
    assert not torch.allclose(tuned, plain)  # the adapter really changes the model
    new_tokens = out[0, prompt["input_ids"].shape[1]:]
    assert 6 <= len(new_tokens) <= 12
    assert isinstance(tok.decode(new_tokens), str)
