"""Admission control of the batch worker (trainer.batching): the padded key/value cache
stays inside a token budget (requests wait, first come first served, and are still
answered exactly like unbatched greedy decoding), a request that can never fit gets a 400,
and an out-of-memory step evicts and recovers instead of failing everyone."""

from __future__ import annotations

import json
import queue
import threading
import urllib.error
import urllib.request

import pytest

from tests.trainer.run_fixture import tiny_run  # noqa: F401  (fixture)
from tests.trainer.test_serve_batching import PROMPTS, _collect, loaded  # noqa: F401  (fixture)


def test_kv_bytes_per_token_from_configs():
    import torch
    from transformers import GPT2Config, LlamaConfig

    from trainer.batching import _footprint, kv_bytes_per_token

    gqa = LlamaConfig(num_hidden_layers=28, hidden_size=3584, num_attention_heads=28, num_key_value_heads=4)
    assert kv_bytes_per_token(gqa, torch.bfloat16) == 28 * 2 * 4 * 128 * 2  # Qwen2-7B shape: 57,344 bytes
    explicit = LlamaConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                           head_dim=32)
    assert kv_bytes_per_token(explicit, torch.float32) == 2 * 2 * 2 * 32 * 4
    gpt2 = GPT2Config(n_layer=3, n_embd=96, n_head=6)  # no num_key_value_heads, no head_dim
    assert kv_bytes_per_token(gpt2, torch.float16) == 3 * 2 * 6 * 16 * 2
    assert kv_bytes_per_token(gqa, torch.uint8) == kv_bytes_per_token(gqa, torch.bfloat16)  # 4-bit: 16-bit compute
    assert _footprint([10, 30, 20]) == 90 and _footprint([]) == 0  # left-padded: rows x longest


def _greedy(n: int):
    from trainer.generate import SamplingSettings

    return SamplingSettings(temperature=0, max_new_tokens=n, static_cache=False)


def _submit_all(worker, jobs):
    from trainer.batching import BatchJob

    outs = [queue.Queue() for _ in jobs]
    for (ids, settings), q in zip(jobs, outs):
        worker.submit(BatchJob(ids, settings, [], None, q.put))
    return outs


@pytest.mark.slow
def test_tiny_budget_answers_everyone_within_it(loaded):  # noqa: F811
    """Six requests at once under a budget that holds about two of them: all are answered
    exactly as unbatched greedy decoding, the cache never held more than the budget, and
    they were still batched (more than one row at a time, fewer than six)."""
    from trainer.batching import BatchWorker
    from trainer.generate import generate_reply

    _, model, tok, _, prompts = loaded
    lengths = [18, 10, 14, 8, 16, 12]
    jobs = [(ids, _greedy(n)) for ids, n in zip(prompts, lengths)]
    needs = [len(ids) + n for ids, n in zip(prompts, lengths)]
    budget = 2 * max(needs) + 5
    expected = [generate_reply(model, tok, ids, s, []) for ids, s in jobs]
    worker = BatchWorker(model, tok, [], max_batch_tokens=budget)
    try:
        results = [_collect(q) for q in _submit_all(worker, jobs)]
    finally:
        worker.close()
    for want, (got, streamed) in zip(expected, results):
        assert got.token_ids == want.token_ids and got.text == want.text == streamed
    assert 0 < worker.peak_cache_tokens <= budget
    assert 1 < worker.max_seen_batch < len(jobs)


@pytest.mark.slow
def test_request_too_large_alone_is_refused(loaded):  # noqa: F811
    """Straight to the worker: the RequestError 400 naming the budget, while a request that
    fits beside it is answered. Over HTTP: a 400 before anything is generated."""
    from trainer.batching import BatchWorker
    from trainer.prompting import contact_roles
    from trainer.serve import Engine, attach, bind
    from trainer.serve_protocol import RequestError

    run, model, tok, stops, prompts = loaded
    budget = len(prompts[0]) + 20
    worker = BatchWorker(model, tok, [], max_batch_tokens=budget)
    try:
        big, small = _submit_all(worker, [(prompts[0], _greedy(21)), (prompts[2], _greedy(4))])
        with pytest.raises(RequestError) as refused:
            _collect(big)
        reply, _ = _collect(small)
    finally:
        worker.close()
    assert refused.value.status == 400 and f"budget of {budget}" in refused.value.message
    assert "--max-batch-tokens" in refused.value.message and len(reply.token_ids) == 4

    engine = Engine(model, tok, run.run_id, run.persona, stops, contact_roles(run.info["dataset"]),
                    max_batch_tokens=60)
    srv = attach(bind("127.0.0.1", 0), engine, api_key=None)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        host, port = srv.server_address[:2]
        body = {"model": run.run_id, "max_tokens": 200, "messages": [{"role": "user", "content": "hey"}]}
        req = urllib.request.Request(f"http://{host}:{port}/v1/chat/completions", data=json.dumps(body).encode(),
                                     method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=30)
        assert err.value.code == 400
        error = json.loads(err.value.read())["error"]
        assert error["code"] == "max_batch_tokens_exceeded" and "budget of 60" in error["message"]
        assert engine.batcher.steps == 0  # nothing was generated
    finally:
        srv.shutdown()
        srv.server_close()
        engine.close()


@pytest.mark.slow
def test_out_of_memory_step_evicts_and_recovers(loaded, monkeypatch):  # noqa: F811
    """The model's forward raises CUDA's out-of-memory error once, mid-generation, with
    four requests in the batch that have already streamed text: none fails, the newest are
    sent back to the queue, the budget drops, and every reply (streamed pieces included)
    still equals unbatched greedy decoding."""
    import torch

    from trainer.batching import BatchWorker
    from trainer.generate import generate_reply

    _, model, tok, _, prompts = loaded
    jobs = [(ids, _greedy(n)) for ids, n in zip(prompts[:4], [16, 12, 14, 10])]
    expected = [generate_reply(model, tok, ids, s, []) for ids, s in jobs]
    worker = BatchWorker(model, tok, [])
    budget_before = worker.token_budget
    forward = model.forward
    calls = []

    def flaky_forward(*args, **kwargs):
        calls.append(tuple(kwargs["input_ids"].shape))
        if calls.count((4, 1)) == 3 and calls[-1] == (4, 1) and not raised:  # every row has streamed by now
            raised.append(True)
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return forward(*args, **kwargs)
    raised: list[bool] = []
    monkeypatch.setattr(model, "forward", flaky_forward)
    try:
        results = [_collect(q) for q in _submit_all(worker, jobs)]
    finally:
        worker.close()
    assert raised  # the failing step held the four rows
    for want, (got, streamed) in zip(expected, results):
        assert got.token_ids == want.token_ids and got.text == want.text == streamed
    assert worker.ooms == 1 and worker.evictions >= 1
    assert worker.token_budget < budget_before
    assert worker.max_seen_batch == 4  # before the failure


@pytest.mark.slow
def test_out_of_memory_alone_fails_only_that_request(loaded, monkeypatch):  # noqa: F811
    import torch

    from trainer.batching import BatchWorker
    from trainer.serve_protocol import RequestError

    _, model, tok, _, prompts = loaded
    worker = BatchWorker(model, tok, [])
    forward = model.forward
    calls = []

    def flaky_forward(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return forward(*args, **kwargs)
    monkeypatch.setattr(model, "forward", flaky_forward)
    try:
        doomed, = _submit_all(worker, [(prompts[0], _greedy(8))])
        with pytest.raises(RequestError) as failed:
            _collect(doomed)
        later, = _submit_all(worker, [(prompts[1], _greedy(5))])  # the worker lives on
        reply, _ = _collect(later)
    finally:
        worker.close()
    assert failed.value.status == 503 and "out of memory" in failed.value.message
    assert len(reply.token_ids) == 5


@pytest.mark.slow
def test_queue_is_first_come_first_served(loaded):  # noqa: F811
    """A request that doesn't fit beside the batch holds the head of the queue: a smaller
    one behind it that would fit is not let past (no starvation of long prompts)."""
    from trainer.batching import BatchJob, BatchWorker, _Row

    _, model, tok, _, prompts = loaded
    worker = BatchWorker(model, tok, [], max_batch_tokens=100)
    try:
        def row(n_prompt: int, n_new: int) -> _Row:
            job = BatchJob(prompts[0][:1] * n_prompt, _greedy(n_new), [], None, lambda item: None)
            return worker._new_row(job)
        running, big, small = row(10, 10), row(40, 20), row(5, 5)
        assert (running.need, big.need, small.need) == (20, 60, 10)
        worker.rows = [running]  # the worker thread is idle: nothing was submitted
        worker.waiting.extend([big, small])
        assert worker._take() == []  # 2 x 60 > 100, and small waits behind big
        worker.rows = []
        assert worker._take() == [big]  # alone it fits; big + small = 2 x 60 does not
        assert list(worker.waiting) == [small]
    finally:
        worker.rows = []
        worker.waiting.clear()
        worker.close()
