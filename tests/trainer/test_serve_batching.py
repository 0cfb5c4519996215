"""Continuous batching (trainer.batching, the default worker of `clonekit serve`): requests
that arrive together or mid-generation are all answered, greedy replies equal unbatched
greedy decoding token for token, per-request settings (length, stop strings, penalty,
sampling, seed) hold inside a batch, and streaming over HTTP stays intact."""

from __future__ import annotations

import json
import queue
import threading
import time
import urllib.request

import pytest

from tests.trainer.run_fixture import tiny_run  # noqa: F401  (fixture)

PROMPTS = ["hey how are you", "see you tomorrow at the beach", "ok", "love you, call me. did you eat yet?",
           "the train is late again", "Coffee later?"]


@pytest.fixture(scope="module")
def loaded(tiny_run):  # noqa: F811
    from trainer.inference import load_model, open_run, stop_ids

    run = open_run(tiny_run)
    model, tok = load_model(run, device="cpu")
    prompts = [list(tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                            tokenize=True, return_dict=True)["input_ids"]) for p in PROMPTS]
    return run, model, tok, stop_ids(run, tok), prompts


def _collect(q: "queue.Queue", timeout: float = 60):
    pieces = []
    while True:
        item = q.get(timeout=timeout)
        if isinstance(item, str):
            pieces.append(item)
            continue
        if isinstance(item, Exception):
            raise item
        return item, "".join(pieces)


def _run_batch(model, tok, jobs, staggered: bool = False, max_batch: int = 32, stop_ids=(), batch_static=None,
               max_batch_tokens=None):
    """jobs: (input_ids, settings, stop strings, seed). Returns [(Reply, streamed text)] and
    the worker. ``staggered``: job i > 0 is submitted when job 0 has streamed i pieces (from
    the worker thread, so it joins mid-generation deterministically)."""
    from trainer.batching import BatchJob, BatchWorker

    worker = BatchWorker(model, tok, list(stop_ids), max_batch=max_batch, batch_static=batch_static,
                         max_batch_tokens=max_batch_tokens)
    outs = [queue.Queue() for _ in jobs]
    later = [BatchJob(ids, settings, stop, seed, q.put) for (ids, settings, stop, seed), q in zip(jobs[1:], outs[1:])]
    pieces = []

    def first_emit(item) -> None:
        outs[0].put(item)
        if isinstance(item, str) and staggered:
            pieces.append(item)
            if len(pieces) <= len(later):
                worker.submit(later[len(pieces) - 1])
    try:
        ids, settings, stop, seed = jobs[0]
        worker.submit(BatchJob(ids, settings, stop, seed, first_emit))
        if not staggered:
            for job in later:
                worker.submit(job)
        return [_collect(q) for q in outs], worker
    finally:
        worker.close()


@pytest.mark.slow
@pytest.mark.parametrize("staggered", [False, True])
def test_batched_greedy_equals_unbatched(loaded, staggered):
    """Six requests of different prompt lengths, budgets and penalties, all at once or
    joining one by one mid-generation: every reply is exactly the unbatched greedy reply."""
    from trainer.generate import SamplingSettings, generate_reply

    _, model, tok, _, prompts = loaded
    settings = [SamplingSettings(temperature=0, repetition_penalty=pen, max_new_tokens=n, static_cache=False)
                for pen, n in [(1.3, 30), (1.0, 12), (1.1, 20), (1.1, 7), (1.0, 25), (1.2, 16)]]
    expected = [generate_reply(model, tok, ids, s, []) for ids, s in zip(prompts, settings)]
    results, worker = _run_batch(model, tok, [(ids, s, [], None) for ids, s in zip(prompts, settings)], staggered)
    for want, (got, streamed) in zip(expected, results):
        assert got.token_ids == want.token_ids
        assert got.text == want.text == streamed
        assert got.finish_reason == want.finish_reason == "length"
    assert worker.max_seen_batch > 1  # they really were generated together
    assert worker.steps < sum(len(r.token_ids) for r, _ in results)  # fewer steps than tokens


@pytest.mark.slow
@pytest.mark.parametrize("staggered", [False, True])
def test_slot_decoder_greedy_equals_unbatched(loaded, staggered):
    """The compiled slot decoder's step (trainer.slot_decode; run uncompiled here) gives
    every row exactly its unbatched greedy reply, whatever the rows' lengths, with rows
    joining mid-generation into free slots, the batch outgrowing 4 slots (back to the
    eager batch, then into 8), and seeded rows sending the batch back to the eager path."""
    import dataclasses

    from trainer.generate import SamplingSettings, generate_reply

    _, model, tok, _, prompts = loaded
    settings = [SamplingSettings(temperature=0, repetition_penalty=pen, max_new_tokens=n)
                for pen, n in [(1.3, 30), (1.0, 12), (1.1, 20), (1.1, 7), (1.0, 25), (1.2, 16)]]
    expected = [generate_reply(model, tok, ids, dataclasses.replace(s, static_cache=False), [])
                for ids, s in zip(prompts, settings)]
    jobs = [(ids, s, [], None) for ids, s in zip(prompts, settings)]
    results, worker = _run_batch(model, tok, jobs, staggered, batch_static=True)
    for want, (got, streamed) in zip(expected, results):
        assert got.token_ids == want.token_ids
        assert got.text == want.text == streamed
    assert worker.slot_steps > 0 and worker.max_seen_batch > 1
    assert worker.slot_steps < worker.steps or not staggered  # staggered: some steps ran eagerly first
    # a seeded row joins: the batch leaves the slots, and every reply is still exact
    hot = SamplingSettings(temperature=1.3, top_p=0.9, max_new_tokens=10)
    (seeded_alone, _), = _run_batch(model, tok, [(prompts[1], hot, [], 99)], batch_static=True)[0]
    results, worker = _run_batch(model, tok, jobs[:3] + [(prompts[1], hot, [], 99)], staggered, batch_static=True)
    for want, (got, _) in zip(expected[:3], results):
        assert got.token_ids == want.token_ids
    assert results[3][0].token_ids == seeded_alone.token_ids


@pytest.mark.slow
def test_per_request_settings_hold_in_a_batch(loaded):
    """Stop ids, stop strings, max tokens and seeded sampling are per request: the same
    request gives the same reply alone and inside a batch of differently-configured ones."""
    from trainer.generate import SamplingSettings

    _, model, tok, _, prompts = loaded
    greedy = SamplingSettings(temperature=0, max_new_tokens=24, static_cache=False)
    (alone, _), = _run_batch(model, tok, [(prompts[0], greedy, [], None)])[0]
    stop_text = alone.text[3:6]
    assert stop_text and alone.text.find(stop_text) == 3
    hot = SamplingSettings(temperature=1.3, top_p=0.9, max_new_tokens=20, static_cache=False)
    (seeded_alone, _), = _run_batch(model, tok, [(prompts[1], hot, [], 1234)])[0]
    jobs = [
        (prompts[0], greedy, [stop_text], None),  # cut at the stop string
        (prompts[1], hot, [], 1234),  # seeded: same draw as alone
        (prompts[2], SamplingSettings(temperature=0, max_new_tokens=3, static_cache=False), [], None),
        (prompts[3], hot, [], None),  # unseeded sampling beside them
        (prompts[0], greedy, [], None),  # the same prompt, no stop string
    ]
    results, _ = _run_batch(model, tok, jobs)
    (cut, cut_streamed), (seeded, _), (short, _), (free, _), (full, _) = results
    assert cut.text == alone.text[:3] == cut_streamed and cut.finish_reason == "stop"
    assert seeded.token_ids == seeded_alone.token_ids and len(seeded.token_ids) == 20
    assert len(short.token_ids) == 3 and short.finish_reason == "length"
    assert free.finish_reason == "length" and len(free.token_ids) == 20
    assert full.token_ids == alone.token_ids
    # an end-of-turn id ends only the request that produced it
    eot = alone.token_ids[5]
    results, _ = _run_batch(model, tok, [(prompts[0], greedy, [], None), (prompts[2], greedy, [], None)],
                            stop_ids=[eot])
    assert results[0][0].token_ids == alone.token_ids[:alone.token_ids.index(eot)]
    assert results[0][0].finish_reason == "stop"


@pytest.mark.slow
def test_cancelled_request_leaves_the_batch(loaded):
    from trainer.batching import BatchJob, BatchWorker
    from trainer.generate import SamplingSettings

    _, model, tok, _, prompts = loaded
    worker = BatchWorker(model, tok, [])
    try:
        long = SamplingSettings(temperature=0, max_new_tokens=40, static_cache=False)
        doomed: queue.Queue = queue.Queue()
        job = BatchJob(prompts[0], long, [], None, doomed.put)
        worker.submit(job)
        kept: queue.Queue = queue.Queue()
        worker.submit(BatchJob(prompts[1], long, [], None, kept.put))
        assert isinstance(doomed.get(timeout=30), str)  # generating
        job.cancel.cancel()
        reply, _ = _collect(doomed)
        assert reply.finish_reason == "cancelled" and len(reply.token_ids) < 40
        other, _ = _collect(kept)
        assert len(other.token_ids) == 40
    finally:
        worker.close()


# -- over HTTP ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(loaded):
    from trainer.prompting import contact_roles
    from trainer.serve import Engine, attach, bind

    run, model, tok, stops, _ = loaded
    engine = Engine(model, tok, run.run_id, run.persona, stops, contact_roles(run.info["dataset"]))
    srv = attach(bind("127.0.0.1", 0), engine, api_key=None)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    host, port = srv.server_address[:2]
    yield f"http://{host}:{port}", run.run_id, engine, srv
    srv.shutdown()
    srv.server_close()
    engine.close()


def _sse(url: str, body: dict) -> list[dict | str]:
    req = urllib.request.Request(url + "/v1/chat/completions", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        events = [e[6:] for e in resp.read().decode().split("\n\n") if e]
    return [e if e == "[DONE]" else json.loads(e) for e in events]


@pytest.mark.slow
def test_concurrent_streams_are_batched_and_intact(server):
    """Eight streaming clients at once: each stream is whole (role first, text, finish,
    [DONE]) and equals the same request answered alone, non-streamed, at temperature 0."""
    url, model_id, engine, _ = server
    bodies = [{"model": model_id, "temperature": 0, "max_tokens": 6 + 3 * (i % 4),
               "messages": [{"role": "user", "name": "Alex", "content": PROMPTS[i % len(PROMPTS)]}]}
              for i in range(8)]
    singles = []
    for body in bodies:
        req = urllib.request.Request(url + "/v1/chat/completions", data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=60) as resp:
            singles.append(json.loads(resp.read()))
    before = engine.batcher.max_seen_batch
    streams: dict[int, list] = {}
    threads = [threading.Thread(target=lambda i=i: streams.__setitem__(i, _sse(url, {**bodies[i], "stream": True})))
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(streams) == list(range(8))
    for i, events in streams.items():
        assert events[-1] == "[DONE]" and events[0]["choices"][0]["delta"]["role"] == "assistant"
        text = "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1])
        assert text == singles[i]["choices"][0]["message"]["content"]
        assert events[-2]["choices"][0]["finish_reason"] == singles[i]["choices"][0]["finish_reason"]
    assert engine.batcher.max_seen_batch > 1 or before > 1


@pytest.mark.slow
def test_stream_include_usage(server):
    url, model_id, _, _ = server
    body = {"model": model_id, "max_tokens": 5, "temperature": 0, "stream": True,
            "messages": [{"role": "user", "content": "hi"}]}
    plain = _sse(url, body)
    assert all("usage" not in e for e in plain[:-1])
    events = _sse(url, {**body, "stream_options": {"include_usage": True}})
    assert events[-1] == "[DONE]"
    last = events[-2]
    assert last["choices"] == [] and last["usage"]["completion_tokens"] == 5
    assert last["usage"]["total_tokens"] == last["usage"]["prompt_tokens"] + 5
    assert all(e["usage"] is None for e in events[:-2])  # as OpenAI: null on every other chunk
    import openai

    client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
    chunks = list(client.chat.completions.create(model=model_id, messages=body["messages"], max_tokens=5,
                                                 stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].usage.completion_tokens == 5


def test_loading_answers_503_with_retry_after():
    """Until the model is attached every API call is 503 + Retry-After (no hanging)."""
    import urllib.error

    from trainer.serve import attach, bind

    srv = attach(bind("127.0.0.1", 0), None, api_key=None)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    url = "http://%s:%d" % srv.server_address[:2]
    try:
        for method, path, data in (("POST", "/v1/chat/completions", b"{}"), ("GET", "/v1/models", None),
                                   ("GET", "/health", None)):
            req = urllib.request.Request(url + path, data=data, method=method)
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(req, timeout=10)
            assert info.value.code == 503 and info.value.headers["Retry-After"].isdigit()
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.slow
def test_client_hanging_up_is_one_log_line(server, capfd):
    """A streaming client that disconnects mid-reply: no traceback, one log line."""
    import socket

    url, model_id, _, srv = server
    logged: list = []
    host, port = srv.server_address[:2]
    body = json.dumps({"model": model_id, "stream": True, "max_tokens": 200, "temperature": 0,
                       "messages": [{"role": "user", "content": "hey"}]}).encode()
    old, srv.on_event = srv.on_event, logged.append
    try:
        with socket.create_connection((host, port)) as s:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            s.recv(200)  # the headers and the first chunk are on their way
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
        deadline = time.time() + 30
        while not logged and time.time() < deadline:
            time.sleep(0.05)
    finally:
        srv.on_event = old
    assert len(logged) == 1 and "disconnected" in logged[0].message, logged
    err = capfd.readouterr().err
    assert "Traceback" not in err and "BrokenPipeError" not in err


@pytest.mark.slow
def test_lone_reply_on_the_static_loop_hands_over_to_the_batch(loaded):
    """A lone request runs on the static-cache loop (here its eager CPU form, as on a GPU
    once the background compile is done); a request arriving mid-reply makes it move, cache
    and chosen token, into the batch. Both replies equal unbatched greedy decoding."""
    from trainer import static_decode
    from trainer.batching import BatchJob, BatchWorker
    from trainer.generate import SamplingSettings, generate_reply

    _, model, tok, _, prompts = loaded
    first_s = SamplingSettings(temperature=0, max_new_tokens=40, repetition_penalty=1.2, static_cache=None)
    second_s = SamplingSettings(temperature=0, max_new_tokens=25, repetition_penalty=1.0, static_cache=None)
    want_first = generate_reply(model, tok, prompts[3], dataclasses_replace(first_s), [])
    want_second = generate_reply(model, tok, prompts[1], dataclasses_replace(second_s), [])
    static_decode.decoder_for(model, len(prompts[3]) + 40)  # eager on CPU, so "warm" at once
    worker = BatchWorker(model, tok, [], solo_static=True)
    try:
        second_q: queue.Queue = queue.Queue()
        first_q: queue.Queue = queue.Queue()
        pieces = []

        def first_emit(item) -> None:
            first_q.put(item)
            if isinstance(item, str):
                pieces.append(item)
                if len(pieces) == 3:  # mid-reply, from the worker thread: deterministic
                    worker.submit(BatchJob(prompts[1], second_s, [], None, second_q.put))
        worker.submit(BatchJob(prompts[3], first_s, [], None, first_emit))
        first, first_text = _collect(first_q)
        second, _ = _collect(second_q)
        assert worker.solo_replies == 1 and worker.handoffs == 1 and worker.max_seen_batch == 2
        assert first.token_ids == want_first.token_ids and first_text == want_first.text
        assert second.token_ids == want_second.token_ids
        alone_q: queue.Queue = queue.Queue()
        worker.submit(BatchJob(prompts[3], first_s, [], None, alone_q.put))
        alone, _ = _collect(alone_q)
        assert alone.token_ids == want_first.token_ids and worker.solo_replies == 2 and worker.handoffs == 1
    finally:
        worker.close()


def dataclasses_replace(settings):
    import dataclasses

    return dataclasses.replace(settings, static_cache=False)



@pytest.mark.slow
def test_serve_run_answers_503_while_loading_then_serves_and_stops(tiny_run, monkeypatch):  # noqa: F811
    """serve_run binds first and answers 503 + Retry-After while the model loads (load is
    slowed here so a request lands in it), then serves; cancel stops it cleanly."""
    import socket
    import urllib.error

    from builder.events import CancelToken
    from trainer import inference
    from trainer.serve import serve_run

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    loading, release = threading.Event(), threading.Event()
    real_load = inference.load_model

    def slow_load(*args, **kwargs):
        loading.set()
        release.wait(30)
        return real_load(*args, **kwargs)
    monkeypatch.setattr(inference, "load_model", slow_load)
    cancel, ready = CancelToken(), threading.Event()
    thread = threading.Thread(target=serve_run, args=(str(tiny_run),), daemon=True, kwargs=dict(
        port=port, device="cpu", cancel=cancel, on_ready=lambda url: ready.set()))
    thread.start()
    try:
        assert loading.wait(30)
        url = f"http://127.0.0.1:{port}"
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(urllib.request.Request(url + "/v1/chat/completions", data=b"{}"), timeout=10)
        assert info.value.code == 503 and info.value.headers["Retry-After"]
        release.set()
        assert ready.wait(60)
        with urllib.request.urlopen(url + "/health", timeout=10) as resp:
            assert resp.status == 200
    finally:
        release.set()
        cancel.cancel()
        thread.join(30)
    assert not thread.is_alive()


def test_choose_tokens_keeps_what_transformers_keeps():
    """Per-row top-p through the top-256 shortcut (peaked rows) and the full sort (flat
    rows) draws only tokens transformers' penalty/temperature/top-p processors keep, with
    their frequencies; a seeded row draws the same whatever shares its batch."""
    import torch
    from transformers import RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper, TopPLogitsWarper

    from trainer.batching import choose_tokens

    torch.manual_seed(0)
    vocab = 1000
    peaked = torch.randn(vocab) * 4  # nucleus of a few dozen tokens: the shortcut
    flat = torch.randn(vocab) * 0.1  # nucleus of most of the vocabulary: the full sort
    logits = torch.stack([peaked, flat])
    context = torch.tensor([[1, 4, 4, 9, 30]])
    seen = torch.zeros(2, vocab, dtype=torch.bool)
    seen[:, context[0]] = True
    t, p, pen = torch.full((2, 1), 0.8), torch.full((2, 1), 0.9), torch.full((2, 1), 1.3)
    allowed, probs = [], []
    for row in range(2):
        ref = RepetitionPenaltyLogitsProcessor(1.3)(context, logits[row:row + 1].clone())
        ref = TopPLogitsWarper(0.9)(context, TemperatureLogitsWarper(0.8)(context, ref))
        allowed.append(set(torch.nonzero(ref[0] > float("-inf")).flatten().tolist()))
        probs.append(ref.softmax(-1)[0])
    assert 1 < len(allowed[0]) < 256 < len(allowed[1])

    def noise(width, rows):
        return torch.empty((2, width)).exponential_(1)
    draws = [choose_tokens(logits, seen, t, p, pen, torch.tensor([True, True]), noise).tolist() for _ in range(600)]
    for row in range(2):
        got = [d[row] for d in draws]
        assert set(got) <= allowed[row] and len(set(got)) > 1
    top = int(probs[0].argmax())
    assert abs([d[0] for d in draws].count(top) / len(draws) - float(probs[0][top])) < 0.08
    greedy = choose_tokens(logits, seen, t, p, pen, torch.tensor([False, True]), noise)
    assert greedy[0].item() == int(RepetitionPenaltyLogitsProcessor(1.3)(context, logits[:1].clone()).argmax())

    def seeded(batch_logits):
        gen = torch.Generator().manual_seed(7)

        def row0_noise(width, rows):
            out = torch.empty((batch_logits.shape[0], width)).exponential_(1)
            if rows[0]:
                out[0] = torch.empty(width).exponential_(1, generator=gen)
            return out
        n = batch_logits.shape[0]
        return [choose_tokens(batch_logits, seen[:n], t[:n], p[:n], pen[:n], torch.ones(n, dtype=torch.bool),
                              row0_noise)[0].item() for _ in range(20)]
    assert seeded(logits[:1]) == seeded(logits)


def test_slot_choose_rows_keeps_what_transformers_keeps():
    """The slot decoder's in-graph sampler: a row whose nucleus fits in the top 256 draws
    only tokens transformers' processors keep, with their frequencies; a wider nucleus is
    cut at rank 256 (never beyond it); a greedy row gets the penalised argmax."""
    import torch
    from transformers import RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper, TopPLogitsWarper

    from trainer.slot_decode import choose_rows

    torch.manual_seed(0)
    vocab = 1000
    logits = torch.stack([torch.randn(vocab) * 4, torch.randn(vocab) * 0.1, torch.randn(vocab) * 4])
    context = torch.tensor([[1, 4, 4, 9, 30]])
    seen = torch.zeros(3, vocab, dtype=torch.bool)
    seen[:, context[0]] = True
    params = torch.tensor([[0.8, 0.9, 1.3]] * 3)
    ref = RepetitionPenaltyLogitsProcessor(1.3)(context, logits.clone())
    kept = TopPLogitsWarper(0.9)(context, TemperatureLogitsWarper(0.8)(context, ref.clone()))
    allowed = [set(torch.nonzero(row > float("-inf")).flatten().tolist()) for row in kept]
    top256 = set(ref[1].topk(256).indices.tolist())
    assert 1 < len(allowed[0]) < 256 < len(allowed[1])
    sample = torch.tensor([True, True, False])
    draws = [choose_rows(logits, seen, params, sample).tolist() for _ in range(600)]
    peaked = [d[0] for d in draws]
    assert set(peaked) <= allowed[0] and len(set(peaked)) > 1
    best = int(kept[0].argmax())
    assert abs(peaked.count(best) / len(draws) - float(kept[0].softmax(-1)[best])) < 0.08
    assert set(d[1] for d in draws) <= allowed[1] & top256
    assert {d[2] for d in draws} == {int(ref[2].argmax())}


@pytest.mark.slow
def test_slot_decoders_together_stay_inside_the_token_budget(loaded, monkeypatch):
    """Every slot decoder keeps its cache, so a new size is only used when all of them
    together fit --max-batch-tokens: with 4 slots x 512 held, 8 x 512 more would pass the
    budget, and the bigger batch stays on the eager path, replies unchanged."""
    import weakref

    from trainer import static_decode
    from trainer.generate import SamplingSettings

    _, model, tok, _, prompts = loaded
    monkeypatch.setattr(static_decode, "_DECODERS", weakref.WeakKeyDictionary())
    settings = SamplingSettings(temperature=0, max_new_tokens=6)
    jobs = [(ids, settings, [], None) for ids in prompts]
    budget = 4 * 512 + 8 * 512 - 1  # each size fits alone, not both
    first, worker = _run_batch(model, tok, jobs[:3], batch_static=True, max_batch_tokens=budget)
    assert worker.slot_steps > 0  # 3 rows: the 4-slot decoder
    second, worker = _run_batch(model, tok, jobs, batch_static=True, max_batch_tokens=budget)
    assert worker.max_seen_batch == 6 and worker.slot_steps == 0
    assert [r.token_ids for r, _ in second[:3]] == [r.token_ids for r, _ in first]


@pytest.mark.slow
def test_a_slot_compile_that_fails_leaves_the_batch_eager(loaded, monkeypatch):
    """A batch size whose compile fails is recorded (trainer.slot_decode.FAILED) and not
    tried again; the batch answers on the eager path, and the lone-request loop's own
    compile is not written off with it."""
    import weakref

    from trainer import slot_decode, static_decode
    from trainer.generate import SamplingSettings

    _, model, tok, _, prompts = loaded
    for name in ("_DECODERS", "_WARMING", "_WARM_FAILED"):
        monkeypatch.setattr(static_decode, name, weakref.WeakKeyDictionary())
    monkeypatch.setattr(slot_decode, "FAILED", weakref.WeakKeyDictionary())
    monkeypatch.setattr(static_decode, "compilable", lambda m: True)

    def fails(self, stream):
        raise RuntimeError("inductor could not generate a kernel\nsecond line")
    monkeypatch.setattr(slot_decode.SlotDecoder, "exercise", fails)
    settings = SamplingSettings(temperature=0, max_new_tokens=12)
    jobs = [(ids, settings, [], None) for ids in prompts[:3]]
    alone = [_run_batch(model, tok, [job], batch_static=False)[0][0][0].token_ids for job in jobs]
    results, worker = _run_batch(model, tok, jobs, batch_static=None)
    assert worker.batch_static and worker.slot_steps == 0
    assert [r.token_ids for r, _ in results] == alone
    for thread in static_decode._WARMING[model].values():
        thread.join(timeout=60)
    assert slot_decode.FAILED[model] == "inductor could not generate a kernel"
    assert model not in static_decode._WARM_FAILED
    assert slot_decode.ready_slots(model, 4, 100) is None and len(static_decode._WARMING[model]) == 1  # not retried
