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


def _byte_level_bpe(tmp_path, add_prefix_space=False):
    from tokenizers import decoders

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    tok.decoder = decoders.ByteLevel()
    corpus = ["don't you'll we're it's I've I'm he'd", "hello world 12345 1,000.5", "emoji 😀🎉 and 中文日本語",
              "café naïve — “quotes”", "line\nbreak\ttab"] * 30
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, special_tokens=["<|im_end|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    path = tmp_path / f"bl{int(add_prefix_space)}.json"
    tok.save(str(path))
    return path


VARIED = [
    "", " ", "ok", "hello world", "Hello  World", "a\nb", "a\n\nb", "trail ", "trail  ", "  lead", "\tx", "x\r\ny",
    "don't", "DON'T", "we'll see, you're it's I've I'm he'd", " 's", "'sup", "''", "12345", "1,000,000.50", "x²", "٣٤",
    "😀", "haha 😀😀 🎉!", "中文日本語 テスト", "café naïve", "— “quoted” —", "\u00a0nbsp", "a\u3000b", "<|im_end|>",
    "before<|im_end|>after", "tabs\t\tand spaces", "a \n\n b", "x  \ny", "  'tis", "a\n 's", "ok   ", "\n\n",
    "run \t 1", "end  .", " \u3000x", "mixed 123abc abc123", "end.", "...", "?!", "a" * 300,
]


def _words(seed: int, n: int) -> list[str]:
    import random

    rng = random.Random(seed)
    parts = ["a", "b", "é", "中", "😀", "1", "2", "'", "s", "ll", " ", " ", " ", "  ", "\n", "\n\n", ".", ",", "-", "A", "\t", "x", "\u3000"]
    return ["".join(rng.choice(parts) for _ in range(rng.randint(0, 25))) for _ in range(n)]


@pytest.mark.parametrize("spec", ["builtin", "trained"])
def test_byte_level_fast_path_is_exact(tmp_path, spec):
    path = tokens.BUILTIN_TOKENIZER if spec == "builtin" else _byte_level_bpe(tmp_path)
    c = tokens.load_counter(str(path))
    assert c.fast
    texts = VARIED + _words(1, 3000)
    want = [len(e.ids) for e in c.tokenizer.encode_batch(texts, add_special_tokens=False)]
    assert c.count(texts) == want
    assert c.count(texts[:5]) == want[:5]  # small batches: plain encode
    import polars as pl

    series = pl.Series(texts + [None])
    assert c.count_series(series).to_list() == want + [0]


def test_fast_path_splits_most_texts_into_pretokens(tmp_path, monkeypatch):
    c = tokens.load_counter("builtin")
    seen: list[list[str]] = []
    real = c._encode_counts
    monkeypatch.setattr(c, "_encode_counts", lambda texts: seen.append(list(texts)) or real(texts))
    texts = [f"message {i} with words and numbers {i * 7}" for i in range(500)] + ["two  spaces", "a  'sorry"]
    import polars as pl

    want = [len(c.tokenizer.encode(t, add_special_tokens=False).ids) for t in texts]
    assert c.count_series(pl.Series(texts)).to_list() == want
    encoded = [t for batch in seen for t in batch]
    assert "a  'sorry" in encoded  # a run ending in a space before an apostrophe: encoded whole
    assert "two  spaces" not in encoded  # other whitespace runs are re-split like GPT-2's regex
    assert all(" " not in t[1:] for t in encoded if t != "a  'sorry")  # the rest only as pre-tokens
    assert len(encoded) == len(set(encoded)) < 1100  # each distinct pre-token once (~1000 numbers + 6 words)


def test_fast_path_off_when_config_differs(tmp_path):
    c = tokens.load_counter(str(_byte_level_bpe(tmp_path, add_prefix_space=True)))
    assert not c.fast
    texts = VARIED[:20]
    assert c.count(texts) == [len(e.ids) for e in c.tokenizer.encode_batch(texts, add_special_tokens=False)]


def test_whitespace_pretokenizer_is_not_fast(tokenizer_json):
    assert not tokens.load_counter(str(tokenizer_json)).fast
