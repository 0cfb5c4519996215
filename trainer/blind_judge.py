"""The automatic judge: the blind test's forced choice asked of an OpenAI-compatible model
through the synthesis client (builder/synth/client.py: retries, rate limits, the request
cache; the key comes from an environment variable and is stored nowhere).

Language models lean towards one position, so by default each item is asked twice, the
real reply once as option 1 and once as option 2; an item counts only when both answers
pick the same reply ("inconsistent" otherwise, reported, not scored). With
``both_orders=False`` it is asked once, the side drawn from the item id. Requests are the
same on a rerun, so a rerun is answered from the cache. The model's answer is the first
"1" or "2" in its reply; anything else is "invalid" and not scored. A budget
(requests sent, tokens, USD) stops it early; what was answered is still reported.
Results: <run>/blind/judge.json (atomic), scored apart from the human answers."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from pathlib import Path

from builder.atomic import atomic_write_text
from builder.errors import ClonekitError, ConfigError
from builder.events import NEVER_CANCELLED, CancelToken, Log, OnEvent, Progress, ignore_event
from trainer.blind import blind_dir, read_items, stable_draw

SYSTEM = ("You are the judge in a blind test. You see a chat and two candidate next messages. "
          "One was really written by the named person, the other by an imitation. "
          "Answer with the single digit 1 or 2 and nothing else.")


@dataclass
class JudgeConfig:
    model: str
    base_url: str = "https://api.openai.com/v1"
    api_key_env: str = "OPENAI_API_KEY"
    max_requests: int | None = 200   # requests actually sent (cache hits are free)
    max_tokens: int | None = None    # input + output tokens sent
    max_cost: float | None = None    # USD
    temperature: float = 0.0
    max_output_tokens: int = 16  # room for "Answer: 1"; only the first 1/2 (or letter) is read
    max_tokens_param: str = "max_tokens"  # "max_completion_tokens" for OpenAI's reasoning models
    concurrency: int = 4
    timeout_s: float = 60.0
    max_retries: int = 4
    cache_dir: str | None = None
    seed: int = 0
    both_orders: bool = True  # each item asked twice, the real reply once on each side (position bias)

    def __post_init__(self) -> None:
        if not self.model:
            raise ConfigError("--judge-model: name the model to ask")
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"--judge-base-url: must start with http:// or https:// (got {self.base_url!r})")
        if not self.api_key_env or not self.api_key_env.replace("_", "").isalnum():
            raise ConfigError("--judge-api-key-env: the NAME of an environment variable, not a key")
        for name in ("max_requests", "max_tokens"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"--judge-{name.replace('_', '-')}: must be at least 1 (got {value})")
        if self.max_tokens_param not in ("max_tokens", "max_completion_tokens"):
            raise ConfigError(f"--judge-max-tokens-param: max_tokens or max_completion_tokens "
                              f"(got {self.max_tokens_param!r})")
        if self.max_cost is not None and self.max_cost <= 0:
            raise ConfigError(f"--judge-max-cost: must be above 0 (got {self.max_cost})")


def judge_messages(item: dict, persona: str, candidates: tuple[str, str]) -> list[dict]:
    chat = "\n".join(f"{m['name']}: {m['content']}" for m in item["context"])
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": (
                f"A chat between {persona} and {item['contact']}:\n\n{chat}\n\n"
                f"Two candidate next messages from {persona}:\n\n1: {candidates[0]}\n\n2: {candidates[1]}\n\n"
                f"Which one did {persona} really write? Answer 1 or 2.")}]


def parse_choice(content: str) -> int | None:
    found = re.search(r"(?<![\d.])([12])(?![\d.])", content or "")
    return int(found.group(1)) if found else None


def item_verdict(sides: list[int], picked: list[int | None]) -> str:
    """One item's verdict from its answers: 'invalid' if any answer had no 1/2; asked in both
    orders, 'real'/'clone' only when both answers agree on the reply, else 'inconsistent'
    (the judge went by position, not by the text)."""
    if any(p is None for p in picked):
        return "invalid"
    found_real = {p == side for p, side in zip(picked, sides)}
    if len(found_real) > 1:
        return "inconsistent"
    return "real" if found_real.pop() else "clone"


def run_judge(run_dir: str | Path, config: JudgeConfig, on_event: OnEvent = ignore_event,
              cancel: CancelToken = NEVER_CANCELLED) -> Path:
    folder = blind_dir(run_dir)
    items = read_items(folder)
    if items is None or not items.get("complete"):
        raise ClonekitError(f"{folder / 'items.json'}: no blind-test items yet; prepare them first "
                            "(`clonekit blind RUN --prepare`)")
    persona = items.get("persona") or "me"
    plan = []  # (item, the real reply's side in each request)
    conversations = []
    for it in items["items"]:
        sides = [1, 2] if config.both_orders else [1 + stable_draw("judge", config.seed, it["item"]) % 2]
        for side in sides:
            pair = (it["real"], it["clone"]) if side == 1 else (it["clone"], it["real"])
            conversations.append(judge_messages(it, persona, pair))
        plan.append((it, sides))
    on_event(Log(f"asking {config.model} about {len(plan)} items ({len(conversations)} requests)"))
    asked = ask_many(config, conversations, "judge", on_event, cancel)
    verdicts, n = [], 0
    for it, sides in plan:
        numbers, n = list(range(n, n + len(sides))), n + len(sides)
        if any(k not in asked.contents for k in numbers):
            continue  # the budget ran out before this item was fully asked
        answers = [asked.contents[k] for k in numbers]
        picked = [parse_choice(a) for a in answers]
        verdicts.append({"item": it["item"], "contact": it["contact"], "role_tag": it["role_tag"],
                         "real_side": sides, "picked": picked, "verdict": item_verdict(sides, picked),
                         "answer": [a[:200] for a in answers]})
    picks = [p for v in verdicts for p in v["picked"] if p is not None]
    out = {"model": config.model, "base_url": config.base_url.rstrip("/"), "seed": config.seed,
           "both_orders": config.both_orders, "verdicts": verdicts, "budget_stopped": asked.budget_stopped,
           "usage": asked.usage, "items": len(plan),
           "option_1_rate": round(picks.count(1) / len(picks), 6) if picks else None}
    path = folder / "judge.json"
    atomic_write_text(path, json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    return path


@dataclass
class Asked:
    contents: dict[int, str]  # request index -> reply text; missing when the budget stopped it
    usage: dict
    budget_stopped: bool


def ask_many(config: JudgeConfig, conversations: list[list[dict]], stage: str, on_event: OnEvent = ignore_event,
             cancel: CancelToken = NEVER_CANCELLED) -> Asked:
    """Send each message list once (cache first), within the budget; the judge's and the
    facts check's requests both go through here."""
    from builder.synth.cache import RequestCache, default_cache_path
    from builder.synth.plan import price_for

    price = price_for(config.model, {})
    if config.max_cost is not None and price is None:
        raise ConfigError(f"--judge-max-cost: no price known for model '{config.model}'; "
                          "use --judge-max-tokens or --judge-max-requests instead")
    cache = RequestCache(Path(config.cache_dir) / "synth.sqlite" if config.cache_dir else default_cache_path())
    try:
        asked = asyncio.run(_ask_all(conversations, config, cache, price, stage, on_event, cancel))
    finally:
        cache.close()
    if asked.budget_stopped:
        on_event(Log(f"judge budget reached: {len(asked.contents)} of {len(conversations)} {stage} requests "
                     "answered", level="warning"))
    return asked


async def _ask_all(conversations: list[list[dict]], config: JudgeConfig, cache, price, stage: str,
                   on_event: OnEvent, cancel: CancelToken) -> Asked:
    from builder.synth.cache import request_key
    from builder.synth.client import ChatClient, ChatRequest, RetryPolicy, describe_request
    from builder.synth.plan import cost_of
    from builder.synth.ratelimit import RateLimiter
    from builder.synth.synth import resolve_api_key

    client = ChatClient(base_url=config.base_url, model=config.model, api_key=resolve_api_key(config),
                        api_key_env=config.api_key_env, timeout_s=config.timeout_s, cache=cache,
                        limiter=RateLimiter(), retry=RetryPolicy(max_retries=config.max_retries),
                        max_tokens_param=config.max_tokens_param, jitter_seed=config.seed)
    params = {"temperature": config.temperature, "max_tokens": config.max_output_tokens}
    requests = []
    for messages in conversations:
        key = request_key(describe_request(client.base_url, config.model, messages, params, None))
        est = sum(len(m["content"]) for m in messages) // 3 + config.max_output_tokens
        requests.append(ChatRequest(key, messages, params, None, est))
    contents: dict[int, str] = {}
    usage = {"sent": 0, "cache_hits": 0, "tokens": 0, "cost": 0.0}
    reserved = {"tokens": 0, "cost": 0.0}
    stopped = {"budget": False}
    sem = asyncio.Semaphore(config.concurrency)

    def worst(req: ChatRequest) -> float:
        return cost_of(price, req.est_tokens, config.max_output_tokens) or 0.0

    def fits(req: ChatRequest) -> bool:
        if config.max_requests is not None and usage["sent"] >= config.max_requests:
            return False
        if config.max_tokens is not None and usage["tokens"] + reserved["tokens"] + req.est_tokens > config.max_tokens:
            return False
        return config.max_cost is None or usage["cost"] + reserved["cost"] + worst(req) <= config.max_cost

    async def one(n: int, req: ChatRequest) -> None:
        async with sem:
            result = client.cached(req)
            if result is not None:
                usage["cache_hits"] += 1
            elif cancel.cancelled:
                return
            elif not fits(req):
                stopped["budget"] = True
                return
            else:
                usage["sent"] += 1
                reserved["tokens"] += req.est_tokens
                reserved["cost"] += worst(req)
                try:
                    result = await client.complete(req)
                finally:
                    reserved["tokens"] -= req.est_tokens
                    reserved["cost"] -= worst(req)
                u = result.usage or {}
                tin = u.get("prompt_tokens") or req.est_tokens - config.max_output_tokens
                tout = u.get("completion_tokens") or 1
                usage["tokens"] += tin + tout
                usage["cost"] += cost_of(price, tin, tout) or 0.0
            contents[n] = result.content
            on_event(Progress(stage, len(contents), len(requests)))

    try:
        await asyncio.gather(*(one(n, r) for n, r in enumerate(requests)))
    finally:
        await client.aclose()
    cancel.check()
    return Asked(contents, dict(usage, cost=round(usage["cost"], 6)), stopped["budget"])
