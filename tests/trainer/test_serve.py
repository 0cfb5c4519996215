"""clonekit serve: real HTTP on 127.0.0.1 with the stock openai client (stream and not),
bad requests answered 4xx with a message, concurrent requests all served, bearer key."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request

import pytest

from builder.errors import ClonekitError
from tests.trainer.run_fixture import tiny_run  # noqa: F401  (fixture)

KEY = "test-key-123"


@pytest.fixture(scope="module")
def server(tiny_run):  # noqa: F811
    from trainer.inference import load_model, open_run, stop_ids
    from trainer.prompting import contact_roles
    from trainer.serve import Engine, attach, bind

    run = open_run(tiny_run)
    model, tok = load_model(run, device="cpu")
    engine = Engine(model, tok, run.run_id, run.persona, stop_ids(run, tok), contact_roles(run.info["dataset"]))
    srv = attach(bind("127.0.0.1", 0), engine, api_key=KEY)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    host, port = srv.server_address[:2]
    yield f"http://{host}:{port}", run.run_id, engine
    srv.shutdown()
    srv.server_close()
    engine.close()


def _client(url: str, key: str = KEY):
    import openai

    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=60)


def _post(url: str, body: bytes | str, key: str | None = KEY) -> tuple[int, dict]:
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url + "/v1/chat/completions", data=data, method="POST",
                                 headers={"Content-Type": "application/json"})
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_models_and_non_stream(server):
    url, model_id, _ = server
    client = _client(url)
    assert [m.id for m in client.models.list().data] == [model_id]
    resp = client.chat.completions.create(
        model=model_id, messages=[{"role": "user", "content": "hey", "name": "Alex"}],
        max_tokens=8, temperature=0)
    choice = resp.choices[0]
    assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
    assert choice.finish_reason in ("stop", "length")
    assert resp.usage.completion_tokens <= 8 and resp.usage.prompt_tokens > 5


def test_stream_matches_non_stream(server):
    url, model_id, _ = server
    client = _client(url)
    msgs = [{"role": "system", "content": "You are Sam."}, {"role": "user", "content": "hi"}]
    full = client.chat.completions.create(model=model_id, messages=msgs, max_tokens=10, temperature=0)
    stream = client.chat.completions.create(model=model_id, messages=msgs, max_tokens=10, temperature=0, stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == full.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == full.choices[0].finish_reason


def test_raw_sse_ends_with_done(server):
    url, model_id, _ = server
    body = json.dumps({"model": model_id, "messages": [{"role": "user", "content": "yo"}],
                       "max_tokens": 4, "stream": True}).encode()
    req = urllib.request.Request(url + "/v1/chat/completions", data=body, method="POST",
                                 headers={"Authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.headers["Content-Type"] == "text/event-stream"
        events = [e for e in resp.read().decode().split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    assert json.loads(events[-2][6:])["choices"][0]["finish_reason"] in ("stop", "length")


@pytest.mark.parametrize("body, status, needle", [
    ("{not json", 400, "not valid JSON"),
    ("[1, 2]", 400, "JSON object"),
    ('{"model": "M", "messages": []}', 400, "non-empty list"),
    ('{"model": "M", "messages": [{"role": "tool", "content": "x"}]}', 400, "role 'tool'"),
    ('{"model": "M", "messages": [{"role": "user", "content": 5}]}', 400, "content must be"),
    ('{"model": "M", "messages": [{"role": "user", "content": "x"}], "max_tokens": 100000000}', 400, "max_tokens"),
    ('{"model": "M", "messages": [{"role": "user", "content": "x"}], "max_tokens": "10"}', 400, "integer"),
    ('{"model": "M", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}', 400, "number"),
    ('{"model": "M", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}', 400, "stream"),
    ('{"model": "M", "messages": [{"role": "user", "content": "x"}], "n": 3}', 400, "'n'"),
    ('{"model": "other", "messages": [{"role": "user", "content": "x"}]}', 404, "does not exist"),
])
def test_bad_requests_get_4xx_with_message(server, body, status, needle):
    url, model_id, _ = server
    code, payload = _post(url, body.replace('"M"', json.dumps(model_id)))
    assert code == status
    assert needle in payload["error"]["message"]


def test_context_overflow_and_auth(server):
    url, model_id, engine = server
    long = " ".join(["message number about the beach"] * 400)
    code, payload = _post(url, json.dumps({"model": model_id, "messages": [{"role": "user", "content": long}],
                                           "max_tokens": 8}))
    assert code == 400 and payload["error"]["code"] == "context_length_exceeded"
    code, payload = _post(url, json.dumps({"model": model_id, "messages": [{"role": "user", "content": "x"}]}),
                          key="wrong")
    assert code == 401 and "API key" in payload["error"]["message"]
    import openai

    with pytest.raises(openai.AuthenticationError):
        _client(url, key="wrong").models.list()


def test_concurrent_requests_all_succeed(server):
    url, model_id, _ = server
    client = _client(url)
    results: list[str | Exception] = []

    def ask(i: int) -> None:
        try:
            kwargs = dict(model=model_id, messages=[{"role": "user", "content": f"hi {i}"}], max_tokens=6)
            if i % 2:
                results.append("".join(c.choices[0].delta.content or ""
                                       for c in client.chat.completions.create(stream=True, **kwargs)))
            else:
                results.append(client.chat.completions.create(**kwargs).choices[0].message.content)
        except Exception as err:  # collected and asserted on below
            results.append(err)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == 6 and all(isinstance(r, str) for r in results), results


def test_port_in_use_is_one_clear_error():
    from trainer.serve import bind

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ClonekitError, match=f"--port {port}: .* already in use"):
            bind("127.0.0.1", port)
