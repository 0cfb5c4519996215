"""Chat templates and the one mapping from dataset records to model messages.

Training and inference must render conversations identically, so both call
``to_model_messages`` and ``render``, which adapts the conversation to what the
template accepts (trainer/template_fit.py: probed once, recorded in run.json).

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



@dataclass
class TemplateInfo:
    name: str  # "base" | "chatml" | "llama3"
    end_of_turn: str  # the text that closes an assistant turn (a special token)
    stop_token_ids: list[int]
    added_tokens: list[str] = field(default_factory=list)  # new vocabulary entries
    fit: dict = field(default_factory=dict)  # trainer.template_fit.TemplateFit, as written to run.json
    fallback_reason: str | None = None  # why "auto" did not keep the base's own template


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
    """Render role/content messages the way training did: adapted to what the template
    accepts (trainer.template_fit), with the run's template kwargs and prompt suffix."""
    from trainer.template_fit import adapt, fit_of, render_adapted

    fit = fit_of(tokenizer)
    return render_adapted(tokenizer, fit, adapt(fit, messages), add_generation_prompt)


def _set_named(tokenizer, choice: str) -> tuple[list[str], str]:
    template, markers, end = NAMED[choice]
    vocab = tokenizer.get_vocab()
    added = [m for m in markers if m not in vocab]
    if added:
        from tokenizers import AddedToken

        tokenizer.add_tokens([AddedToken(m, special=True, normalized=False) for m in added], special_tokens=True)
    tokenizer.chat_template = template
    return added, end


def prepare_tokenizer(tokenizer, choice: str) -> TemplateInfo:
    """Set the chat template on ``tokenizer`` (in place), probe what it accepts, and return
    what it is.

    choice: "auto" (the base's own if it can render a dialogue, else chatml), "base",
    "chatml", "llama3". Named templates' markers are added as special tokens when missing;
    the caller must then resize the model's embeddings and train the new rows
    (``added_tokens`` lists them)."""
    from trainer.template_fit import attach, find_end_of_turn, probe, rewrites_earlier_turns

    fallback = None
    if choice == "auto":
        if getattr(tokenizer, "chat_template", None):
            try:
                fit = probe(tokenizer)
                end = find_end_of_turn(tokenizer, fit)
                choice = "base"
            except ClonekitError as err:
                fallback = str(err).split("; use --chat-template")[0]
                choice = "chatml"
        else:
            fallback = "the base model has no chat template"
            choice = "chatml"
    added: list[str] = []
    if choice == "base":
        if not getattr(tokenizer, "chat_template", None):
            raise ClonekitError("--chat-template base: this base model has no chat template; use chatml or llama3")
        fit = probe(tokenizer)
        end = find_end_of_turn(tokenizer, fit)
    else:
        added, end = _set_named(tokenizer, choice)
        fit = probe(tokenizer)
    attach(tokenizer, fit)
    fit.rewrites = rewrites_earlier_turns(tokenizer, fit, end)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or end
    stop = [tokenizer.convert_tokens_to_ids(end)]
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in stop:
        stop.append(tokenizer.eos_token_id)
    return TemplateInfo(name=choice, end_of_turn=end, stop_token_ids=stop, added_tokens=added,
                        fit=fit.to_dict(), fallback_reason=fallback)
