"""run_synth: expand a dataset version with synthetic records through an
OpenAI-compatible API, resumably and within a budget; plan_synth: the --dry-run plan.

Order of work: plan every request up front -> send them (bounded concurrency, cache,
retries, budget) -> assemble results in plan order whatever order they arrived in ->
validate -> drop duplicates -> apply the synthetic-share cap -> write a new version whose
parent is the input. Budget stop: the run stops before a request whose worst case would
cross --max-cost/--max-tokens and writes the version with what completed (and says so)."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from builder.errors import Cancelled, ClonekitError, ConfigError
from builder.events import NEVER_CANCELLED, CancelToken, Log, OnEvent, Progress, ignore_event
from builder.synth.cache import RequestCache, default_cache_path
from builder.synth.config import SynthConfig
from builder.synth.plan import (PlannedRequest, SynthPlan, analyse_real, build_plan, cost_of,
                                estimate_counter)

STAGE = "synth"


@dataclass
class _Loaded:
    version: object            # builder.curate.store.DatasetVersion
    persona: object            # builder.curate.persona.PersonaConfig
    me: str
    record_counter: object     # tokenizer for meta.n_tokens (the version's)


def _load(cfg: SynthConfig) -> tuple[_Loaded, SynthPlan]:
    from builder.curate.persona import PersonaConfig
    from builder.curate.store import load_version
    from builder.tokens import load_counter

    dv = load_version(cfg.version, root=cfg.root)
    build_cfg = dv.manifest.get("config") or {}
    try:
        persona = PersonaConfig(**(build_cfg.get("persona") or {}))
    except Exception as err:  # pydantic ValidationError: a hand-edited manifest
        raise ConfigError(f"{dv.path / 'manifest.json'}: config.persona is not valid ({err.__class__.__name__}); "
                          "rebuild the version") from None
    me_aliases = (build_cfg.get("build") or {}).get("me") or []
    me = persona.name or (me_aliases[0] if me_aliases else "me")
    spec = cfg.tokenizer or (build_cfg.get("tokenizer") or {}).get("spec") or "builtin"
    record_counter = load_counter(spec)
    est_counter, note = estimate_counter(cfg.model, spec)
    real = analyse_real(dv.train, me, record_counter)
    plan = build_plan(cfg, persona, real, est_counter, note, f"{dv.name}/{dv.version}")
    return _Loaded(dv, persona, me, record_counter), plan


def plan_synth(cfg: SynthConfig) -> SynthPlan:
    """Every request and the token/cost estimate; sends nothing."""
    return _load(cfg)[1]


def resolve_api_key(cfg: SynthConfig) -> str:
    key = os.environ.get(cfg.api_key_env, "")
    if key:
        return key
    if "api.openai.com" in cfg.base_url:
        raise ConfigError(f"no API key: set the environment variable {cfg.api_key_env} "
                          "(or name another one with --api-key-env)")
    return "no-key"  # local servers (vLLM, Ollama, llama.cpp, clonekit serve) accept any key


@dataclass
class _Execution:
    results: dict[int, object] = field(default_factory=dict)   # plan index -> ChatResult
    budget_stopped: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0


class _Runner:
    def __init__(self, plan: SynthPlan, client, counter, on_event: OnEvent, cancel: CancelToken) -> None:
        self.plan, self.client, self.counter = plan, client, counter
        self.cfg = plan.config
        self.on_event, self.cancel = on_event, cancel
        self.out = _Execution()
        self.reserved_tokens = 0
        self.reserved_cost = 0.0
        self.failures: list[BaseException] = []
        self.tasks: set[asyncio.Task] = set()
        self.started = time.monotonic()

    # -- budget ----------------------------------------------------------------------
    def _worst(self, pr: PlannedRequest) -> tuple[int, float]:
        tokens = pr.est_input_tokens + pr.max_output_tokens
        return tokens, cost_of(self.plan.price, pr.est_input_tokens, pr.max_output_tokens) or 0.0

    def _fits(self, pr: PlannedRequest) -> bool:
        tokens, cost = self._worst(pr)
        if self.cfg.max_tokens is not None:
            used = self.out.input_tokens + self.out.output_tokens + self.reserved_tokens
            if used + tokens > self.cfg.max_tokens:
                return False
        if self.cfg.max_cost is not None and self.out.cost + self.reserved_cost + cost > self.cfg.max_cost:
            return False
        return True

    def _account(self, pr: PlannedRequest, result) -> None:
        usage = result.usage or {}
        tin = usage.get("prompt_tokens")
        tout = usage.get("completion_tokens")
        if tin is None:
            tin = pr.est_input_tokens
        if tout is None:
            tout = sum(self.counter.count([result.content]))
        self.out.input_tokens += tin
        self.out.output_tokens += tout
        self.out.cost += cost_of(self.plan.price, tin, tout) or 0.0

    # -- progress --------------------------------------------------------------------
    def _progress(self) -> None:
        done = len(self.out.results)
        total = len(self.plan.requests)
        stats = self.client.stats
        retries = sum(stats.retries.values())
        tokens = self.out.input_tokens + self.out.output_tokens
        spend = f"${self.out.cost:.4f}" if self.plan.price else "cost n/a"
        detail = f"{tokens:,} tok · {spend} · {stats.cache_hits} cached · {retries} retries"
        elapsed = time.monotonic() - self.started
        fresh = done - stats.cache_hits
        eta = elapsed / fresh * (total - done) if fresh > 0 else None
        self.on_event(Progress(STAGE, done, total, detail, extra={
            "tokens": tokens, "cost": self.out.cost, "cache_hits": stats.cache_hits,
            "retries": retries, "eta_s": eta}))

    # -- sending ---------------------------------------------------------------------
    async def _one(self, pr: PlannedRequest) -> None:
        tokens, cost = self._worst(pr)
        self.reserved_tokens += tokens
        self.reserved_cost += cost
        try:
            result = await self.client.complete(pr.request)
        except Exception as err:  # ApiError, cache errors: the scheduler re-raises the first one
            self.failures.append(err)
            return
        finally:
            self.reserved_tokens -= tokens
            self.reserved_cost -= cost
            self.in_flight -= 1
            self.wakeup.set()
        self._account(pr, result)
        self.out.results[pr.index] = result
        self._progress()

    async def _tick(self) -> None:
        """Wake the scheduler now and then so a cancel is noticed while all slots are busy."""
        while True:
            await asyncio.sleep(0.1)
            self.wakeup.set()

    async def _wait_until(self, max_in_flight: int) -> None:
        while self.in_flight > max_in_flight:
            self.wakeup.clear()
            await self.wakeup.wait()
            self._check()

    def _check(self) -> None:
        if self.failures:
            raise self.failures[0]
        if self.cancel.cancelled:
            raise Cancelled("synthesis cancelled; finished requests are cached and a rerun will not resend them")

    async def run(self) -> _Execution:
        # One wake-up event instead of asyncio.wait over every task: O(1) per completion.
        self.in_flight = 0
        self.wakeup = asyncio.Event()
        ticker = asyncio.create_task(self._tick())
        try:
            for pr in self.plan.requests:
                self._check()
                hit = self.client.cached(pr.request)
                if hit is not None:
                    self.client.stats.cache_hits += 1
                    self.out.results[pr.index] = hit
                    self._progress()
                    continue
                await self._wait_until(self.cfg.concurrency - 1)
                if not self._fits(pr):
                    self.out.budget_stopped = True
                    break
                self.in_flight += 1
                task = asyncio.create_task(self._one(pr))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            await self._wait_until(0)
            self._check()
        finally:
            ticker.cancel()
            if self.tasks:
                # Cancelled or failed: let requests already on the wire land in the cache
                # (bounded), so a rerun does not pay for them twice.
                await asyncio.wait(set(self.tasks), timeout=min(self.cfg.timeout_s, 30.0))
            pending = [*self.tasks, ticker]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        return self.out


async def _execute(plan: SynthPlan, api_key: str, cache: RequestCache, counter, on_event: OnEvent,
                   cancel: CancelToken) -> tuple[_Execution, object]:
    from builder.synth.client import ChatClient, RetryPolicy
    from builder.synth.ratelimit import RateLimiter

    cfg = plan.config
    client = ChatClient(
        base_url=cfg.base_url, model=cfg.model, api_key=api_key, api_key_env=cfg.api_key_env,
        timeout_s=cfg.timeout_s, cache=cache,
        limiter=RateLimiter(cfg.requests_per_min, cfg.tokens_per_min),
        retry=RetryPolicy(max_retries=cfg.max_retries, base_delay_s=cfg.backoff_base_s),
        max_tokens_param=cfg.max_tokens_param, jitter_seed=cfg.seed)
    try:
        out = await _Runner(plan, client, counter, on_event, cancel).run()
    finally:
        await client.aclose()
    return out, client.stats


def run_synth(cfg: SynthConfig, on_event: OnEvent = ignore_event, cancel: CancelToken = NEVER_CANCELLED) -> Path:
    from builder.curate.store import write_version
    from builder.synth.assemble import assemble
    from builder.synth.review import synthetic_counts

    loaded, plan = _load(cfg)
    if plan.counter_note:
        on_event(Log(plan.counter_note, "warning"))
    api_key = resolve_api_key(cfg)
    cache = RequestCache(Path(cfg.cache_dir) / "synth.sqlite" if cfg.cache_dir else default_cache_path())
    try:
        out, stats = asyncio.run(_execute(plan, api_key, cache, loaded.record_counter, on_event, cancel))
    finally:
        cache.close()
    if stats.response_format_fallbacks:
        on_event(Log(f"{cfg.base_url} has no structured output (response_format); JSON was read from plain replies"))
    if not out.results:
        raise ClonekitError(f"the budget (--max-cost/--max-tokens) does not cover one request "
                            f"(~{plan.requests[0].est_input_tokens + cfg.max_output_tokens:,} tokens at worst); "
                            "raise it; nothing was written")
    result = assemble(plan, out.results, loaded)
    dv = loaded.version
    manifest = {k: v for k, v in dv.manifest.items() if k != "files"}
    counts = dict(manifest.get("counts") or {})
    counts.update(result.counts)
    counts.update({k: v for k, v in synthetic_counts(dv.train + result.records, dv.val).items()
                   if k in ("train", "val", "conversations")})
    manifest["counts"] = counts
    manifest["synth"] = {
        "config": cfg.model_dump(mode="json"),
        "generator": cfg.model,
        "prompt_id": plan.template.id,
        "prompt_hash": plan.template.hash,
        "requests": {"planned": len(plan.requests), "completed": len(out.results),
                     "from_cache": stats.cache_hits, "sent": stats.sent, "retries": dict(stats.retries),
                     "response_format_fallback": bool(stats.response_format_fallbacks)},
        "tokens": {"input": out.input_tokens, "output": out.output_tokens},
        "cost_usd": round(out.cost, 6) if plan.price else None,
        "budget_stopped": out.budget_stopped,
        "rejected": dict(sorted(result.rejected.items())),
        "dropped": dict(sorted(result.dropped.items())),
    }
    rejected = sum(result.rejected.values())
    # said before writing: with none kept, write_version raises NothingChanged and this says why
    on_event(Log(f"{len(result.records)} synthetic records kept ({result.counts['synthetic_share']:.1%} of train "
                 f"tokens); {rejected} items rejected, {sum(result.dropped.values())} dropped "
                 f"({', '.join(f'{k} {v}' for k, v in sorted(result.dropped.items())) or 'none'})"))
    path = write_version(dv.name, dv.train + result.records, dv.val, manifest,
                         root=dv.path.parent.parent, parent=f"{dv.name}/{dv.version}")
    if out.budget_stopped:
        on_event(Log(f"budget reached: stopped after {len(out.results)} of {len(plan.requests)} requests; "
                     f"the new version holds what completed", "warning"))
    return path
