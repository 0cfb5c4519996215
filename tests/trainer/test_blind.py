"""The blind test's arithmetic (Wilson intervals and fool rates against hand-computed
cases), the durable answer log (a torn last line), one rater's queue, the invented-facts
rules, the report in eval.md/eval.json, and the automatic judge against a real local
HTTP server speaking the OpenAI protocol (tests/support/openai_server.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from builder.errors import ClonekitError
from tests.support.openai_server import Faults, FakeOpenAIServer
from trainer.blind import AnswerLog, BlindConfig, BlindSession, plan_cuts, read_answers
from trainer.facts_check import Probe, classify, probes_from_card, summarize, unknown_probes
from trainer.fidelity import Rate, fidelity_results, fool_rates, update_eval_files, wilson_interval

Z = 1.959963984540054


# ------------------------------------------------------------------------- arithmetic
def test_wilson_against_hand_computed_values():
    # 0 of 10: lo = 0, hi = (z²/n) / (1 + z²/n) = 0.384146 / 1.384146
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.384146 / 1.384146, abs=1e-6) and hi == pytest.approx(0.2775, abs=1e-4)
    # 5 of 10: centre 0.5, half-width z·sqrt(0.25/10 + z²/400) / (1 + z²/10)
    lo, hi = wilson_interval(5, 10)
    half = Z * math.sqrt(0.025 + Z * Z / 400) / (1 + Z * Z / 10)
    assert (lo, hi) == (pytest.approx(0.5 - half), pytest.approx(0.5 + half))
    assert (round(lo, 4), round(hi, 4)) == (0.2366, 0.7634)
    # 10 of 10 mirrors 0 of 10
    assert wilson_interval(10, 10) == (pytest.approx(1 - 0.2775, abs=1e-4), 1.0)
    # 41 of 100 (the "41%"): centre (0.41 + z²/200) / (1 + z²/100)
    lo, hi = wilson_interval(41, 100)
    centre = (0.41 + Z * Z / 200) / (1 + Z * Z / 100)
    half = Z * math.sqrt(0.41 * 0.59 / 100 + Z * Z / 40000) / (1 + Z * Z / 100)
    assert lo == pytest.approx(centre - half) and hi == pytest.approx(centre + half)
    assert (round(lo, 3), round(hi, 3)) == (0.319, 0.508)
    assert all(math.isnan(x) for x in wilson_interval(0, 0))
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
    assert Rate(1, 4).to_dict()["rate"] == 0.25 and Rate(0, 0).to_dict()["rate"] is None


def test_fool_rates_per_contact_and_role():
    rows = [("Alex", "partner", "clone"), ("Alex", "partner", "real"), ("Alex", "partner", "clone"),
            ("Mum", "family", "real"), ("Mum", "family", "skip"), ("Bo", "family", "clone"),
            ("Bo", "family", "invalid")]
    verdicts = [{"item": f"i{n}", "contact": c, "role_tag": r, "verdict": v} for n, (c, r, v) in enumerate(rows)]
    out = fool_rates(verdicts)
    assert out["overall"]["k"] == 3 and out["overall"]["n"] == 5 and out["overall"]["rate"] == 0.6
    assert (out["answers"], out["skipped"], out["invalid"], out["items"]) == (7, 1, 1, 5)
    assert {c: (r["k"], r["n"]) for c, r in out["by_contact"].items()} == {"Alex": (2, 3), "Bo": (1, 1), "Mum": (0, 1)}
    assert {c: (r["k"], r["n"]) for c, r in out["by_role"].items()} == {"family": (1, 2), "partner": (2, 3)}
    lo, hi = wilson_interval(2, 3)
    assert out["by_contact"]["Alex"]["lo"] == pytest.approx(lo, abs=1e-6)
    assert out["by_contact"]["Alex"]["hi"] == pytest.approx(hi, abs=1e-6)


# ------------------------------------------------------------------------- items and answers
def write_items(run_dir: Path, n: int = 6, persona: str = "Sam") -> list[dict]:
    items = [{"item": f"item{i:02d}", "contact": ["Alex", "Mum", "Boss"][i % 3],
              "role_tag": ["partner", "family", "boss"][i % 3],
              "context": [{"role": "user", "name": ["Alex", "Mum", "Boss"][i % 3], "content": f"question {i}"}],
              "real": f"real reply {i}", "clone": f"clone reply {i} with more words"} for i in range(n)]
    (run_dir / "blind").mkdir(parents=True, exist_ok=True)
    (run_dir / "blind" / "items.json").write_text(json.dumps(
        {"run_id": run_dir.name, "persona": persona, "sampling": {}, "seed": 0, "complete": True, "items": items}))
    (run_dir / "run.json").write_text(json.dumps({"run_id": run_dir.name}))
    return items


def test_answer_log_ignores_and_cuts_a_torn_line(tmp_path):
    log = AnswerLog(tmp_path)
    log.append({"rater": "A", "item": "x", "verdict": "real"})
    with open(log.path, "ab") as fh:
        fh.write(b'{"rater": "A", "item": "y", "verd')  # killed inside the write
    assert [a["item"] for a in log.read()] == ["x"]
    log.append({"rater": "A", "item": "z", "verdict": "clone"})
    assert [a["item"] for a in log.read()] == ["x", "z"]
    assert log.path.read_bytes().count(b"\n") == 2 and b"verd\n" not in log.path.read_bytes()
    with open(log.path, "ab") as fh:
        fh.write(b"not json\n{}\n")
    with pytest.raises(ClonekitError, match=r"answers.jsonl:3: not a JSON answer"):
        log.read()


def test_session_never_repeats_an_item_and_keeps_pairings(tmp_path):
    items = write_items(tmp_path)
    s = BlindSession(tmp_path, "Jess")
    first = s.next()
    assert first.candidates[first.real_side - 1] == first.item["real"]
    order = [it["item"] for it in s.queue]
    a = s.answer(str(first.real_side))  # picked the real one
    assert a["verdict"] == "real" and a["picked"] == first.real_side
    shown = s.next()
    assert s.answer(str(3 - shown.real_side))["verdict"] == "clone"
    assert s.answer("s")["verdict"] == "skip"
    # a new session for the same rater (any spelling) continues with the rest, same order and sides
    again = BlindSession(tmp_path, "  jess ")
    assert [it["item"] for it in again.queue] == order[3:]
    assert again.answered_before == 3 and again.next().real_side == BlindSession(tmp_path, "JESS").next().real_side
    # another rater starts from scratch, in an order of their own
    other = BlindSession(tmp_path, "Alex")
    assert len(other.queue) == len(items)
    while other.next() is not None:
        other.answer("1")
    assert BlindSession(tmp_path, "alex").queue == []
    answers = read_answers(tmp_path / "blind")
    assert len(answers) == 3 + len(items)
    assert len({(a["rater"].lower(), a["item"]) for a in answers}) == len(answers)
    with pytest.raises(ClonekitError, match="--rater"):
        BlindSession(tmp_path, "  ")


def test_plan_cuts_real_conversations_round_robin():
    def rec(contact, n, synthetic=False):
        msgs = [{"role": "system", "content": "sys"}]
        for i in range(n):
            msgs += [{"role": "user", "content": f"{contact} {i}"}, {"role": "assistant", "content": f"me {i}"}]
        return {"messages": msgs, "meta": {"contact": contact, "role_tag": "x", "synthetic": synthetic}}

    records = [rec("Alex", 3), rec("Alex", 3), rec("Alex", 3), rec("Mum", 1), rec("Bot", 3, synthetic=True)]
    cuts = plan_cuts(records, BlindConfig(n_items=4, per_conversation=2))
    assert len(cuts) == 4 and "Bot" not in {c.contact for c in cuts}
    assert [c.contact for c in cuts].count("Mum") == 1  # round robin: Mum's only cut is taken
    assert all(records[c.record]["messages"][c.index]["role"] == "assistant" for c in cuts)
    assert len({c.item for c in cuts}) == 4
    assert plan_cuts(records, BlindConfig(n_items=4, per_conversation=2)) == cuts  # seeded
    assert len(plan_cuts(records, BlindConfig(n_items=100, per_conversation=1))) == 4


# ------------------------------------------------------------------------- invented facts
def test_facts_probes_and_classification():
    card = ["lives in Lisbon", "works as a nurse", "partner is Jess", "born in 1990", "likes jazz",
            "has a dentist appointment every May"]
    probes, not_probed = probes_from_card(card)
    assert [(p.question, p.expected) for p in probes] == [
        ("where do you live these days?", "Lisbon"), ("what do you do for work?", "nurse"),
        ("what's your partner's name again?", "Jess"), ("what year were you born?", "1990")]
    assert not_probed == ["likes jazz", "has a dentist appointment every May"]
    unknown = unknown_probes(card)
    assert unknown and not any("dentist" in p.question for p in unknown)  # the card mentions a dentist

    # the demo persona's card: sentences with several facts each
    demo = ["Sam Kellett is a UX designer at a small design agency in Leeds.",
            "Sam lives with their partner Alex, a nurse who works shifts, and their cat Miso.",
            "Sam's family: Mum and Dad live near York with their dog Biscuit; Jess is Sam's younger sister.",
            "Sam's boss is Helen Marsh; clients include Orchard, Fernway and Pebble Health.",
            "Sam plays in a Thursday pub quiz team with Dev, Tom and Priya."]
    probes_demo, not_probed_demo = probes_from_card(demo)
    assert [(p.question, p.expected) for p in probes_demo] == [
        ("what do you do for work?", "UX designer"), ("which city do you work in?", "Leeds"),
        ("what's your partner's name again?", "Alex"), ("what's the cat called again?", "Miso"),
        ("where do your parents live?", "York"), ("what's the dog called again?", "Biscuit"),
        ("what's your sister's name?", "Jess"), ("who's your boss again?", "Helen Marsh")]
    assert not_probed_demo == [demo[-1]]
    assert classify(probes_demo[0], "designer, at the agency") == "agree"
    assert classify(probes_demo[0], "the small one") == "contradict"  # "small"/"the" are no evidence
    assert classify(probes_demo[7], "helen obviously") == "agree"

    lisbon, born = probes[0], probes[3]
    assert classify(lisbon, "still in lisbon haha") == "agree"
    assert classify(lisbon, "LISBÖN obviously") == "agree"  # accents and case ignored
    assert classify(lisbon, "porto now") == "contradict"
    assert classify(lisbon, "why do you ask?") == "deflect"
    assert classify(lisbon, "") == "deflect"
    assert classify(born, "1990, why") == "agree" and classify(born, "1989") == "contradict"
    passport = Probe("what's your passport number?", "unknown")
    assert classify(passport, "idk lol") == "deflect"
    assert classify(passport, "I don’t know") == "deflect"  # typographic apostrophe
    assert classify(passport, "lol") == "deflect"  # no content: not a made-up answer
    assert classify(passport, "it's X4521") == "made_up"
    assert classify(passport, "4521") == "made_up"
    s = summarize([{"kind": "known", "outcome": o} for o in ("agree", "agree", "contradict", "deflect")]
                  + [{"kind": "unknown", "outcome": o} for o in ("made_up", "deflect")])
    assert (s["known_agree"]["k"], s["known_agree"]["n"]) == (2, 4)
    assert s["known_contradict"]["rate"] == 0.25 and s["unknown_made_up"]["rate"] == 0.5


# ------------------------------------------------------------------------- the report
def test_report_lands_in_eval_files_beside_existing_numbers(tmp_path):
    write_items(tmp_path)
    style = {"replies": 2.0, "chars_mean": 10.0}
    existing = {"run_id": "r", "dataset_version": "me/v0001", "val_records": 4, "scored_tokens": 99,
                "loss_base": 2.2, "perplexity_base": 9.0, "loss_fine-tuned": 1.1, "perplexity_fine-tuned": 3.0,
                "style": {"real": style, "fine-tuned": style, "base": style}, "examples": []}
    (tmp_path / "eval.json").write_text(json.dumps(existing))
    s = BlindSession(tmp_path, "Jess")
    for key in ("1", "2", "1", "s"):
        s.answer(key)
    fid = update_eval_files(tmp_path)
    data = json.loads((tmp_path / "eval.json").read_text())
    assert data["perplexity_base"] == 9.0  # kept
    assert data["fidelity"]["blind"]["overall"]["n"] == 3 and data["fidelity"] == fid
    assert (tmp_path / "blind.png").read_bytes()[:4] == b"\x89PNG"
    md = (tmp_path / "eval.md").read_text()
    assert "| base | 2.200 | 9.00 |" in md and "## Style of generated replies" in md  # `clonekit eval`'s part
    assert "This rests on 3 human judgements of 3 items by 1 rater(s); 1 skipped" in md
    assert "| Alex |" in md and "![fool rate per contact](blind.png)" in md


# ------------------------------------------------------------------------- the judge
class JudgeServer(FakeOpenAIServer):
    """Answers like a judge that always picks the longer candidate (the clone's, in
    write_items), except for one item it answers with no digit at all."""

    def reply_content(self, body: dict) -> str:
        text = body["messages"][-1]["content"]
        if "question 5" in text:
            return "I cannot tell."
        one = text.split("\n\n1: ")[1].split("\n\n2: ")[0]
        two = text.split("\n\n2: ")[1].split("\n\nWhich one")[0]
        return "Answer: 1" if len(one) > len(two) else "2"


def test_judge_against_fake_openai_server(tmp_path, monkeypatch):
    from trainer.blind_judge import JudgeConfig, run_judge

    write_items(tmp_path, n=6)
    secret = "sk-judge-DO-NOT-STORE-7f3"
    monkeypatch.setenv("JUDGE_TEST_KEY", secret)
    cache = tmp_path / "cache"
    with JudgeServer(faults=Faults(schedule={2: "429", 4: "500"})) as server:
        cfg = JudgeConfig(model="fake-model", base_url=server.base_url, api_key_env="JUDGE_TEST_KEY",
                          cache_dir=str(cache), max_retries=3)
        path = run_judge(tmp_path, cfg)
        first = json.loads(path.read_text())
        assert server.auth_headers == {f"Bearer {secret}"}
        assert server.fault_counts["429"] == 1 and server.fault_counts["500"] == 1  # retried, then answered
        sent = server.received
        # a rerun is answered from the cache: nothing is sent again, same verdicts
        again = json.loads(run_judge(tmp_path, cfg).read_text())
        assert server.received == sent
        assert again["usage"]["cache_hits"] == 12 and again["usage"]["sent"] == 0  # 6 items, both orders
        assert again["verdicts"] == first["verdicts"]
    verdicts = {v["item"]: v["verdict"] for v in first["verdicts"]}
    assert verdicts.pop("item05") == "invalid"
    assert set(verdicts.values()) == {"clone"}  # the longer reply is always the clone's
    fid = fidelity_results(tmp_path)
    assert "blind" not in fid  # no human answered: the judge's picks are never mixed in
    assert (fid["judge"]["overall"]["k"], fid["judge"]["overall"]["n"], fid["judge"]["invalid"]) == (5, 5, 1)
    assert first["option_1_rate"] == 0.5  # it went by the text, not by the position
    for f in [*cache.rglob("*"), path]:
        if f.is_file():
            assert secret.encode() not in f.read_bytes()


class PositionJudge(FakeOpenAIServer):
    """A judge with a pure position bias: always option 1."""

    def reply_content(self, body: dict) -> str:
        return "1"


def test_judge_position_bias_caught_by_asking_both_orders(tmp_path):
    from trainer.blind_judge import JudgeConfig, item_verdict, run_judge

    assert item_verdict([1, 2], [1, 2]) == "real" and item_verdict([1, 2], [2, 1]) == "clone"
    assert item_verdict([1, 2], [1, 1]) == "inconsistent" and item_verdict([1, 2], [1, None]) == "invalid"
    assert item_verdict([2], [1]) == "clone"
    write_items(tmp_path, n=4)
    with PositionJudge() as server:
        both = JudgeConfig(model="fake-model", base_url=server.base_url, api_key_env="NO_SUCH_KEY_VAR",
                           cache_dir=str(tmp_path / "cache"))
        out = json.loads(run_judge(tmp_path, both).read_text())
        assert server.received == 8
        assert {v["verdict"] for v in out["verdicts"]} == {"inconsistent"} and out["option_1_rate"] == 1.0
        fid = fidelity_results(tmp_path)["judge"]
        assert fid["overall"]["n"] == 0 and fid["inconsistent"] == 4  # nothing scored: it never read the replies
        # asked once per item, the same judge looks like a coin: the verdict follows the drawn side
        one = json.loads(run_judge(tmp_path, JudgeConfig(
            model="fake-model", base_url=server.base_url, api_key_env="NO_SUCH_KEY_VAR",
            cache_dir=str(tmp_path / "cache"), both_orders=False)).read_text())
    assert all(v["verdict"] == ("real" if v["real_side"] == [1] else "clone") for v in one["verdicts"])


def test_judge_budget_stops_early(tmp_path):
    from trainer.blind_judge import JudgeConfig, run_judge

    write_items(tmp_path, n=6)
    with JudgeServer() as server:
        cfg = JudgeConfig(model="fake-model", base_url=server.base_url, api_key_env="NO_SUCH_KEY_VAR",
                          cache_dir=str(tmp_path / "cache"), max_requests=2, concurrency=1)
        out = json.loads(run_judge(tmp_path, cfg).read_text())
        assert server.received == 2
    # two requests: one item, asked in both orders
    assert len(out["verdicts"]) == 1 and out["budget_stopped"] is True and out["usage"]["sent"] == 2
    assert "the budget stopped it early" in (update_eval_files(tmp_path) and (tmp_path / "eval.md").read_text())


class FactsJudgeServer(FakeOpenAIServer):
    """Classifies like a careful reader: the reply's words decide the letter."""

    def reply_content(self, body: dict) -> str:
        text = body["messages"][-1]["content"]
        reply = text.split("replied: ")[1].split("\n")[0]
        if "(A)" in text:  # a question on the card
            return "A" if "lisbon" in reply.lower() else ("C" if "dunno" in reply else "B.")
        return "hmm" if "weird" in reply else ("D" if "dunno" in reply else "M")


def test_facts_classified_by_the_judge_model(tmp_path):
    from trainer.blind_judge import JudgeConfig
    from trainer.facts_check import judge_outcomes

    answers = [{"kind": "known", "question": "where do you live these days?", "expected": "Lisbon", "reply": r}
               for r in ("lisbon!", "porto", "dunno")]
    answers += [{"kind": "unknown", "question": "what's your passport number?", "expected": "", "reply": r}
                for r in ("X1234", "dunno", "weird")]
    with FactsJudgeServer() as server:
        cfg = JudgeConfig(model="fake-model", base_url=server.base_url, api_key_env="NO_SUCH_KEY_VAR",
                          cache_dir=str(tmp_path / "cache"), max_requests=10)
        outcomes = judge_outcomes(answers, "Sam", cfg)
        assert server.received == 6
    assert outcomes == ["agree", "contradict", "deflect", "made_up", "deflect", "invalid"]
    for a, o in zip(answers, outcomes):
        a["judge_outcome"] = o
    s = summarize(answers, "judge_outcome")
    assert (s["known_agree"]["k"], s["known_agree"]["n"]) == (1, 3)
    assert (s["unknown_made_up"]["k"], s["unknown_made_up"]["n"]) == (1, 2)  # "invalid" is not scored


def test_synthetic_fact_records_counted(tmp_path):
    from trainer.facts_check import synthetic_fact_records

    rows = [{"messages": [], "meta": {"synthetic": True, "prompt_id": "facts/v1"}},
            {"messages": [], "meta": {"synthetic": True, "prompt_id": "self-instruct/v1"}},
            {"messages": [], "meta": {"synthetic": False}}]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert synthetic_fact_records(str(tmp_path)) == 1
    assert synthetic_fact_records(str(tmp_path / "gone")) is None and synthetic_fact_records(None) is None


def test_rater_order_shows_earlier_cuts_of_a_conversation_first():
    from trainer.blind import rater_order

    items = [{"item": f"i{n}", "source": {"record": n // 3, "turn": 2 * (n % 3) + 2}} for n in range(12)]
    for rater in ("jess", "alex", "mum"):
        order = rater_order(items, rater)
        assert sorted(it["item"] for it in order) == sorted(it["item"] for it in items)
        for record in range(4):
            turns = [it["source"]["turn"] for it in order if it["source"]["record"] == record]
            assert turns == sorted(turns)
    assert rater_order(items, "jess") != rater_order(items, "alex")  # each rater has an order of their own
