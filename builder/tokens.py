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

from concurrent.futures import ThreadPoolExecutor
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
_SPLIT_FORMS = 50_000  # distinct chunk forms; above this they are counted as two halves


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


class HFTokenCounter:
    """A ``tokenizers.Tokenizer``; counts without special tokens (templates add their own).

    Byte-level BPE tokenizers take a fast exact path (``pretoken_fast_path_ok``): texts are
    cut at spaces (``builder.chunks``, a cut the build shares with duplicate detection),
    each distinct piece is counted once by its GPT-2 pre-tokens, and the counts are summed
    back per text (``_fast_counts``). Texts with whitespace runs are counted per pre-token;
    texts the pieces might get wrong (added tokens such as ``<|im_end|>``) are encoded
    whole, batched."""

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

    def count_series(self, texts, chunks=None):
        """Token counts (Int64) for a String Series (null counts as empty), in order.
        ``chunks``: the texts already cut at spaces (``builder.chunks.cut``), when the
        caller shares the cut with duplicate detection."""
        import polars as pl

        texts = texts.fill_null("").rename("t")
        if self.fast:
            from builder.chunks import cut

            return self._fast_counts(texts, cut(texts) if chunks is None else chunks)
        uniq = pl.DataFrame({"t": texts.unique()})
        table = uniq.with_columns(n=pl.Series(self._encode_counts(uniq["t"].to_list()), dtype=pl.Int64))
        return pl.DataFrame({"t": texts}).join(table, on="t", how="left", maintain_order="left")["n"]

    def _fast_counts(self, texts, chunks):
        """Counts by pieces: no dedupe of whole texts (cutting a text costs about what
        hashing it would).

        A text without whitespace runs counts as the sum of its first chunk and of " " +
        each later chunk: a GPT-2 pre-token never spans a space except as its first
        character. Chat text repeats its words, so only a few thousand distinct chunk
        forms go through the pre-token regex, and each chunk's count is looked up by its
        number in numpy. Texts with whitespace runs are counted per pre-token; texts the
        pieces might get wrong (a space before an apostrophe, added tokens such as
        ``<|im_end|>``) are encoded whole."""
        import numpy as np
        import polars as pl

        from builder.chunks import blocks

        n = np.zeros(texts.len(), dtype=np.int64)
        if texts.len() == 0:
            return pl.Series("n", n)
        whole = pl.col("t").str.contains(_WHOLE_PATTERN)
        for tok in self._added:
            whole = whole | pl.col("t").str.contains(tok, literal=True)
        # the two regexes over every text on the streaming engine (both cores)
        flags = pl.DataFrame({"t": texts}).lazy().select(w=whole, r=pl.col("t").str.contains(r"\s\s")).collect(engine="streaming")
        is_whole, has_runs = flags.get_column("w").to_numpy(), flags.get_column("r").to_numpy()
        runs = np.flatnonzero(has_runs & ~is_whole)
        # texts with runs are counted on a thread meanwhile (Polars work: the GIL is free)
        with ThreadPoolExecutor(2) as pool:
            runs_done = pool.submit(self._pretoken_counts, pl.DataFrame({"u": runs, "t": texts.gather(runs)}))

            # form 2*code: the chunk as it is (first of its text); 2*code+1: " " + chunk. The
            # keys are made a block of texts at a time (twice: cheaper than keeping them).
            offsets, starts = chunks.offsets, chunks.offsets[:-1]
            sizes = np.diff(offsets)
            plain = ~is_whole & ~has_runs

            def keys(a: int, b: int) -> np.ndarray:
                k = chunks.codes[offsets[a]:offsets[b]] * np.uint32(2) + np.uint32(1)
                k[starts[a:b] - offsets[a]] -= 1
                return k

            parts = blocks(sizes)
            seen = np.zeros(2 * len(chunks.vocab), dtype=bool)
            for a, b in parts:
                k = keys(a, b)
                seen[k if plain[a:b].all() else k[np.repeat(plain[a:b], sizes[a:b])]] = True
            used = np.flatnonzero(seen)
            words = chunks.vocab.gather(pl.Series(used // 2))
            forms = pl.DataFrame({"u": used, "t": pl.Series(np.where(used % 2 == 1, " ", ""), dtype=pl.String) + words})
            if forms.height >= _SPLIT_FORMS:  # a large vocabulary: half of the forms on a thread
                other = pool.submit(self._pretoken_counts, forms.slice(forms.height // 2))
                form_n = pl.concat([self._pretoken_counts(forms.slice(0, forms.height // 2))[0], other.result()[0]])
            else:
                form_n = self._pretoken_counts(forms)[0]
            table = np.full(2 * len(chunks.vocab), -1, dtype=np.int32)  # -1: not countable by pieces
            table[form_n["u"].to_numpy()] = form_n["n"].to_numpy()
            check = bool((table[used] < 0).any())  # a form the pieces got wrong: its texts go whole
            sums = np.empty(texts.len(), dtype=np.int64)
            lowest = np.zeros(texts.len(), dtype=np.int32)
            for a, b in parts:
                per_chunk = table[keys(a, b)]
                local = starts[a:b] - offsets[a]
                sums[a:b] = np.add.reduceat(per_chunk, local, dtype=np.int64)
                if check:
                    lowest[a:b] = np.minimum.reduceat(per_chunk, local)
            n[plain] = sums[plain]
            encode_whole = is_whole | (plain & (lowest < 0))
            counted_runs, bad_runs = runs_done.result()
        n[counted_runs["u"].to_numpy()] = counted_runs["n"].to_numpy()

        rest = np.union1d(np.flatnonzero(encode_whole), bad_runs.to_numpy())
        n[rest] = self._encode_counts(texts.gather(rest).to_list())
        return pl.Series("n", n)

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
