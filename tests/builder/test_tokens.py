from __future__ import annotations

import base64

import pytest
import tiktoken
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from builder import tokens
from builder.errors import ClonekitError

CORPUS = ["hello world", "the quick brown fox jumps over the lazy dog", "hello there friend"] * 20


@pytest.fixture
def tokenizer_json(tmp_path):
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=120, special_tokens=["[UNK]"]))
    path = tmp_path / "tok" / "tokenizer.json"
    path.parent.mkdir()
    tok.save(str(path))
    return path


def test_local_tokenizer_json_and_folder_count_batched(tokenizer_json):
    c = tokens.load_counter(str(tokenizer_json))
    tok = Tokenizer.from_file(str(tokenizer_json))
    texts = ["hello world", "the lazy dog", ""]
    assert c.count(texts) == [len(tok.encode(t, add_special_tokens=False).ids) for t in texts]
    assert c.count([]) == []
    assert tokens.load_counter(str(tokenizer_json.parent)).count(texts) == c.count(texts)


def test_tiktoken_encoding_from_local_ranks(tmp_path):
    ranks = {bytes([i]): i for i in range(256)}
    ranks[b"he"] = 256
    ranks[b"ll"] = 257
    ranks[b"hell"] = 258
    enc = tiktoken.Encoding("tiny", pat_str=r"\S+|\s+", mergeable_ranks=ranks, special_tokens={})
    c = tokens.TiktokenCounter(enc, "tiktoken:tiny")
    assert c.count(["hello", "ab"]) == [2, 2]
    f = tmp_path / "tiny.tiktoken"
    f.write_text("".join(f"{base64.b64encode(k).decode()} {v}\n" for k, v in ranks.items()))
    fc = tokens.load_counter(f"tiktoken-file:{f}")
    assert fc.count(["hello"]) == [2]


def test_tiktoken_offline_error_says_how_to_fix(monkeypatch):
    def offline(name):
        raise ConnectionError("no network")

    monkeypatch.setattr(tiktoken, "get_encoding", offline)
    with pytest.raises(ClonekitError, match=r"tiktoken:o200k_base.*not cached.*local tokenizer.json"):
        tokens.load_counter("tiktoken:o200k_base")


def test_bad_specs_are_clear(tmp_path):
    with pytest.raises(ClonekitError, match="no such file or folder"):
        tokens.load_counter(str(tmp_path / "missing.json"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ClonekitError, match="no tokenizer.json"):
        tokens.load_counter(str(tmp_path / "empty"))
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ClonekitError, match="not a valid tokenizer.json"):
        tokens.load_counter(str(bad))


def test_hub_id_offline_is_a_clear_error(monkeypatch):
    def offline(repo_id, *a, **k):
        raise RuntimeError("could not connect")

    monkeypatch.setattr(Tokenizer, "from_pretrained", offline)
    with pytest.raises(ClonekitError, match=r"org/model.*hub.*offline\?"):
        tokens.load_counter("org/model")
