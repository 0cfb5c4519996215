"""clonekit compare: base vs fine-tuned side by side, Markdown and HTML."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from builder.errors import ClonekitError
from tests.trainer.run_fixture import tiny_run  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[2]


def test_read_prompts_formats_and_errors(tmp_path):
    from trainer.compare import read_prompts

    (tmp_path / "p.txt").write_text("hey\n\nwhat's up\n")
    assert [p.text for p in read_prompts(tmp_path / "p.txt")] == ["hey", "what's up"]
    (tmp_path / "p.jsonl").write_text('{"prompt": "hi", "as": "Boss"}\n{"prompt": "yo", "role": "friend"}\n')
    specs = read_prompts(tmp_path / "p.jsonl")
    assert (specs[0].contact, specs[1].role) == ("Boss", "friend")
    (tmp_path / "bad.jsonl").write_text('{"prompt": "hi"}\n{"text": "x"}\n')
    with pytest.raises(ClonekitError, match=r"bad.jsonl:2"):
        read_prompts(tmp_path / "bad.jsonl")
    with pytest.raises(ClonekitError, match="not found"):
        read_prompts(tmp_path / "missing.txt")


def test_compare_cli_writes_markdown_and_html(tiny_run, tmp_path):  # noqa: F811
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "hey | there", "as": "Mum"}\n{"prompt": "<b>coffee</b>?"}\n')
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "clonekit", "compare", str(tiny_run), "--prompts", str(prompts),
         "-o", str(tmp_path / "report.md"), "--max-new-tokens", "6", "--temperature", "0"],
        capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    md = (tmp_path / "report.md").read_text()
    html = (tmp_path / "report.html").read_text()
    header = md.splitlines()[2]
    assert header == "| # | as | prompt | base | fine-tuned |"
    rows = [line for line in md.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")]
    assert len(rows) == 2 and "hey \\| there" in rows[0] and "Mum (family)" in rows[0]
    assert "&lt;b&gt;coffee&lt;/b&gt;" in html and html.count("<tr>") == 3


def test_compare_base_differs_from_fine_tuned(tiny_run):  # noqa: F811
    from trainer.compare import PromptSpec, compare_run, to_markdown
    from trainer.generate import SamplingSettings

    rows = compare_run(str(tiny_run), [PromptSpec("see you tomorrow")],
                       SamplingSettings(temperature=0, max_new_tokens=8), device="cpu")
    assert set(rows[0].replies) == {"base", "fine-tuned"}
    assert rows[0].replies["base"] != rows[0].replies["fine-tuned"]
    assert "see you tomorrow" in to_markdown(rows, "t")
