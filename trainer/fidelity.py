"""Scores for "does it sound like me?": rates with Wilson 95% intervals, the blind test's
fool rate per contact and role, the automatic judge's (kept apart), the invented-facts
rates, and the section they add to eval.md / eval.json.

Definitions (also printed in eval.md):
- fool rate = answers where the rater picked the clone's reply as the persona's / answers
  that picked one (skips are counted but not scored). 50% = the rater cannot tell them
  apart; 0% = always spotted. Human answers and judge-model answers are never pooled.
- Wilson score interval for a binomial proportion, z = 1.96 (95%)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from builder.atomic import atomic_write_text
from builder.errors import ClonekitError

Z95 = 1.959963984540054


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of k successes in n trials; (nan, nan) for n == 0."""
    if n <= 0:
        return math.nan, math.nan
    if not 0 <= k <= n:
        raise ValueError(f"k={k} must be between 0 and n={n}")
    p = k / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    lo = 0.0 if k == 0 else max(0.0, centre - half)  # exact ends: no 0.9999999999999999
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


@dataclass(frozen=True)
class Rate:
    k: int
    n: int

    @property
    def rate(self) -> float:
        return self.k / self.n if self.n else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.k, self.n)

    def to_dict(self) -> dict:
        lo, hi = self.interval
        return {"k": self.k, "n": self.n, "rate": _num(self.rate), "lo": _num(lo), "hi": _num(hi)}


def _num(x: float) -> float | None:
    return None if math.isnan(x) else round(x, 6)


def fmt_rate(d: dict) -> str:
    """'41% (35–47%), 12 of 29' from a Rate.to_dict()."""
    if not d or not d.get("n"):
        return "– (no answers)"
    return f"{d['rate']:.0%} ({d['lo']:.0%}–{d['hi']:.0%}), {d['k']} of {d['n']}"


def fool_rates(verdicts: list[dict]) -> dict:
    """Verdict rows {"verdict": "clone"|"real"|"skip"|"invalid", "contact", "role_tag", ...}
    -> overall / per contact / per role rates of picking the clone, plus counts."""
    scored = [v for v in verdicts if v["verdict"] in ("clone", "real")]

    def group(key: str) -> dict:
        out: dict[str, Rate] = {}
        for name in sorted({str(v.get(key) or "") for v in scored}):
            rows = [v for v in scored if str(v.get(key) or "") == name]
            out[name or "(none)"] = Rate(sum(v["verdict"] == "clone" for v in rows), len(rows))
        return {name: r.to_dict() for name, r in out.items()}

    return {
        "overall": Rate(sum(v["verdict"] == "clone" for v in scored), len(scored)).to_dict(),
        "by_contact": group("contact"),
        "by_role": group("role_tag"),
        "answers": len(verdicts),
        "skipped": sum(v["verdict"] == "skip" for v in verdicts),
        "invalid": sum(v["verdict"] == "invalid" for v in verdicts),
        "inconsistent": sum(v["verdict"] == "inconsistent" for v in verdicts),
        "items": len({v["item"] for v in scored}),
    }


# ---------------------------------------------------------------------------- the report
def fidelity_results(run_dir: str | Path) -> dict:
    """Everything measured so far for this run: {"blind", "judge", "facts"} (each only when
    there is something), read from <run>/blind/."""
    from trainer.blind import blind_dir, rater_key, read_answers, read_items

    folder = blind_dir(run_dir)
    out: dict = {}
    answers = read_answers(folder)
    if answers:
        items = read_items(folder)
        blind = fool_rates(answers)
        shown_as: dict[str, str] = {}  # one rater typed as "Jess" and "jess" is one rater
        for a in answers:
            shown_as.setdefault(rater_key(a["rater"]), a["rater"])
        blind["raters"] = {shown_as[key]: fool_rates([a for a in answers if rater_key(a["rater"]) == key])["overall"]
                           for key in sorted(shown_as)}
        blind["items_total"] = len(items["items"]) if items else None
        blind["sampling"] = items.get("sampling") if items else None
        out["blind"] = blind
    judge_path = folder / "judge.json"
    if judge_path.is_file():
        judge = json.loads(judge_path.read_text(encoding="utf-8"))
        out["judge"] = dict(fool_rates(judge["verdicts"]), model=judge["model"], base_url=judge["base_url"],
                            usage=judge.get("usage") or {}, budget_stopped=judge.get("budget_stopped", False),
                            both_orders=judge.get("both_orders", False), option_1_rate=judge.get("option_1_rate"))
    facts_path = folder / "facts.json"
    if facts_path.is_file():
        facts = json.loads(facts_path.read_text(encoding="utf-8"))
        out["facts"] = {k: facts[k] for k in ("summary", "facts_on_card", "not_probed", "definitions", "contacts")}
        for key in ("judge_model", "summary_judge", "judge_invalid", "dataset_version", "synthetic_fact_records"):
            if key in facts:
                out["facts"][key] = facts[key]
        out["facts"]["questions"] = len({(a["question"], a["kind"]) for a in facts["answers"]})
        out["facts"]["replies"] = len(facts["answers"])
    return out


def fidelity_markdown(fid: dict) -> str:
    if not fid:
        return ""
    lines = ["## Does it sound like me? (blind test)", ""]
    blind = fid.get("blind")
    if blind:
        o = blind["overall"]
        lines += [
            f"People picked the clone's reply as the real one in **{fmt_rate(o)}** forced choices "
            f"(50% = indistinguishable, 0% = always spotted; 95% Wilson interval).",
            f"This rests on {o['n']} human judgements of {blind['items']} items by {len(blind['raters'])} "
            f"rater(s); {blind['skipped']} skipped answers are not scored.", "",
            "| contact | fool rate (95% CI), clone picked of answers |", "|---|---|",
            *[f"| {c} | {fmt_rate(r)} |" for c, r in blind["by_contact"].items()], "",
            "| role | fool rate (95% CI), clone picked of answers |", "|---|---|",
            *[f"| {c} | {fmt_rate(r)} |" for c, r in blind["by_role"].items()], "",
            "| rater | fool rate (95% CI), clone picked of answers |", "|---|---|",
            *[f"| {c} | {fmt_rate(r)} |" for c, r in blind["raters"].items()], "",
            "![fool rate per contact](blind.png)", "",
        ]
    else:
        lines += ["No human answers yet: run `clonekit blind RUN --rater NAME`.", ""]
    judge = fid.get("judge")
    if judge:
        usage = judge["usage"]
        orders = ("each item asked twice, the real reply once on each side; an item counts when both answers "
                  f"agree, {judge['inconsistent']} did not (it went by position)" if judge["both_orders"]
                  else "each item asked once")
        bias = judge.get("option_1_rate")
        lines += [
            f"### Automatic judge (`{judge['model']}`), reported separately", "",
            f"The judge model picked the clone in **{fmt_rate(judge['overall'])}** of items ({orders}; "
            f"{judge['invalid']} items had an answer that was neither 1 nor 2"
            + ("; the budget stopped it early" if judge["budget_stopped"] else "") + "). "
            + (f"It answered \"1\" in {bias:.0%} of its answers. " if bias is not None else "")
            + f"Requests sent {usage.get('sent', 0)}, from cache {usage.get('cache_hits', 0)}, "
            f"tokens {usage.get('tokens', 0)}.", "",
            "| contact | judge fool rate (95% CI) |", "|---|---|",
            *[f"| {c} | {fmt_rate(r)} |" for c, r in judge["by_contact"].items()], "",
        ]
    facts = fid.get("facts")
    if facts:
        s = facts["summary"]
        lines += [
            "## Invented facts", "",
            f"The clone was asked questions whose answers the persona card states ({facts['facts_on_card']} facts "
            f"on the card) and questions it cannot know, as {', '.join(facts['contacts']) or 'a contact'}."
            + _facts_training_note(facts), "",
            "| questions | outcome | rate (95% CI), count |", "|---|---|---|",
            f"| on the card | agrees with the card | {fmt_rate(s['known_agree'])} |",
            f"| on the card | contradicts it (answers without the card's value) | {fmt_rate(s['known_contradict'])} |",
            f"| on the card | deflects | {fmt_rate(s['known_deflect'])} |",
            f"| not on the card | makes something up instead of deflecting | {fmt_rate(s['unknown_made_up'])} |",
            f"| not on the card | deflects | {fmt_rate(s['unknown_deflect'])} |", "",
            f"This rests on {facts['replies']} replies to {facts['questions']} questions."
            + (f" Card facts no question was derived from: {'; '.join(f.rstrip('.') for f in facts['not_probed'])}."
               if facts["not_probed"] else ""),
            "", *[f"- {d}" for d in facts["definitions"]], "",
        ]
        if facts.get("summary_judge"):
            j = facts["summary_judge"]
            lines += [
                f"The same replies classified by the judge model `{facts['judge_model']}` (one letter per reply; "
                f"{facts['judge_invalid']} unusable answers left out):", "",
                "| questions | outcome | rate (95% CI), count |", "|---|---|---|",
                f"| on the card | agrees | {fmt_rate(j['known_agree'])} |",
                f"| on the card | contradicts | {fmt_rate(j['known_contradict'])} |",
                f"| on the card | deflects | {fmt_rate(j['known_deflect'])} |",
                f"| not on the card | makes something up | {fmt_rate(j['unknown_made_up'])} |", "",
            ]
    return "\n".join(lines) + "\n"


def _facts_training_note(facts: dict) -> str:
    n = facts.get("synthetic_fact_records")
    if n is None:
        return ""
    made = (f"with {n} synthetic fact Q&A records (`clonekit synth --mode facts`)" if n
            else "without synthetic fact Q&A (compare with a run after `clonekit synth --mode facts`)")
    return f" The run was trained on `{facts.get('dataset_version')}`, {made}."


def update_eval_files(run_dir: str | Path) -> dict:
    """Merge the fidelity results into <run>/eval.json and rewrite eval.md (keeping the
    perplexity/style numbers of `clonekit eval` when they are there), plus blind.png."""
    from trainer.evaluate import to_markdown
    from trainer.report import plot_fool_rates

    run_dir = Path(run_dir)
    fid = fidelity_results(run_dir)
    eval_json = run_dir / "eval.json"
    try:
        results = json.loads(eval_json.read_text(encoding="utf-8")) if eval_json.is_file() else {}
    except json.JSONDecodeError as err:
        raise ClonekitError(f"{eval_json}: not valid JSON ({err.msg}); delete it (`clonekit eval` writes it "
                            "again) and rerun") from None
    results["fidelity"] = fid
    if fid.get("blind"):
        plot_fool_rates(fid["blind"]["by_contact"], run_dir / "blind.png",
                        judge=(fid.get("judge") or {}).get("by_contact"))
    atomic_write_text(eval_json, json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    try:
        md = to_markdown(results) if "perplexity_base" in results else None
    except (KeyError, TypeError, ValueError):
        md = None  # an eval.json from an older clonekit: keep its numbers in eval.json, rewrite the page
    if md is None:
        run_id = json.loads((run_dir / "run.json").read_text(encoding="utf-8")).get("run_id", run_dir.name)
        md = (f"# Evaluation of {run_id}\n\n(perplexity and style: run `clonekit eval {run_dir}`)\n\n"
              + fidelity_markdown(fid))
    atomic_write_text(run_dir / "eval.md", md)
    return fid
