"""Plan a synthesis run up front, deterministically: every request (messages, params,
cache key) in the order it will be sent, plus token and cost estimates for --dry-run
and the budget. Same version + settings + seed -> the same plan, byte for byte."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field

from builder.errors import ConfigError
from builder.synth.cache import request_key
from builder.synth.client import ChatRequest, describe_request
from builder.synth.config import Price, SynthConfig
from builder.synth.prompts import TEMPLATES, PromptTemplate, format_examples, persona_card

# USD per million tokens (input, output), list prices as of 2025. Override or add models
# with [synth.prices.MODEL] input_per_1m/output_per_1m; prices change, check yours.
PRICE_TABLE: dict[str, Price] = {
    "gpt-4o-mini": Price(input_per_1m=0.15, output_per_1m=0.60),
    "gpt-4o": Price(input_per_1m=2.50, output_per_1m=10.00),
    "gpt-4.1-nano": Price(input_per_1m=0.10, output_per_1m=0.40),
    "gpt-4.1-mini": Price(input_per_1m=0.40, output_per_1m=1.60),
    "gpt-4.1": Price(input_per_1m=2.00, output_per_1m=8.00),
    "gpt-3.5-turbo": Price(input_per_1m=0.50, output_per_1m=1.50),
}
_OPENAI_PREFIXES = ("gpt-", "chatgpt-", "o1", "o3", "o4", "text-")
MESSAGE_OVERHEAD_TOKENS = 4   # per chat message, the usual OpenAI accounting
ITEM_OVERHEAD_TOKENS = 16     # JSON keys and punctuation per generated item/turn
FACTS_CONTACT, FACTS_ROLE = "someone", "acquaintance"


def price_for(model: str, overrides: dict[str, Price]) -> Price | None:
    """Exact name, else the longest table prefix (``gpt-4o-mini-2024-07-18`` -> gpt-4o-mini)."""
    table = {**PRICE_TABLE, **overrides}
    if model in table:
        return table[model]
    prefixes = [name for name in table if model.startswith(name + "-")]
    return table[max(prefixes, key=len)] if prefixes else None


def cost_of(price: Price | None, input_tokens: float, output_tokens: float) -> float | None:
    if price is None:
        return None
    return (input_tokens * price.input_per_1m + output_tokens * price.output_per_1m) / 1e6


def estimate_counter(model: str, fallback_spec: str):
    """(counter, note): tiktoken's encoding for OpenAI model names when it can be loaded
    (offline it usually cannot), else the dataset's tokenizer, saying so."""
    from builder.tokens import TiktokenCounter, load_counter

    if model.startswith(_OPENAI_PREFIXES):
        import tiktoken

        try:
            enc = tiktoken.encoding_for_model(model)
            return TiktokenCounter(enc, f"tiktoken:{enc.name}"), ""
        except Exception as err:  # KeyError (unknown model) or a failed download: both mean "not available"
            counter = load_counter(fallback_spec)
            return counter, (f"tiktoken encoding for {model} unavailable ({type(err).__name__}; offline?): "
                             f"token estimates use the '{counter.name}' tokenizer")
    return load_counter(fallback_spec), ""


@dataclass(frozen=True)
class PlannedRequest:
    index: int
    contact: str
    role: str
    k: int                    # items (self-instruct, facts) or messages (conversations) asked for
    request: ChatRequest
    request_id: str           # hash of the request without the base URL (recorded in meta)
    est_input_tokens: int
    est_output_tokens: int    # expected
    max_output_tokens: int    # worst case


@dataclass
class RealData:
    """What synthesis needs to know about the real records of a version."""
    persona_name: str
    pairs: dict[str, list[tuple[str, str]]]  # contact -> (user turn, my reply)
    roles: dict[str, str]
    tokens: dict[str, int]                   # contact -> train tokens
    train_tokens: int
    mean_reply_tokens: float


@dataclass
class SynthPlan:
    config: SynthConfig
    template: PromptTemplate
    requests: list[PlannedRequest]
    counter_name: str
    counter_note: str
    price: Price | None
    real: RealData
    share_cap_tokens: int     # synthetic train tokens allowed by synthetic_share
    est_synthetic_tokens: int
    version_ref: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def est_input_tokens(self) -> int:
        return sum(r.est_input_tokens for r in self.requests)

    @property
    def est_output_tokens(self) -> int:
        return sum(r.est_output_tokens for r in self.requests)

    @property
    def max_output_tokens(self) -> int:
        return sum(r.max_output_tokens for r in self.requests)

    @property
    def est_cost(self) -> float | None:
        return cost_of(self.price, self.est_input_tokens, self.est_output_tokens)

    @property
    def max_cost(self) -> float | None:
        return cost_of(self.price, self.est_input_tokens, self.max_output_tokens)

    def summary_lines(self) -> list[str]:
        cfg = self.config
        money = lambda v: "unknown" if v is None else f"${v:.4f}"  # noqa: E731
        lines = [
            f"version {self.version_ref}: mode {cfg.mode}, {cfg.n} records wanted, model {cfg.model} at {cfg.base_url}",
            f"requests: {len(self.requests)}",
            f"input tokens: ~{self.est_input_tokens:,} ({self.counter_name})",
            f"output tokens: ~{self.est_output_tokens:,} expected, {self.max_output_tokens:,} at most",
            f"cost: ~{money(self.est_cost)} expected, {money(self.max_cost)} at most",
            f"synthetic share cap: {cfg.synthetic_share:.0%} of train tokens = {self.share_cap_tokens:,} "
            f"synthetic tokens (expected ~{self.est_synthetic_tokens:,})",
        ]
        if self.price is None:
            lines.append(f"no price known for model '{cfg.model}': add [synth.prices.\"{cfg.model}\"] "
                         "input_per_1m/output_per_1m to estimate cost")
        if self.counter_note:
            lines.append(self.counter_note)
        return lines + self.notes


def _dialogue(record: dict) -> list[dict]:
    return [m for m in record.get("messages", []) if m.get("role") in ("user", "assistant")]


def analyse_real(train: list[dict], persona_name: str, counter) -> RealData:
    pairs: dict[str, list[tuple[str, str]]] = defaultdict(list)
    roles: dict[str, str] = {}
    tokens: dict[str, int] = defaultdict(int)
    for record in train:
        meta = record.get("meta", {})
        if meta.get("synthetic"):
            continue
        contact = str(meta.get("contact") or "contact")
        roles.setdefault(contact, str(meta.get("role_tag") or "contact"))
        turns = _dialogue(record)
        n = meta.get("n_tokens")
        tokens[contact] += int(n) if isinstance(n, int) else sum(counter.count([m["content"] for m in turns]))
        for user, reply in zip(turns, turns[1:]):
            if user["role"] == "user" and reply["role"] == "assistant" and user["content"] and reply["content"]:
                pairs[contact].append((user["content"], reply["content"]))
    all_replies = [r for plist in pairs.values() for _, r in plist]
    sample = all_replies[:2000]
    mean_reply = (sum(counter.count(sample)) / len(sample)) if sample else 20.0
    return RealData(persona_name=persona_name, pairs=dict(pairs), roles=roles, tokens=dict(tokens),
                    train_tokens=sum(tokens.values()), mean_reply_tokens=mean_reply)


class _Shots:
    """Few-shot examples per contact: the pool shuffled once by seed, then rotated so
    successive requests see different examples."""

    def __init__(self, pairs: dict[str, list[tuple[str, str]]], seed: int, size: int) -> None:
        self.size = size
        self.pools: dict[str, list[tuple[str, str]]] = {}
        for contact in sorted(pairs):
            pool = list(pairs[contact])
            random.Random(f"{seed}:{contact}").shuffle(pool)
            self.pools[contact] = pool
        everyone = [p for c in sorted(pairs) for p in pairs[c]]
        random.Random(f"{seed}:*").shuffle(everyone)
        self.pools["*"] = everyone
        self.used: dict[str, int] = defaultdict(int)

    def take(self, contact: str) -> list[tuple[str, str]]:
        pool = self.pools.get(contact) or []
        if not pool or self.size == 0:
            return []
        start = self.used[contact] * self.size
        self.used[contact] += 1
        return [pool[(start + i) % len(pool)] for i in range(min(self.size, len(pool)))]


def _contacts(cfg: SynthConfig, real: RealData) -> list[str]:
    known = sorted(real.pairs)
    if not cfg.contacts:
        if not known:
            raise ConfigError(f"{cfg.version}: no real user/assistant exchanges to learn from; "
                              "synthesis needs a version built from chats")
        return known
    missing = [c for c in cfg.contacts if c not in real.roles]
    if missing:
        raise ConfigError(f"synth.contacts: '{missing[0]}' is not a contact of {cfg.version} "
                          f"(known: {', '.join(known[:8]) or 'none'})")
    return list(cfg.contacts)


def build_plan(cfg: SynthConfig, persona, real: RealData, counter, counter_note: str, version_ref: str) -> SynthPlan:
    template = TEMPLATES[cfg.mode]
    card = persona_card(persona.facts, persona.style)
    name = real.persona_name
    shots = _Shots(real.pairs, cfg.seed, cfg.few_shot)
    per_item = int(real.mean_reply_tokens * 2 + ITEM_OVERHEAD_TOKENS)
    specs: list[tuple[str, str, int, dict]] = []  # (contact, role, k, template values)

    if cfg.mode == "facts":
        if not persona.facts:
            raise ConfigError(f"{cfg.version}: facts mode needs persona facts; add facts = [...] under [persona] "
                              "in the build config and rebuild")
        facts = list(persona.facts)
        random.Random(f"{cfg.seed}:facts").shuffle(facts)
        width = min(3, len(facts))
        for i in range(math.ceil(cfg.n / cfg.per_call)):
            k = min(cfg.per_call, cfg.n - i * cfg.per_call)
            focus = "\n".join(f"- {facts[(i * width + j) % len(facts)]}" for j in range(width))
            examples = format_examples(shots.take("*"), "Friend", name)
            specs.append((FACTS_CONTACT, FACTS_ROLE, k, {"focus": focus, "examples": examples}))
    elif cfg.mode == "self-instruct":
        contacts = _contacts(cfg, real)
        for i in range(math.ceil(cfg.n / cfg.per_call)):
            contact = contacts[i % len(contacts)]
            k = min(cfg.per_call, cfg.n - i * cfg.per_call)
            examples = format_examples(shots.take(contact), contact, name)
            specs.append((contact, real.roles.get(contact, "contact"), k, {"examples": examples}))
    else:  # conversations: each goes to the contact with the fewest tokens so far (water-filling)
        contacts = _contacts(cfg, real)
        level = {c: real.tokens.get(c, 0) for c in contacts}
        conv_tokens = int(cfg.turns * (real.mean_reply_tokens + ITEM_OVERHEAD_TOKENS))
        for _ in range(cfg.n):
            contact = min(contacts, key=lambda c: (level[c], c))
            level[contact] += conv_tokens
            examples = format_examples(shots.take(contact), contact, name)
            specs.append((contact, real.roles.get(contact, "contact"), cfg.turns, {"examples": examples}))
        per_item = conv_tokens

    rf = template.response_format()
    requests: list[PlannedRequest] = []
    for index, (contact, role, k, values) in enumerate(specs):
        messages = template.render(name=name, card=card, contact=contact, role=role, k=str(k), **values)
        params = {"temperature": cfg.temperature, "max_tokens": cfg.max_output_tokens,
                  "seed": cfg.seed * 1_000_003 + index}
        key = request_key(describe_request(cfg.base_url, cfg.model, messages, params, rf))
        request_id = request_key(describe_request("", cfg.model, messages, params, rf))[:16]
        est_in = sum(counter.count([m["content"] for m in messages])) + MESSAGE_OVERHEAD_TOKENS * len(messages)
        expected_out = per_item if cfg.mode == "conversations" else k * per_item
        requests.append(PlannedRequest(
            index=index, contact=contact, role=role, k=k, request_id=request_id,
            request=ChatRequest(key=key, messages=messages, params=params, response_format=rf,
                                est_tokens=est_in + cfg.max_output_tokens),
            est_input_tokens=est_in, est_output_tokens=min(expected_out, cfg.max_output_tokens),
            max_output_tokens=cfg.max_output_tokens))

    share = cfg.synthetic_share
    cap = int(share / (1 - share) * real.train_tokens)
    est_synth = sum(r.est_output_tokens for r in requests)
    plan = SynthPlan(config=cfg, template=template, requests=requests, counter_name=counter.name,
                     counter_note=counter_note, price=price_for(cfg.model, cfg.prices), real=real,
                     share_cap_tokens=cap, est_synthetic_tokens=est_synth, version_ref=version_ref)
    if est_synth > cap:
        plan.notes.append(f"expected synthetic tokens exceed the {share:.0%} share cap: records past the cap "
                          "are dropped; lower --n or raise synthetic_share")
    if cfg.max_cost is not None and plan.price is None:
        raise ConfigError(f"synth.max_cost: no price known for model '{cfg.model}'; add [synth.prices.\"{cfg.model}\"] "
                          "or use --max-tokens")
    return plan
