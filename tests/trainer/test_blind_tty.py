"""`clonekit blind` end to end on the tiny trained run: the clone's candidates are generated
through the real CLI, then a scripted rater answers in a real pseudo-terminal (pexpect,
single key presses, no Enter), is killed with SIGKILL mid-session, and comes back: no
answer is lost, no item is shown twice, and the scores land in eval.md / eval.json."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.openai_server import FakeOpenAIServer
from tests.trainer.run_fixture import tiny_run  # noqa: F401  (fixture)

pexpect = pytest.importorskip("pexpect")
pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(REPO), TERM="dumb", PYTHONUNBUFFERED="1")
HEADER = re.compile(r"── (\d+) of (\d+) · (\w+)")


@pytest.fixture(scope="module")
def prepared(tiny_run, tmp_path_factory):  # noqa: F811
    """A copy of the tiny run (other tests write eval.md there) with its items generated."""
    run = tmp_path_factory.mktemp("blind") / "run"
    shutil.copytree(tiny_run, run)
    proc = subprocess.run([sys.executable, "-m", "clonekit", "blind", str(run), "--prepare", "--items", "7",
                           "--device", "cpu", "--max-new-tokens", "8"], env=ENV, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == f"items ready: {run / 'blind' / 'items.json'}"
    return run


def spawn(run: Path, rater: str):
    return pexpect.spawn(sys.executable, ["-m", "clonekit", "blind", str(run), "--rater", rater],
                         env=ENV, encoding="utf-8", timeout=60, dimensions=(50, 160))


def answer(child, key: str) -> tuple[int, str]:
    """Wait for an item, press ``key``; returns (item number shown, contact)."""
    child.expect(HEADER)
    number, contact = int(child.match.group(1)), child.match.group(3)
    child.expect_exact("Which one did Sam write?")
    child.expect_exact("[1] [2] choose · [s] skip · [q] stop > ")
    child.send(key)  # one key press, no Enter
    if key != "q":
        child.expect_exact("saved")
    return number, contact


def answers(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "blind" / "answers.jsonl").read_text().splitlines()]


def test_scripted_rater_killed_and_resumed(prepared):
    items = json.loads((prepared / "blind" / "items.json").read_text())["items"]
    assert len(items) == 7 and all(it["clone"] is not None for it in items)

    # a session: two answers and a skip, then q
    child = spawn(prepared, "Jess")
    child.expect("7 of 7 items to go")
    shown = [answer(child, k) for k in ("1", "2", "s")]
    assert [n for n, _ in shown] == [1, 2, 3]
    child.expect_exact("[1] [2] choose")
    child.send("x")  # not an answer: asked again, nothing recorded
    child.expect_exact("[1] [2] choose")
    child.send("q")
    child.expect("Jess: 3 answers saved; 4 items left")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    first = answers(prepared)
    assert [a["verdict"] for a in first][2] == "skip" and len(first) == 3

    # the next session: one answer acknowledged on screen, then SIGKILL while it waits for a key
    child = spawn(prepared, "jess")
    child.expect(r"4 of 7 items to go \(3 answered before\)")
    assert answer(child, "1")[0] == 4
    child.expect_exact("[1] [2] choose")
    child.kill(signal.SIGKILL)
    child.close()
    assert child.signalstatus == signal.SIGKILL
    after_kill = answers(prepared)
    assert len(after_kill) == 4 and after_kill[:3] == first  # the acknowledged answer survived
    # ... and a kill inside a write leaves a torn line: it must neither count nor break the file
    with open(prepared / "blind" / "answers.jsonl", "ab") as fh:
        fh.write(b'{"rater": "Jess", "item": "' + items[0]["item"].encode() + b'", "verdi')

    child = spawn(prepared, "Jess")
    child.expect(r"3 of 7 items to go \(4 answered before\)")
    numbers = [answer(child, k)[0] for k in ("2", "1", "2")]
    assert numbers == [5, 6, 7]
    child.expect("all items done")
    child.expect(r"fool rate \(people\): \d+% \(\d+%–\d+%\), \d of 6")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    final = answers(prepared)
    assert final[:4] == after_kill  # nothing lost
    assert len(final) == 7 and sorted(a["item"] for a in final) == sorted(it["item"] for it in items)  # no repeats
    child = spawn(prepared, "JESS")
    child.expect("JESS has answered all 7 items already")
    child.expect(pexpect.EOF)

    data = json.loads((prepared / "eval.json").read_text())["fidelity"]["blind"]
    assert data["overall"]["n"] == 6 and data["skipped"] == 1
    assert data["overall"]["k"] == sum(a["verdict"] == "clone" for a in final)
    assert sum(r["n"] for r in data["by_contact"].values()) == 6
    md = (prepared / "eval.md").read_text()
    assert "This rests on 6 human judgements of 6 items by 1 rater(s)" in md
    assert (prepared / "blind.png").is_file()


def test_answers_piped_and_facts_check(prepared):
    """stdin not a terminal: one answer per line; --facts asks the clone about the card."""
    proc = subprocess.run([sys.executable, "-m", "clonekit", "blind", str(prepared), "--rater", "Alex"],
                          input="1\n2\n", env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Alex: 2 answers saved; 5 items left" in proc.stdout
    no_rater = subprocess.run([sys.executable, "-m", "clonekit", "blind", str(prepared)], input="",
                              env=ENV, capture_output=True, text=True, timeout=120)
    assert no_rater.returncode == 2 and "--rater" in no_rater.stderr and "Traceback" not in no_rater.stderr

    with AnyJudge() as server:  # --judge-model with --facts: the blind judge and the facts judge
        proc = subprocess.run([sys.executable, "-m", "clonekit", "blind", str(prepared), "--facts", "--device", "cpu",
                               "--max-new-tokens", "6", "--judge-model", "fake-model", "--judge-base-url",
                               server.base_url, "--judge-cache-dir", str(prepared.parent / "cache")],
                              env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "fool rate (judge fake-model): – (no answers)" in proc.stdout  # it only ever went by position
    judge = json.loads((prepared / "blind" / "judge.json").read_text())
    assert len(judge["verdicts"]) == 7 and judge["option_1_rate"] == 1.0
    assert all(v["verdict"] == "inconsistent" and v["picked"] == [1, 1] for v in judge["verdicts"])
    facts = json.loads((prepared / "blind" / "facts.json").read_text())
    questions = {a["question"] for a in facts["answers"] if a["kind"] == "known"}
    assert questions == {"where do you live these days?", "what do you do for work?"}  # the fixture's card
    assert {a["contact"] for a in facts["answers"]} == {"Alex", "Mum"}
    assert all(a["outcome"] in ("agree", "contradict", "deflect") for a in facts["answers"] if a["kind"] == "known")
    assert facts["judge_model"] == "fake-model" and facts["summary_judge"]["known_deflect"]["rate"] == 1.0
    md = (prepared / "eval.md").read_text()
    assert "## Invented facts" in md and "classified by the judge model `fake-model`" in md
    assert "### Automatic judge (`fake-model`), reported separately" in md
    assert "7 did not (it went by position)" in md and 'It answered "1" in 100% of its answers' in md
    scored = sum(a["verdict"] != "skip" for a in answers(prepared))
    assert f"This rests on {scored} human judgements" in md  # the judge's 7 are not among them


class AnyJudge(FakeOpenAIServer):
    """Picks option 1 in the blind test; says "deflects" (C / D) for every facts reply."""

    def reply_content(self, body: dict) -> str:
        text = body["messages"][-1]["content"]
        if "Which one did" in text:
            return "1"
        return "C" if "(A)" in text else "D"


def test_interrupted_preparation_resumes(tiny_run, tmp_path):  # noqa: F811
    """items.json is rewritten atomically after every generated item: a preparation stopped
    part-way keeps what it made, a session refuses the unfinished set, and the next
    preparation generates only the rest."""
    from builder.errors import Cancelled, ClonekitError
    from builder.events import CancelToken, Log, Progress
    from trainer.blind import BlindConfig, BlindSession, prepare_items
    from trainer.generate import SamplingSettings

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    config = BlindConfig(n_items=5, sampling=SamplingSettings(max_new_tokens=6), device="cpu")
    cancel = CancelToken()

    def stop_after_two(event) -> None:
        if isinstance(event, Progress) and event.done == 2:
            cancel.cancel()

    with pytest.raises(Cancelled):
        prepare_items(run, config, on_event=stop_after_two, cancel=cancel)
    partial = json.loads((run / "blind" / "items.json").read_text())
    assert partial["complete"] is False and len(partial["items"]) == 2
    with pytest.raises(ClonekitError, match="not ready"):
        BlindSession(run, "Jess")
    logs = []
    prepare_items(run, config, on_event=lambda e: logs.append(e.message) if isinstance(e, Log) else None)
    done = json.loads((run / "blind" / "items.json").read_text())
    assert done["complete"] is True and len(done["items"]) == 5 and done["items"][:2] == partial["items"]
    assert any(m.startswith("generating 3 clone replies (2 already in") for m in logs)
    with pytest.raises(ClonekitError, match="other settings"):
        prepare_items(run, BlindConfig(n_items=5, sampling=SamplingSettings(temperature=0.2), device="cpu"))
