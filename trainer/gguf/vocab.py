"""The tokenizer half of a GGUF file: vocabulary, token types, merges or scores, the
pre-tokenizer name llama.cpp keys its split regex on, special token ids and the chat
template. Mirrors convert_hf_to_gguf.py's `_set_vocab_gpt2` (byte-level BPE: Llama 3,
Qwen2/2.5/3) and `_set_vocab_llama_hf` (sentencepiece-style BPE with byte fallback:
Llama 2, Mistral), reusing the `gguf` package's LlamaHfVocab and SpecialVocab.

clonekit trains on the rendered chat template tokenized with add_special_tokens=False,
so the file says add_bos_token=False: the template itself carries any BOS, exactly as
in training."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from builder.errors import ClonekitError


@dataclass
class VocabInfo:
    model: str  # tokenizer.ggml.model: "gpt2" | "llama"
    pre: str  # tokenizer.ggml.pre
    tokens: list[str]
    toktypes: list[int]
    scores: list[float] | None = None
    add_space_prefix: bool | None = None


def _looks_special(token: str) -> bool:
    """convert_hf_to_gguf's does_token_look_special (added tokens some tokenizers forget
    to flag as special)."""
    return (token in ("<pad>", "<mask>", "<2mass>", "[@BOS@]")
            or (token.startswith("<|") and token.endswith("|>"))
            or (token.startswith("<｜") and token.endswith("｜>"))
            or (token.startswith("<unused") and token.endswith(">")))


def _split_regexes(pre: dict | None) -> tuple[list[str], list[dict]]:
    if not pre:
        return [], []
    items = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    regexes = [p.get("pattern", {}).get("Regex") for p in items if p.get("type") == "Split"]
    return [r for r in regexes if r], items


# Preferred llama.cpp pre-tokenizer names when several share one regex.
_PREFERRED = ("llama-bpe", "qwen2", "tekken", "gpt-4o", "smaug-bpe", "dbrx")
# The splits of the supported families, for transformers releases without the table
# (transformers.integrations.gguf.gguf_tokenizer_mapping.GGUF_PRE_TOKENIZER_SPLITS).
_KNOWN_SPLITS = {
    "llama-bpe": (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                  r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"),
    "qwen2": (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
              r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"),
}


def _pre_splits() -> dict[str, str]:
    try:
        from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_PRE_TOKENIZER_SPLITS
    except ImportError:
        return dict(_KNOWN_SPLITS)
    return {**_KNOWN_SPLITS, **GGUF_PRE_TOKENIZER_SPLITS}


def _pre_name(tokenizer_json: dict, where: Path) -> str:
    """llama.cpp's name for how this tokenizer splits text before BPE. Decided from the
    tokenizer's own split regex (llama.cpp has one per name), not guessed."""
    regexes, items = _split_regexes(tokenizer_json.get("pre_tokenizer"))
    if not regexes:
        byte_level = [p for p in items if p.get("type") == "ByteLevel"]
        if byte_level and byte_level[0].get("use_regex", True) and not byte_level[0].get("add_prefix_space"):
            return "gpt-2"  # ByteLevel's built-in regex is GPT-2's
    elif len(regexes) == 1:
        names = [n for n, rx in _pre_splits().items() if rx == regexes[0]]
        names.sort(key=lambda n: _PREFERRED.index(n) if n in _PREFERRED else len(_PREFERRED))
        if names:
            return names[0]
    raise ClonekitError(
        f"{where / 'tokenizer.json'}: its pre-tokenizer (split regex {regexes[:1]!r}) is not one llama.cpp "
        "knows by name, so llama.cpp would tokenize differently from training; convert a `clonekit merge` "
        "folder with llama.cpp's convert_hf_to_gguf.py instead")


def _gpt2_vocab(tokenizer, n_vocab: int) -> tuple[list[str], list[int]]:
    """convert_hf_to_gguf's get_vocab_base."""
    import gguf

    vocab = tokenizer.get_vocab()
    if max(vocab.values()) >= n_vocab:
        raise ClonekitError(f"the tokenizer has ids up to {max(vocab.values())} but the model only "
                            f"{n_vocab} embeddings; the run's tokenizer and weights disagree")
    reverse = {i: t for t, i in vocab.items()}
    added = tokenizer.get_added_vocab()
    decoder = tokenizer.added_tokens_decoder
    tokens, types = [], []
    for i in range(n_vocab):
        if i not in reverse:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
            continue
        token = reverse[i]
        if token in added:
            if not decoder[i].normalized:  # llama.cpp expects added tokens pre-normalized
                token = tokenizer.decode(tokenizer.encode(token, add_special_tokens=False))
            if decoder[i].special or _looks_special(token):
                types.append(gguf.TokenType.CONTROL)
            else:
                token = token.replace("\u2581", " ")
                types.append(gguf.TokenType.USER_DEFINED)
        else:
            types.append(gguf.TokenType.NORMAL)
        tokens.append(token)
    return tokens, types


def _merge_scores(tokenizer_json: dict, n_tokens: int, vocab: dict[str, int]) -> list[float]:
    """Sentencepiece-style scores from the BPE merge order: llama.cpp's "llama" tokenizer
    merges the best-scored pair first, and a piece made by merge r outranks merge r+1.
    (gguf.LlamaHfVocab leaves every score at -1000.)"""
    scores = [0.0] * n_tokens
    seen = set()
    for rank, merge in enumerate(tokenizer_json.get("model", {}).get("merges") or []):
        left, right = merge if isinstance(merge, list) else merge.split(" ", 1)
        tid = vocab.get(left + right)
        if tid is not None and tid not in seen and tid < n_tokens:
            seen.add(tid)
            scores[tid] = -float(rank + 1)
    return scores


def _llama_vocab(tokdir: Path, tokenizer, tokenizer_json: dict, n_vocab: int) -> VocabInfo:
    import gguf

    hf = gguf.LlamaHfVocab(tokdir)
    tokens, types = [], []
    for text, _score, toktype in hf.all_tokens():
        tokens.append(text.decode("utf-8"))
        types.append(int(toktype))
    if len(tokens) > n_vocab:
        raise ClonekitError(f"the tokenizer has {len(tokens)} tokens but the model only {n_vocab} embeddings; "
                            "the run's tokenizer and weights disagree")
    vocab = tokenizer.get_vocab()
    for i, tok in enumerate(tokens):
        if vocab.get(tok) != i:
            raise ClonekitError(f"{tokdir}: token {tok!r} is id {vocab.get(tok)} in the tokenizer but would be "
                                f"{i} in the GGUF; its added tokens are not in id order")
    for i, added in tokenizer.added_tokens_decoder.items():
        if i < len(types) and (added.special or _looks_special(added.content)):
            types[i] = int(gguf.TokenType.CONTROL)
    scores = _merge_scores(tokenizer_json, len(tokens), vocab)
    for i in range(len(tokens), n_vocab):
        tokens.append(f"[PAD{i}]")
        types.append(int(gguf.TokenType.UNUSED))
        scores.append(-1000.0)
    return VocabInfo("llama", "default", tokens, types, scores, add_space_prefix=_space_prefix(tokenizer_json))


def _space_prefix(tokenizer_json: dict) -> bool:
    """llama.cpp's add_space_prefix puts "▁" before *every* text run that follows a special
    token, as legacy tokenizers do (a Prepend normalizer, or Metaspace "always"). Newer ones
    (Metaspace prepend_scheme "first") only prefix the very start of the input, which in a
    chat prompt is a special token: there llama.cpp must add no prefix at all to tokenize
    each turn as training did."""
    pre = tokenizer_json.get("pre_tokenizer") or {}
    metas = [p for p in ([pre] + pre.get("pretokenizers", [])) if p.get("type") == "Metaspace"]
    if '"Prepend"' in json.dumps(tokenizer_json.get("normalizer") or {}):
        return True
    return bool(metas) and metas[0].get("prepend_scheme", "always") == "always"


def build_vocab(tokdir: Path, tokenizer, n_vocab: int) -> VocabInfo:
    path = tokdir / "tokenizer.json"
    if not path.is_file():
        raise ClonekitError(f"{path}: missing; `clonekit gguf` needs the run's fast tokenizer (tokenizer.json)")
    tj = json.loads(path.read_text(encoding="utf-8"))
    model = tj.get("model") or {}
    if model.get("type") != "BPE":
        raise ClonekitError(f"{path}: a {model.get('type')} tokenizer; `clonekit gguf` writes BPE vocabularies "
                            "(Llama, Mistral, Qwen)")
    if model.get("byte_fallback"):
        return _llama_vocab(tokdir, tokenizer, tj, n_vocab)
    tokens, types = _gpt2_vocab(tokenizer, n_vocab)
    return VocabInfo("gpt2", _pre_name(tj, tokdir), tokens, [int(t) for t in types])


def write_vocab(writer, tokdir: Path, tokenizer, n_vocab: int, chat_template: str, eot_id: int | None) -> VocabInfo:
    import gguf

    info = build_vocab(tokdir, tokenizer, n_vocab)
    writer.add_tokenizer_model(info.model)
    writer.add_tokenizer_pre(info.pre)
    writer.add_token_list(info.tokens)
    if info.scores is not None:
        writer.add_token_scores(info.scores)
    writer.add_token_types(info.toktypes)
    if info.add_space_prefix is not None:
        writer.add_add_space_prefix(info.add_space_prefix)
    special = gguf.SpecialVocab(tokdir, load_merges=True, n_vocab=len(info.tokens))
    special.chat_template = chat_template
    special.add_special_token["bos"] = False  # training never let the tokenizer add BOS/EOS
    special.add_special_token["eos"] = False
    for typ in ("bos", "eos", "unk", "pad"):
        tid = getattr(tokenizer, f"{typ}_token_id", None)
        if tid is not None and tid < len(info.tokens):
            special.special_token_ids[typ] = int(tid)
    special.add_to_gguf(writer, quiet=True)
    if eot_id is not None:
        writer.add_eot_token_id(int(eot_id))
    return info
