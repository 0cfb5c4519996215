"""clonekit eval: perplexity of base vs fine-tuned and style statistics, eval.md."""

from __future__ import annotations

import json
import math

from tests.trainer.run_fixture import tiny_run  # noqa: F401  (fixture)


def test_style_stats():
    from trainer.style_stats import style_stats, vocabulary_overlap

    s = style_stats(["hi 😀", "No way\nok", "ha ha ha ha ha ha ha ha ha", "", "see you at the beach"])
    assert s["replies"] == 5 and s["emoji_rate"] == 0.2 and s["empty_rate"] == 0.2
    assert s["lowercase_rate"] == 0.75  # the empty reply has no letters: not counted
    assert s["messages_per_turn"] == 1.0  # 1 + 2 + 1 + 0 + 1
    assert s["loop_rate"] == 0.2 and s["chars_median"] == 9
    assert vocabulary_overlap(["a b"], ["b c"]) == 1 / 3
    assert math.isnan(style_stats([])["emoji_rate"])


def test_eval_writes_report(tiny_run):  # noqa: F811
    from trainer.evaluate import EvalConfig, evaluate_run
    from trainer.generate import SamplingSettings

    result = evaluate_run(tiny_run, EvalConfig(samples=2, sampling=SamplingSettings(max_new_tokens=6), device="cpu"))
    md = (tiny_run / "eval.md").read_text()
    assert "| base |" in md and "| fine-tuned |" in md and "messages per turn" in md
    assert result["perplexity_base"] != result["perplexity_fine-tuned"]
    assert result["scored_tokens"] > 10 and result["val_records"] == 4
    assert json.loads((tiny_run / "eval.json").read_text())["style"]["real"]["replies"] == 2


def test_eval_full_fine_tune_loads_base_separately(tiny_run):  # noqa: F811
    """method "full": no adapter to switch off, so the base comes from run.json's base_path;
    it is the same base as the LoRA run's, so its perplexity must be the same number."""
    from tests.trainer.run_fixture import make_full_run
    from trainer.evaluate import EvalConfig, evaluate_run
    from trainer.generate import SamplingSettings

    config = EvalConfig(samples=1, sampling=SamplingSettings(max_new_tokens=4), device="cpu")
    lora = evaluate_run(tiny_run, config)
    full_run = make_full_run(tiny_run)
    events = []
    full = evaluate_run(full_run, config, on_event=events.append)
    assert math.isclose(full["perplexity_base"], lora["perplexity_base"], rel_tol=1e-5)
    assert full["perplexity_fine-tuned"] != full["perplexity_base"]
    assert any("loading the base model" in getattr(e, "message", "") for e in events)
    assert "| base |" in (full_run / "eval.md").read_text()


def test_eval_full_fine_tune_with_base_gone(tiny_run, tmp_path):  # noqa: F811
    import shutil

    import pytest

    from builder.errors import ClonekitError
    from tests.trainer.run_fixture import make_full_run
    from trainer.evaluate import EvalConfig, evaluate_run

    full_run = tiny_run.parent / "tiny-full"
    if not full_run.exists():
        full_run = make_full_run(tiny_run)
    orphan = tmp_path / "orphan"
    shutil.copytree(full_run, orphan)
    info = json.loads((orphan / "run.json").read_text())
    info["base_path"] = str(tmp_path / "gone")  # the base was deleted since training
    (orphan / "run.json").write_text(json.dumps(info))
    with pytest.raises(ClonekitError, match="gone: cannot load the model"):
        evaluate_run(orphan, EvalConfig(samples=0, device="cpu"))
