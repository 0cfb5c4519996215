"""The static-cache decode loop (trainer.static_decode) on CPU: greedy replies equal the
plain generate() path, sampling follows transformers' processors, stop ids and cancel end it."""

from __future__ import annotations

import pytest

from builder.events import CancelToken
from tests.trainer.run_fixture import tiny_run  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def loaded(tiny_run):  # noqa: F811
    from trainer.inference import load_model, open_run, stop_ids

    run = open_run(tiny_run)
    model, tok = load_model(run, device="cpu")
    ids = tok.apply_chat_template([{"role": "user", "content": "hey how are you"}], add_generation_prompt=True,
                                  tokenize=True, return_dict=True)["input_ids"]
    return model, tok, stop_ids(run, tok), list(ids)


@pytest.mark.parametrize("penalty", [1.0, 1.3])
def test_greedy_static_cache_equals_plain_generate(loaded, penalty):
    from trainer.generate import SamplingSettings, generate_reply

    model, tok, _, ids = loaded
    settings = SamplingSettings(temperature=0, repetition_penalty=penalty, max_new_tokens=16)
    plain = generate_reply(model, tok, ids, settings, [])
    static = generate_reply(model, tok, ids, SamplingSettings(**{**settings.__dict__, "static_cache": True}), [])
    assert static.token_ids == plain.token_ids and len(static.token_ids) == 16
    assert static.text == plain.text and static.finish_reason == "length"
    # a second reply reuses the cache (reset between replies): same result
    again = generate_reply(model, tok, ids, SamplingSettings(**{**settings.__dict__, "static_cache": True}), [])
    assert again.token_ids == plain.token_ids


def test_static_cache_stops_at_end_of_turn_and_on_cancel(loaded):
    from trainer.generate import SamplingSettings, generate_reply

    model, tok, _, ids = loaded
    settings = SamplingSettings(temperature=0, max_new_tokens=16, static_cache=True)
    first = generate_reply(model, tok, ids, settings, []).token_ids
    stopped = generate_reply(model, tok, ids, settings, [first[3]])
    assert stopped.finish_reason == "stop" and stopped.token_ids == first[:first.index(first[3])]
    cancel = CancelToken()
    seen: list[str] = []

    def on_text(piece: str) -> None:
        seen.append(piece)
        cancel.cancel()
    cancelled = generate_reply(model, tok, ids, settings, [], on_text=on_text, cancel=cancel)
    assert cancelled.finish_reason == "cancelled" and len(cancelled.token_ids) < 16


def test_sampling_matches_transformers_processors():
    """Penalty, temperature and top-p remove and rescale exactly what transformers' own
    processors do; the draw then only ever picks tokens those processors keep."""
    import torch
    from transformers import RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper, TopPLogitsWarper

    from trainer.static_decode import choose_token

    torch.manual_seed(0)
    vocab = 50
    logits = torch.randn(1, vocab)
    context = torch.tensor([[1, 4, 4, 9, 30]])
    seen = torch.zeros(1, vocab, dtype=torch.bool)
    seen[0, context[0]] = True
    t, p, pen = torch.tensor(0.7), torch.tensor(0.8), torch.tensor(1.3)
    ref = RepetitionPenaltyLogitsProcessor(1.3)(context, logits.clone())
    assert choose_token(logits, seen, t, p, pen, sample=False).item() == int(ref.argmax())
    ref = TopPLogitsWarper(0.8)(context, TemperatureLogitsWarper(0.7)(context, ref))
    allowed = set(torch.nonzero(ref[0] > float("-inf")).flatten().tolist())
    assert 1 < len(allowed) < vocab
    draws = [choose_token(logits, seen, t, p, pen, sample=True).item() for _ in range(400)]
    assert set(draws) <= allowed and len(set(draws)) > 1
    probs = ref.softmax(-1)[0]
    top = int(probs.argmax())
    assert abs(draws.count(top) / len(draws) - float(probs[top])) < 0.1


def test_sliding_window_longer_than_cache_becomes_full_attention():
    from transformers import MistralConfig

    from trainer.static_decode import _full_attention_config

    config = MistralConfig(sliding_window=4096, num_hidden_layers=2)
    assert _full_attention_config(config, 512).sliding_window is None
    assert config.sliding_window == 4096  # the model's own config is untouched
    assert _full_attention_config(config, 8192) is config


@pytest.mark.parametrize("command", ["chat", "compare", "eval", "serve"])
def test_static_cache_flag_on_the_cli(command):
    from clonekit.cli import build_parser
    from clonekit.commands.chat import sampling_from_args

    extra = ["--prompts", "p.txt"] if command == "compare" else []
    on = build_parser().parse_args([command, "RUN", *extra, "--static-cache"])
    off = build_parser().parse_args([command, "RUN", *extra, "--no-static-cache"])
    auto = build_parser().parse_args([command, "RUN", *extra])
    assert on.static_cache is True and off.static_cache is False and auto.static_cache is None
    if command != "serve":
        assert sampling_from_args(on).static_cache is True and sampling_from_args(off).static_cache is False
        assert sampling_from_args(auto).static_cache is None  # auto: compiled in the background on a GPU


def test_serve_engine_with_static_cache_answers_like_without(loaded):
    """The server's worker thread runs the static-cache loop (--static-cache) with the same
    greedy answer as the default path."""
    import json

    from trainer.serve import Engine
    from trainer.serve_protocol import parse_chat_request

    model, tok, stop, _ = loaded
    body = json.dumps({"model": "m", "temperature": 0, "max_tokens": 12,
                       "messages": [{"role": "user", "name": "Alex", "content": "hey how are you"}]}).encode()
    answers = []
    for static in (False, True):
        engine = Engine(model, tok, "m", {"name": "Sam"}, stop, static_cache=static, batching=False)
        job = engine.prepare(parse_chat_request(body, engine.max_tokens_limit))
        assert job.settings.static_cache is static
        engine.submit(job)
        while not hasattr(item := job.out.get(timeout=60), "token_ids"):
            assert isinstance(item, str), item  # text pieces, then the Reply (or an error)
        engine.close()
        answers.append(item.token_ids)
    assert answers[0] == answers[1] and answers[0]


def test_auto_static_cache_on_cpu_stays_eager(loaded):
    """The default (static_cache=None) never compiles on a CPU: same reply as the plain path,
    no background compile started."""
    from trainer import static_decode
    from trainer.generate import SamplingSettings, generate_reply

    model, tok, _, ids = loaded
    auto = generate_reply(model, tok, ids, SamplingSettings(temperature=0, max_new_tokens=8), [])
    plain = generate_reply(model, tok, ids, SamplingSettings(temperature=0, max_new_tokens=8,
                                                             static_cache=False), [])
    assert auto.token_ids == plain.token_ids
    assert not static_decode.compilable(model) and model not in static_decode._WARMING


def test_background_warm_up_hands_over_to_the_static_loop(loaded, monkeypatch):
    """The auto path's switch-over, with the compile replaced by the eager step (no CUDA
    here): the first reply starts the background warm-up and is answered eagerly; once the
    decoder is warm, replies run on the static loop, with the same greedy tokens."""
    import weakref

    from trainer import generate, static_decode
    from trainer.generate import SamplingSettings, generate_reply

    model, tok, _, ids = loaded
    monkeypatch.setattr(static_decode, "_DECODERS", weakref.WeakKeyDictionary())
    monkeypatch.setattr(static_decode, "_WARMING", weakref.WeakKeyDictionary())
    monkeypatch.setattr(static_decode, "compilable", lambda m: True)

    def eager_but_cold(m, size):
        decoder = static_decode.StaticDecoder(m, size, compile_step=False)
        decoder.warm = False  # as a compiled one is until its warm-up ran
        return decoder
    monkeypatch.setattr(static_decode, "_new_decoder", eager_but_cold)
    monkeypatch.setattr(generate, "_static_ready", lambda m, needed: static_decode.warm_decoder(m, needed))
    calls = []
    real_decode = static_decode.static_decode
    monkeypatch.setattr(static_decode, "static_decode", lambda *a, **k: calls.append(1) or real_decode(*a, **k))

    settings = SamplingSettings(temperature=0, max_new_tokens=8)
    first = generate_reply(model, tok, ids, settings, [])
    assert calls == []  # answered on the eager path while the decoder warms up
    threads = list(static_decode._WARMING[model].values())
    assert len(threads) == 1
    threads[0].join(timeout=60)
    assert model not in static_decode._WARM_FAILED, static_decode._WARM_FAILED.get(model)
    assert static_decode.warm_decoder(model, len(ids) + 8)
    second = generate_reply(model, tok, ids, settings, [])
    assert calls == [1] and second.token_ids == first.token_ids


def test_auto_path_skips_seeded_replies_and_disabled_adapters(loaded, monkeypatch):
    """Auto never switches a seeded reply (same seed, same reply, compiled or not) nor a
    reply inside peft's disable_adapter() (compare/eval's base side)."""
    from trainer import generate
    from trainer.generate import SamplingSettings, adapters_disabled, generate_reply

    model, tok, _, ids = loaded
    asked = []
    monkeypatch.setattr(generate, "_static_ready", lambda m, needed: asked.append(needed) or False)
    generate_reply(model, tok, ids, SamplingSettings(max_new_tokens=4), [], seed=3)
    assert asked == []
    generate_reply(model, tok, ids, SamplingSettings(max_new_tokens=4), [])
    assert len(asked) == 1
    assert not adapters_disabled(model)
    with model.disable_adapter():
        assert adapters_disabled(model)
    assert not adapters_disabled(model)
