"""Token counting with the target model's tokenizer, always batched.

Specs accepted by ``load_counter``:
  builtin                 the byte-level BPE shipped in builder/sample_data/tokenizer.json (offline)
  tiktoken:NAME           a tiktoken encoding (o200k_base, cl100k_base, ...); needs the
                          encoding in tiktoken's cache or network access
  tiktoken-file:PATH      a local ``.tiktoken`` ranks file (cl100k-style split pattern)
  PATH                    a local tokenizer.json, or a Hugging Face tokenizer folder containing one
  ORG/NAME                a Hugging Face hub id (downloads; only works online)
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

from builder.errors import ClonekitError

BUILTIN_TOKENIZER = Path(__file__).resolve().parent / "sample_data" / "tokenizer.json"

_LOCAL_HINT = (
    "point --tokenizer (or [tokenizer] spec) at a local tokenizer.json or tokenizer folder, "
    "or use --tokenizer builtin"
)

# The split pattern of cl100k_base, for local ranks files (tiktoken-file:PATH).
_CL100K_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)


class TokenCounter(Protocol):
    name: str

    def count(self, texts: Sequence[str]) -> list[int]: ...


# GPT-2's pre-token pattern without its one lookahead (``\s+(?!\S)``), in the syntax of
# Rust's regex crate (Polars). The two differ only on runs of 2+ whitespace characters not
# at the end of the text: GPT-2 leaves the run's last character to the next pre-token (a
# space joins it: "  x" -> " ", " x"; another character stands alone: " \nx" -> " ", "\n",
# "x"). ``HFTokenCounter._fast_table`` re-splits such runs the same way.
PRETOKEN_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+"
# A run ending in a space before an apostrophe: GPT-2 gives " '" + "s", this split "'s";
# such texts are encoded whole.
_WHOLE_PATTERN = r"\s '"
# Below this many texts a plain batched encode beats setting up the Polars pipeline
# (synth counts one reply at a time).
_SMALL_BATCH = 512


def pretoken_fast_path_ok(tokenizer) -> bool:
    """True when count(text) == sum of counts of its GPT-2 pre-tokens for this tokenizer:
    a plain byte-level BPE (ByteLevel pre-tokenizer with its regex and no prefix space, no
    normalizer, BPE without dropout). BPE merges never cross pre-token boundaries, so each
    pre-token can be encoded on its own. Anything else is counted by encoding whole texts."""
    import json

    cfg = json.loads(tokenizer.to_str())
    pre, model = cfg.get("pre_tokenizer") or {}, cfg.get("model") or {}
    return (
        cfg.get("normalizer") is None
        and pre.get("type") == "ByteLevel"
        and pre.get("use_regex", True) is True
        # a prefix space would change the first pre-token; trim_offsets only moves offsets
        and pre.get("add_prefix_space") is False
        and model.get("type") == "BPE"
        and not model.get("dropout")
        and not model.get("byte_fallback")
    )


_PARALLEL_MIN = 100_000  # texts; below this a second thread costs more than it saves


class HFTokenCounter:
    """A ``tokenizers.Tokenizer``; counts without special tokens (templates add their own).

    Byte-level BPE tokenizers take a fast exact path (``pretoken_fast_path_ok``): texts are
    split into GPT-2 pre-tokens in Polars, each distinct pre-token is encoded once, and the
    counts are summed back per text. Texts the split might get wrong (whitespace runs, added
    tokens such as ``<|im_end|>`` in the text) are encoded whole, batched."""

    def __init__(self, tokenizer, name: str) -> None:
        self.tokenizer = tokenizer
        self.name = name
        self.fast = pretoken_fast_path_ok(tokenizer)
        self._added = [t.content for t in tokenizer.get_added_tokens_decoder().values()]

    def _encode_counts(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        return [len(e.ids) for e in self.tokenizer.encode_batch_fast(texts, add_special_tokens=False)]

    def count(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        if not self.fast or len(texts) < _SMALL_BATCH:
            return self._encode_counts(list(texts))
        import polars as pl

        return self.count_series(pl.Series("t", list(texts), dtype=pl.String)).to_list()

    def count_series(self, texts):
        """Token counts (Int64) for a String Series (null counts as empty), in order."""
        import polars as pl

        texts = texts.fill_null("").rename("t")
        if self.fast:
            # no dedupe: splitting a text costs about what hashing it would. Most of the
            # fast path is single-threaded Polars work on one chunk (GIL released), so
            # large inputs are counted as two halves in two threads; counts are per text,
            # so the halves are independent and the result is the same.
            if texts.len() < _PARALLEL_MIN:
                return self._fast_table(pl.DataFrame({"t": texts})).sort("u")["n"]
            from concurrent.futures import ThreadPoolExecutor

            half = texts.len() // 2
            with ThreadPoolExecutor(2) as pool:
                parts = list(pool.map(lambda s: self._fast_table(pl.DataFrame({"t": s})).sort("u")["n"],
                                      [texts.slice(0, half).rechunk(), texts.slice(half).rechunk()]))
            return pl.concat(parts)
        uniq = pl.DataFrame({"t": texts.unique()})
        table = uniq.with_columns(n=pl.Series(self._encode_counts(uniq["t"].to_list()), dtype=pl.Int64))
        return pl.DataFrame({"t": texts}).join(table, on="t", how="left", maintain_order="left")["n"]

    def _fast_table(self, uniq):
        """(u, n): the token count of each row of ``uniq`` (column t), u its row number.

        Texts without whitespace runs are first cut at single spaces: a GPT-2 pre-token
        never spans a space except as its first character, so a text's count is the sum
        of the counts of its first chunk and of " " + each later chunk. Chat text repeats
        its words, so only a few thousand distinct chunks go through the pre-token regex:
        the chunks are numbered by a cast to a fresh Categorical (exact string matching,
        one hash pass), and each chunk's count is looked up by its number in numpy."""
        import numpy as np
        import polars as pl

        whole = pl.col("t").str.contains(_WHOLE_PATTERN)
        for tok in self._added:
            whole = whole | pl.col("t").str.contains(tok, literal=True)
        uniq = uniq.with_row_index("u").with_columns(_whole=whole, _runs=pl.col("t").str.contains(r"\s\s"))
        counted_runs, bad_runs = self._pretoken_counts(uniq.filter(~pl.col("_whole") & pl.col("_runs")).select("u", "t"))

        plain = uniq.filter(~pl.col("_whole") & ~pl.col("_runs"))
        parts = plain["t"].str.split(" ")
        sizes = parts.list.len().to_numpy()  # >= 1: "" splits into [""]
        cats = pl.Categories.random()  # a fresh mapping: chunk numbers 0..k-1
        chunks = parts.explode().cast(pl.Categorical(cats))
        codes = chunks.to_physical().to_numpy()  # uint32
        vocab = cats.to_series()
        del parts
        starts = np.r_[0, np.cumsum(sizes[:-1])].astype(np.int64) if len(sizes) else np.zeros(0, dtype=np.int64)
        # form 2*code: the chunk as it is (first of its text); 2*code+1: " " + chunk
        key = codes * np.uint32(2) + np.uint32(1)
        key[starts] -= 1
        used = np.flatnonzero(np.bincount(key, minlength=2 * len(vocab)))
        words = vocab.gather(pl.Series(used // 2))
        forms = pl.DataFrame({"u": used, "t": pl.Series(np.where(used % 2 == 1, " ", ""), dtype=pl.String) + words})
        form_n, _bad_forms = self._pretoken_counts(forms)
        table = np.full(2 * len(vocab), -1, dtype=np.int64)  # -1: not countable by pieces
        table[form_n["u"].to_numpy()] = form_n["n"].to_numpy()
        per_chunk = table[key]
        if len(per_chunk):
            n = np.add.reduceat(per_chunk, starts)
            bad_text = np.minimum.reduceat(per_chunk, starts) < 0
        else:
            n, bad_text = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
        u = plain["u"]
        counted_plain = pl.DataFrame({"u": u.filter(pl.Series(~bad_text)), "n": pl.Series(n[~bad_text], dtype=pl.Int64)})
        bad = pl.concat([uniq.filter(pl.col("_whole"))["u"], bad_runs, u.filter(pl.Series(bad_text))])
        rest = uniq.filter(pl.col("u").is_in(bad.implode())).select("u", "t")
        exact = rest.select("u", n=pl.Series(self._encode_counts(rest["t"].to_list()), dtype=pl.Int64))
        return pl.concat([counted_runs, counted_plain, exact])

    def _pretoken_counts(self, frame):
        """((u, n) for rows of ``frame`` (u, t) counted per GPT-2 pre-token, u of rows whose
        pre-tokens don't add up to the text (to encode whole))."""
        import polars as pl

        p = pl.col("p")
        pieces = frame.lazy().select("u", p=pl.col("t").str.extract_all(PRETOKEN_PATTERN)).explode("p").filter(p.is_not_null())
        # whitespace runs (2+ chars, not last in the text) -> GPT-2's split, see PRETOKEN_PATTERN
        run = p.str.contains(r"^\s\s+$") & (pl.col("u") == pl.col("u").shift(-1)).fill_null(False)
        pieces = pieces.with_columns(_run=run, _last=p.str.slice(-1))
        space_before = (pl.col("_run").shift(1) & (pl.col("_last").shift(1) == " ")).fill_null(False)
        tails = pieces.filter(pl.col("_run") & (pl.col("_last") != " ")).select("u", p=pl.col("_last"))
        pieces = pl.concat([
            pieces.select(
                "u",
                p=pl.when(pl.col("_run")).then(p.str.slice(0, p.str.len_chars() - 1)).otherwise(p),
                _space=space_before,
            ).select("u", p=pl.when(pl.col("_space")).then(pl.lit(" ") + p).otherwise(p)),
            tails,
        ]).collect()
        distinct = pieces.select(p.unique())
        distinct = distinct.with_columns(n=pl.Series(self._encode_counts(distinct["p"].to_list()), dtype=pl.Int64))
        sums = (
            pieces.lazy().join(distinct.lazy(), on="p", how="left")
            .group_by("u").agg(pl.col("n").sum(), p.str.len_bytes().sum().alias("_bytes"))
            .collect()
        )
        counted = frame.join(sums, on="u", how="left").with_columns(pl.col("n").fill_null(0), pl.col("_bytes").fill_null(0))
        # the pieces cover every character; a text whose pieces don't add up to it (never
        # seen) is encoded whole rather than trusted
        agrees = pl.col("_bytes") == pl.col("t").str.len_bytes()
        return counted.filter(agrees).select("u", "n"), counted.filter(~agrees)["u"]


class TiktokenCounter:
    def __init__(self, encoding, name: str) -> None:
        self.encoding = encoding
        self.name = name

    def count(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        return [len(ids) for ids in self.encoding.encode_ordinary_batch(list(texts), num_threads=4)]


def _from_tokenizer_json(path: Path, name: str) -> HFTokenCounter:
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as err:  # tokenizers raises a bare Exception on malformed files
        raise ClonekitError(f"{path}: not a valid tokenizer.json ({err}); {_LOCAL_HINT}") from None
    return HFTokenCounter(tok, name)


def _load_tiktoken(name: str) -> TiktokenCounter:
    import tiktoken

    try:
        enc = tiktoken.get_encoding(name)
    except ValueError as err:
        raise ClonekitError(f"tokenizer 'tiktoken:{name}': unknown encoding ({err})") from None
    except Exception as err:  # network errors from requests/urllib: the encoding is not cached
        raise ClonekitError(
            f"tokenizer 'tiktoken:{name}': the encoding is not cached and could not be downloaded "
            f"({type(err).__name__}); run once online, set TIKTOKEN_CACHE_DIR to a folder holding it, "
            f"use tiktoken-file:PATH with a local .tiktoken file, or {_LOCAL_HINT}"
        ) from None
    return TiktokenCounter(enc, f"tiktoken:{name}")


def _load_tiktoken_file(path: Path) -> TiktokenCounter:
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    if not path.is_file():
        raise ClonekitError(f"tokenizer 'tiktoken-file:{path}': file not found; {_LOCAL_HINT}")
    try:
        ranks = load_tiktoken_bpe(str(path))
    except Exception as err:  # malformed base64 / rank lines
        raise ClonekitError(f"{path}: not a tiktoken ranks file ({err})") from None
    enc = tiktoken.Encoding(name=path.stem, pat_str=_CL100K_PAT, mergeable_ranks=ranks, special_tokens={})
    return TiktokenCounter(enc, f"tiktoken-file:{path}")


def load_counter(spec: str | None = "builtin") -> TokenCounter:
    spec = (spec or "builtin").strip()
    if spec == "builtin":
        if not BUILTIN_TOKENIZER.is_file():
            raise ClonekitError(f"builtin tokenizer missing at {BUILTIN_TOKENIZER}; reinstall clonekit or {_LOCAL_HINT}")
        return _from_tokenizer_json(BUILTIN_TOKENIZER, "builtin")
    if spec.startswith("tiktoken:"):
        return _load_tiktoken(spec.split(":", 1)[1])
    if spec.startswith("tiktoken-file:"):
        return _load_tiktoken_file(Path(spec.split(":", 1)[1]).expanduser())
    path = Path(spec).expanduser()
    if path.is_file():
        return _from_tokenizer_json(path, str(path))
    if path.is_dir():
        candidate = path / "tokenizer.json"
        if not candidate.is_file():
            raise ClonekitError(f"{path}: folder has no tokenizer.json (a fast tokenizer is needed); {_LOCAL_HINT}")
        return _from_tokenizer_json(candidate, str(path))
    if spec.count("/") == 1 and not spec.startswith((".", "/", "~")):
        return _load_hub(spec)
    raise ClonekitError(f"tokenizer '{spec}': no such file or folder, and not a hub id (ORG/NAME); {_LOCAL_HINT}")


def _load_hub(repo_id: str) -> HFTokenCounter:
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_pretrained(repo_id)
    except Exception as err:  # offline, unknown repo, gated repo: all surface as generic errors
        raise ClonekitError(
            f"tokenizer '{repo_id}': could not load from the Hugging Face hub ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:120] if str(err) else 'no detail'}); offline? {_LOCAL_HINT}"
        ) from None
    return HFTokenCounter(tok, repo_id)
