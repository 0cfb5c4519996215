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
