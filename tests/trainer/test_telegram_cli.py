"""`clonekit telegram`'s batching flags: the same --one-at-a-time / --max-batch /
--max-batch-tokens as `clonekit serve` (one definition, one validation), refused together
with --openai-base, and really handed to the engine the bot builds around the tiny model."""

from __future__ import annotations

import asyncio

import pytest

from builder.errors import ClonekitError
from tests.support.fake_telegram import FakeTelegram
from tests.trainer.run_fixture import tiny_run  # noqa: F401  (fixture)

TOKEN = "4242:TEST-secret-token-value"
BASE = ["--allow", "111=Alex", "--token-env", "CK_TEST_TG_TOKEN"]


def test_same_flags_as_serve_and_their_validation(tmp_path, monkeypatch, capsys):
    from clonekit.cli import build_parser, main

    parser = build_parser()
    flags = ["--max-batch", "3", "--max-batch-tokens", "900", "--one-at-a-time"]
    tg = parser.parse_args(["telegram", "RUN", "--allow", "1=A", *flags])
    serve = parser.parse_args(["serve", "RUN", *flags])
    for args in (tg, serve):
        assert (args.max_batch, args.max_batch_tokens, args.one_at_a_time) == (3, 900, True)
    unset = parser.parse_args(["telegram", "RUN", "--allow", "1=A"])
    assert (unset.max_batch, unset.max_batch_tokens, unset.one_at_a_time) == (None, None, False)

    monkeypatch.setenv("CK_TEST_TG_TOKEN", TOKEN)
    state = ["--state", str(tmp_path / "s.json")]
    for bad, message in ((["--max-batch", "0"], "--max-batch 0: must be 1 or more"),
                         (["--max-batch-tokens", "-5"], "--max-batch-tokens -5: must be 1 or more")):
        for command in (["telegram", "RUN", *BASE], ["serve", "RUN"]):
            assert main([*command, *bad]) == 2
            err = capsys.readouterr().err
            assert err.strip() == f"clonekit: error: {message}", err

    code = main(["telegram", "RUN", *BASE, *state, "--openai-base", "http://127.0.0.1:9/v1", "--model", "m",
                 "--max-batch", "4", "--one-at-a-time"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "--one-at-a-time, --max-batch: not with --openai-base" in err and "Traceback" not in err


@pytest.fixture
def built_engines(monkeypatch):
    """Every trainer.serve.Engine the bot builds (the real one, recorded)."""
    from trainer import serve

    built = []

    class Recorded(serve.Engine):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self)
    monkeypatch.setattr(serve, "Engine", Recorded)
    return built


@pytest.mark.parametrize("flags, batched, max_batch, budget", [
    (["--max-batch", "3", "--max-batch-tokens", "900"], True, 3, 900),
    (["--one-at-a-time"], False, None, None),
    ([], True, 32, None),
])
def test_flags_reach_the_engine_the_bot_builds(tiny_run, tmp_path, monkeypatch, capsys, built_engines,  # noqa: F811
                                               flags, batched, max_batch, budget):
    """The tiny model is loaded and the engine built before Telegram is asked about the
    token; a rejected token then ends the command normally (exit 2), engine closed."""
    from clonekit.cli import main

    monkeypatch.setenv("CK_TEST_TG_TOKEN", "1:wrong-token")
    with FakeTelegram(token=TOKEN) as tg:
        code = main(["telegram", str(tiny_run), *BASE, "--api-base", tg.api_base, "--device", "cpu",
                     "--no-static-cache", "--state", str(tmp_path / "s.json"), *flags])
    err = capsys.readouterr().err
    assert code == 2 and "Telegram rejected the bot token" in err, err
    [engine] = built_engines
    assert engine.static_cache is False  # --no-static-cache reaches the engine too
    if not batched:
        assert engine.batcher is None
        engine.worker.join(10)
        assert not engine.worker.is_alive()  # closed when the bot stopped
        return
    assert engine.batcher.max_batch == max_batch
    if budget is not None:
        assert engine.batcher.max_batch_tokens == budget
    else:
        assert engine.batcher.max_batch_tokens == engine.batcher._default_budget()


def test_a_reply_over_the_batch_token_budget_is_unanswerable_not_retried(tiny_run):  # noqa: F811
    from trainer.generate import SamplingSettings
    from trainer.inference import load_model, open_run, stop_ids
    from trainer.serve import Engine
    from trainer.telegram.bot import LocalBackend, Unanswerable

    run = open_run(str(tiny_run))
    model, tok = load_model(run, device="cpu")
    engine = Engine(model, tok, run.run_id, run.persona, stop_ids(run, tok), static_cache=False, max_batch_tokens=8)
    backend = LocalBackend(engine, SamplingSettings(temperature=0, max_new_tokens=12, static_cache=False))
    try:
        with pytest.raises(Unanswerable, match=r"--max-batch-tokens\).*for the bot: raise --max-batch-tokens"):
            asyncio.run(backend.reply("You are Sam.", [{"role": "user", "content": "hey", "name": "Alex"}], "Alex"))
    finally:
        backend.close()
    assert isinstance(Unanswerable("x"), ClonekitError)
