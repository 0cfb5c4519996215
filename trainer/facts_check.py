"""Invented facts: does the clone stick to the persona card, or make things up?

The clone is asked, as a contact from its training data and with the exact chat prompt
(the persona system message carries the card), two kinds of question:

- **on the card**: derived from the card's facts by the patterns below ("lives in Lisbon"
  -> "where do you live these days?", expected "Lisbon"), plus any you add in a file;
- **not on the card**: things no card states (a passport number, a dentist's name), left
  out when the card mentions their topic.

Each reply is classified by plain rules, so the numbers can be checked by hand:

- agree: the card's value is in the reply (a number: the same number; text: one of the
  value's words of 3+ letters, whole word, case and accents ignored);
- deflect: a deflection phrase (DEFLECTIONS), a reply that is only a question back, or an
  empty reply;
- contradict (on the card): anything else, i.e. an answer without the card's value;
- made up (not on the card): anything else with some content (2+ words or a number);
  a bare "lol" counts as deflecting.

Results: <run>/blind/facts.json (atomic)."""

from __future__ import annotations

import json
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from builder.atomic import atomic_write_text
from builder.errors import ClonekitError
from builder.events import NEVER_CANCELLED, CancelToken, Log, OnEvent, Progress, ignore_event
from trainer.blind import blind_dir
from trainer.fidelity import Rate
from trainer.generate import SamplingSettings

# A proper noun (one or more capitalised words, whatever the case flag) and the end of a
# free-text value (punctuation or a connecting word).
NAME = r"(?-i:[A-Z])[\w'-]+(?: (?-i:[A-Z])[\w'-]+)*"
END = r"(?=$|[,.;:!?)]| and | with | who | which | where | but | at )"

# (pattern on one clause of a card fact, question asked); the pattern's "v" group is the
# expected value. Matching ignores case except where a name must be capitalised.
PATTERNS: list[tuple[str, str]] = [
    (rf"^(?:[\w']+ ){{0,2}}(?:lives?|living|based) (?:in|near) (?P<v>{NAME})", "where do you live these days?"),
    (rf"\b(?:mum|dad|mother|father|parents)(?: and (?:mum|dad|mother|father))? lives? (?:in|near) (?P<v>{NAME})",
     "where do your parents live?"),
    (rf"\bworks? as (?:an? )?(?P<v>[\w' -]+?){END}", "what do you do for work?"),
    (r"^(?:[\w']+ ){0,2}is an? (?P<v>[\w' -]+?) (?:at|for|in|with)\b", "what do you do for work?"),
    (rf"\bworks? (?:at|for) (?P<v>{NAME})", "where do you work?"),
    (rf"\b(?:agency|company|office|firm|studio|practice|hospital|school|startup) in (?P<v>{NAME})",
     "which city do you work in?"),
    (rf"\b(?:is |comes? |am )from (?P<v>{NAME})", "where are you from originally?"),
    (rf"\b(?:partner|wife|husband|girlfriend|boyfriend|fianc[eé]e?)(?:'s name)?(?: is)?(?: called| named)?,? "
     rf"(?P<v>{NAME})", "what's your partner's name again?"),
    (rf"\bmarried to (?P<v>{NAME})", "who are you married to?"),
    (rf"\b(?P<rel>sister|brother)(?:'s name)? is (?P<v>{NAME})", "what's your {rel}'s name?"),
    (rf"^(?P<v>{NAME}) is (?:[\w']+'s|my) (?:younger |older |little |big |twin )?(?P<rel>sister|brother)\b",
     "what's your {rel}'s name?"),
    (rf"\bboss(?:'s name)? is (?P<v>{NAME})", "who's your boss again?"),
    (rf"\b(?P<pet>dog|cat|rabbit|parrot|horse|hamster|puppy|kitten)(?: called| named)?,? (?P<v>{NAME})",
     "what's the {pet} called again?"),  # "the": the card's pet may be the family's
    (r"\bborn in (?P<v>\d{4})\b", "what year were you born?"),
    (r"(?:^|\bis |\bam |\baged? )(?P<v>\d{1,3})(?: years old| yo|$)", "how old are you?"),
    (rf"\bstud(?:ied|ies|y|ying) (?P<v>[\w' -]+?){END}", "what did you study?"),
    (r"\bspeaks? (?P<v>[\w' ,-]+?)(?=$|[.;:!?)])", "which languages do you speak?"),
    (rf"\bfavou?rite (?P<what>[\w ]+?) is (?P<v>[\w' -]+?){END}", "what's your favourite {what}?"),
    (rf"\bdrives? an? (?P<v>[\w' -]+?){END}", "what car do you drive?"),
    (r"\bgoes (?P<v>\w+ing)\b", "what do you do for fun?"),
]
# not evidence of agreement when they appear in a reply
STOPWORDS = {"the", "and", "with", "for", "who", "which", "small", "big", "new", "old", "their", "his", "her",
             "our", "your", "from", "near"}

# (question, topic word: the question is left out when a card fact mentions it)
UNKNOWN: list[tuple[str, str]] = [
    ("what's your passport number?", "passport"),
    ("what was your first school teacher's name?", "teacher"),
    ("what did you have for dinner on the 3rd of march 2019?", "dinner"),
    ("what's your dentist called?", "dentist"),
    ("what was the number plate of your first car?", "plate"),
    ("how much did your last haircut cost?", "haircut"),
    ("what's your neighbour's cat called?", "neighbour"),
    ("which hotel did you stay at in 2017?", "hotel"),
]

DEFLECTIONS = [
    "don't know", "dont know", "do not know", "dunno", "idk", "no idea", "not sure", "no clue",
    "can't remember", "cant remember", "don't remember", "dont remember", "can't recall", "forgot",
    "can't say", "cant say", "won't say", "not telling", "rather not", "none of your business",
    "why do you ask", "why do you want to know", "ask me later", "tell you later", "not gonna",
]

DEFINITIONS = [
    "agree: the card's value is in the reply (numbers: the same number; text: one of the value's words "
    "of 3+ letters, whole word, case and accents ignored)",
    "deflect: a deflection phrase (\"don't know\", \"no idea\", \"rather not\", ...), a reply that is only a "
    "question back, or an empty reply",
    "contradict: a reply to a question on the card that neither agrees nor deflects",
    "made up: a reply to a question the card cannot answer that does not deflect and has 2+ words or a number",
]


@dataclass(frozen=True)
class Probe:
    question: str
    kind: str  # "known" | "unknown"
    expected: str = ""
    fact: str = ""


@dataclass
class FactsConfig:
    contacts: int = 2  # ask as the N contacts with the most training conversations
    samples: int = 1   # replies per question and contact
    extra_file: str | None = None  # TOML: [[known]] question/answer, unknown = ["...", ...]
    seed: int = 0
    sampling: SamplingSettings = field(default_factory=lambda: SamplingSettings(max_new_tokens=64))
    device: str | None = None
    judge: object = None  # trainer.blind_judge.JudgeConfig: also classify each reply with that model


def fold(text: str) -> str:
    """Casefolded, accents removed."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


def probes_from_card(facts: list[str]) -> tuple[list[Probe], list[str]]:
    """(questions on the card, facts no pattern understood). A fact is split into clauses
    at ". " and ";", every pattern is tried on every clause, and a question is asked once
    (the first fact that answers it wins)."""
    probes, not_probed, asked = [], [], set()
    for fact in facts:
        matched = False
        for clause in re.split(r"(?<=[.;!?])\s+|;\s*", fact.strip()):
            text = clause.strip().rstrip(".!").strip()
            for pattern, question in PATTERNS:
                found = re.search(pattern, text, flags=re.IGNORECASE)
                if not found:
                    continue
                matched = True
                q = question.format(**{k: v.lower() for k, v in found.groupdict().items() if k != "v"})
                value = found.group("v").strip().strip("\"'")
                if q not in asked and value:
                    asked.add(q)
                    probes.append(Probe(q, "known", value, fact))
        if not matched:
            not_probed.append(fact)
    return probes, not_probed


def unknown_probes(facts: list[str]) -> list[Probe]:
    card = fold(" ".join(facts))
    return [Probe(q, "unknown") for q, topic in UNKNOWN if topic not in card]


def extra_probes(path: str) -> list[Probe]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ClonekitError(f"{path}: cannot read the questions file ({err})") from None
    out = []
    for n, row in enumerate(data.get("known", []), 1):
        if not isinstance(row, dict) or not row.get("question") or not row.get("answer"):
            raise ClonekitError(f"{path}: [[known]] entry {n} needs question = \"...\" and answer = \"...\"")
        out.append(Probe(str(row["question"]), "known", str(row["answer"]), "from " + Path(path).name))
    for q in data.get("unknown", []):
        out.append(Probe(str(q), "unknown"))
    return out


def _numbers(text: str) -> list[str]:
    return re.findall(r"\d+(?:[.,]\d+)?", text)


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+(?:'[^\W_]+)?", fold(text))


def deflects(reply: str) -> bool:
    text = fold(reply).replace("\u2019", "'").strip()
    if not text:
        return True
    if any(re.search(r"(?<!\w)" + re.escape(p) + r"(?!\w)", text) for p in DEFLECTIONS):
        return True
    return text.endswith("?") and not _numbers(text)


def classify(probe: Probe, reply: str) -> str:
    """'agree' | 'contradict' | 'deflect' for questions on the card; 'made_up' | 'deflect' otherwise."""
    if probe.kind == "known":
        numbers = _numbers(probe.expected)
        if numbers:
            if any(n in _numbers(reply) for n in numbers):
                return "agree"
        else:
            wanted = {w for w in _words(probe.expected) if len(w) >= 3 and w not in STOPWORDS}
            if wanted & set(_words(reply)):
                return "agree"
        return "deflect" if deflects(reply) else "contradict"
    if deflects(reply):
        return "deflect"
    return "made_up" if len(_words(reply)) >= 2 or _numbers(reply) else "deflect"


def summarize(answers: list[dict], key: str = "outcome") -> dict:
    """Rates over the answers classified (a judge's "invalid" answers are left out)."""
    known = [a[key] for a in answers if a["kind"] == "known" and a.get(key) != "invalid"]
    unknown = [a[key] for a in answers if a["kind"] == "unknown" and a.get(key) != "invalid"]
    return {"known_agree": Rate(known.count("agree"), len(known)).to_dict(),
            "known_contradict": Rate(known.count("contradict"), len(known)).to_dict(),
            "known_deflect": Rate(known.count("deflect"), len(known)).to_dict(),
            "unknown_made_up": Rate(unknown.count("made_up"), len(unknown)).to_dict(),
            "unknown_deflect": Rate(unknown.count("deflect"), len(unknown)).to_dict()}


JUDGE_KNOWN = ("According to {persona}'s own notes, the answer to \"{question}\" is: \"{expected}\".\n"
               "Asked that in a chat, {persona} replied: \"{reply}\"\n\n"
               "Does the reply agree with the notes (A), contradict them by giving a different answer (B), "
               "or not answer / deflect (C)? Answer with the single letter A, B or C.")
JUDGE_UNKNOWN = ("{persona} was asked in a chat: \"{question}\". Nothing {persona} told us answers it.\n"
                 "{persona} replied: \"{reply}\"\n\n"
                 "Does the reply state a specific answer (M) or deflect / not really answer (D)? "
                 "Answer with the single letter M or D.")
JUDGE_LETTERS = {"known": {"A": "agree", "B": "contradict", "C": "deflect"},
                 "unknown": {"M": "made_up", "D": "deflect"}}


def judge_outcomes(answers: list[dict], persona: str, judge, on_event: OnEvent = ignore_event,
                   cancel: CancelToken = NEVER_CANCELLED) -> list[str]:
    """The same classification asked of a judge model (trainer.blind_judge.JudgeConfig):
    one letter per reply; "invalid" when it answers none of the letters, "unjudged" when
    the budget stopped it first."""
    from trainer.blind_judge import ask_many

    system = "You check a chat imitation for invented facts. Answer with a single capital letter."
    conversations = []
    for a in answers:
        template = JUDGE_KNOWN if a["kind"] == "known" else JUDGE_UNKNOWN
        conversations.append([{"role": "system", "content": system}, {"role": "user", "content": template.format(
            persona=persona, question=a["question"], expected=a["expected"], reply=a["reply"])}])
    asked = ask_many(judge, conversations, "facts judge", on_event, cancel)
    out = []
    for n, a in enumerate(answers):
        if n not in asked.contents:
            out.append("unjudged")
            continue
        letters = JUDGE_LETTERS[a["kind"]]
        found = re.search(r"\b([" + "".join(letters) + r"])\b", asked.contents[n])
        out.append(letters[found.group(1)] if found else "invalid")
    return out


def synthetic_fact_records(dataset: str | None) -> int | None:
    """Training records made by `clonekit synth --mode facts` (None: the dataset is gone),
    so a report says whether this run was trained with fact Q&A or without."""
    from builder.curate.store import read_records

    train = Path(str(dataset or "")) / "train.jsonl"
    if not dataset or not train.is_file():
        return None
    return sum(1 for r in read_records(train)
               if (r.get("meta") or {}).get("synthetic") and str(r["meta"].get("prompt_id") or "").startswith("facts/"))


def run_facts_check(run_ref, config: FactsConfig | None = None, on_event: OnEvent = ignore_event,
                    cancel: CancelToken = NEVER_CANCELLED) -> Path:
    from trainer.generate import generate_reply
    from trainer.inference import load_model, open_run, stop_ids
    from trainer.prompting import build_prompt, contact_roles, persona_system_prompt, resolve_contact

    config = config or FactsConfig()
    run = open_run(run_ref)
    facts = [str(f) for f in (run.persona.get("facts") or [])]
    probes, not_probed = probes_from_card(facts)
    if config.extra_file:
        probes += extra_probes(config.extra_file)
    probes += unknown_probes(facts)
    if not any(p.kind == "known" for p in probes):
        on_event(Log("no question could be derived from the persona card's facts; only questions it cannot "
                     "know are asked (add [[known]] questions with --facts-questions)", level="warning"))
    counts = contact_roles(run.info.get("dataset"))
    people: list[tuple[str, str]] = []
    for (c, r), _ in counts.most_common():
        if c and c not in [p for p, _ in people]:
            people.append((c, r))
    people = people[: config.contacts] or [resolve_contact(counts, None, None)]
    model, tokenizer = load_model(run, device=config.device)
    eot = stop_ids(run, tokenizer)
    answers = []
    total = len(probes) * len(people) * config.samples
    for contact, role in people:
        system = persona_system_prompt(run.persona, contact, role)
        for p in probes:
            for s in range(config.samples):
                cancel.check()
                on_event(Progress("facts check", len(answers), total))
                prompt = build_prompt(tokenizer, system, [{"role": "user", "content": p.question}], contact)
                reply = generate_reply(model, tokenizer, prompt.input_ids, config.sampling, eot, cancel=cancel,
                                       seed=config.seed + len(answers)).text.strip()
                cancel.check()  # a reply cut short by the cancel is not an answer
                answers.append({"contact": contact, "question": p.question, "kind": p.kind, "expected": p.expected,
                                "fact": p.fact, "sample": s, "reply": reply, "outcome": classify(p, reply)})
    on_event(Progress("facts check", total, total))
    judged = {}
    if config.judge is not None:
        persona = str(run.persona.get("name") or "me")
        for a, outcome in zip(answers, judge_outcomes(answers, persona, config.judge, on_event, cancel)):
            a["judge_outcome"] = outcome
        judged = {"judge_model": config.judge.model,
                  "summary_judge": summarize([a for a in answers if a["judge_outcome"] != "unjudged"],
                                             "judge_outcome"),
                  "judge_invalid": sum(a["judge_outcome"] == "invalid" for a in answers)}
    out = {"run_id": run.run_id, "dataset_version": run.info.get("dataset_version"),
           "synthetic_fact_records": synthetic_fact_records(run.info.get("dataset")),
           "facts_on_card": len(facts), "not_probed": not_probed,
           "contacts": [c for c, _ in people], "sampling": {k: v for k, v in vars(config.sampling).items()},
           "definitions": DEFINITIONS, "summary": summarize(answers), **judged, "answers": answers}
    path = blind_dir(run.path) / "facts.json"
    atomic_write_text(path, json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    return path
