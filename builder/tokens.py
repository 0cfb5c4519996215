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


class HFTokenCounter:
    """A ``tokenizers.Tokenizer``; counts without special tokens (templates add their own)."""

    def __init__(self, tokenizer, name: str) -> None:
        self.tokenizer = tokenizer
        self.name = name

    def count(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encodings = self.tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]


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
