"""Chat templates and the one mapping from dataset records to model messages.

Training and inference must render conversations identically, so both call
``to_model_messages`` and use the tokenizer's chat template set here.

Names: the dataset's user turns carry the contact's ``name``. Chat templates have no
standard place for it (chatml's ``user name=Alex`` is not what bases were tuned on), and
in a one-to-one chat the persona's system prompt already says who we talk to, so the name
is dropped. In a group chat (user turns from more than one name) the speaker matters:
each user turn's content becomes ``"Name: text"``. The inference side must call
``to_model_messages(messages, group=True)`` for group chats so the prompt matches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from builder.errors import ClonekitError

CHATML = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}"
)
LLAMA3 = (
    "{{- '<|begin_of_text|>' }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif %}"
)
NAMED = {
    "chatml": (CHATML, ["<|im_start|>", "<|im_end|>"], "<|im_end|>"),
    "llama3": (LLAMA3, ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"], "<|eot_id|>"),
}

_PROBE = "\x01probe\x02"  # content unlikely to occur in a template


@dataclass
class TemplateInfo:
    name: str  # "base" | "chatml" | "llama3"
    end_of_turn: str  # the text that closes an assistant turn (a special token)
    stop_token_ids: list[int]
    added_tokens: list[str] = field(default_factory=list)  # new vocabulary entries


def to_model_messages(record_messages: list[dict[str, Any]], group: bool | None = None) -> list[dict[str, str]]:
    """Dataset-record messages -> the role/content messages the chat template renders.

    ``group``: None infers it (user turns from more than one distinct name)."""
    if group is None:
        names = {m.get("name") for m in record_messages if m.get("role") == "user" and m.get("name")}
        group = len(names) > 1
    out = []
    for m in record_messages:
        content = m["content"]
        if group and m["role"] == "user" and m.get("name"):
            content = f"{m['name']}: {content}"
        out.append({"role": m["role"], "content": content})
    return out


def render(tokenizer, messages: list[dict[str, str]], add_generation_prompt: bool = False) -> str:
    from jinja2 import TemplateError

    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    except TemplateError as err:
        raise ClonekitError(
            f"the base model's chat template refuses this conversation ({err}); "
            "use --chat-template chatml or llama3"
        ) from None


def _find_end_of_turn(tokenizer) -> str:
    """The special token a base template puts right after an assistant turn's content."""
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": _PROBE}]
    text = render(tokenizer, msgs)
    pos = text.rfind(_PROBE)
    if pos < 0:
        raise ClonekitError("the base model's chat template drops assistant content; use --chat-template chatml")
    tail = text[pos + len(_PROBE):]
    specials = sorted(set(tokenizer.all_special_tokens) | set(tokenizer.get_added_vocab()), key=len, reverse=True)
    for i in range(len(tail)):
        for tok in specials:
            if tok and tail.startswith(tok, i):
                return tok
    raise ClonekitError(
        "the base model's chat template ends assistant turns with no special token, so the model "
        "would never learn to stop; use --chat-template chatml or llama3"
    )


def prepare_tokenizer(tokenizer, choice: str) -> TemplateInfo:
    """Set the chat template on ``tokenizer`` (in place) and return what it is.

    choice: "auto" (the base's own if it has one, else chatml), "base", "chatml", "llama3".
    Named templates' markers are added as special tokens when missing; the caller must
    then resize the model's embeddings (``added_tokens`` lists them)."""
    if choice == "auto":
        choice = "base" if getattr(tokenizer, "chat_template", None) else "chatml"
    added: list[str] = []
    if choice == "base":
        if not getattr(tokenizer, "chat_template", None):
            raise ClonekitError("--chat-template base: this base model has no chat template; use chatml or llama3")
        end = _find_end_of_turn(tokenizer)
    else:
        template, markers, end = NAMED[choice]
        vocab = tokenizer.get_vocab()
        added = [m for m in markers if m not in vocab]
        if added:
            from tokenizers import AddedToken

            tokenizer.add_tokens([AddedToken(m, special=True, normalized=False) for m in added], special_tokens=True)
        tokenizer.chat_template = template
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or end
    stop = [tokenizer.convert_tokens_to_ids(end)]
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in stop:
        stop.append(tokenizer.eos_token_id)
    return TemplateInfo(name=choice, end_of_turn=end, stop_token_ids=stop, added_tokens=added)

