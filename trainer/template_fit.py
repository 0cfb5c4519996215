"""Make every conversation fit the base model's own chat template, once, for everyone.

Real instruct templates refuse things clonekit's data contains: a system role (Gemma 2),
two user turns in a row (Gemma, Mistral: group chats), a dialogue that opens with the
persona (Gemma 3, Mistral), string content (the first Gemma 3 1B release read the
system prompt as a list). Some rewrite earlier turns when a turn is added (Qwen3 puts
think scaffolding on the last assistant turn only, Mistral v0.3/Nemo move the system
prompt into the last user turn) and reasoning templates open a ``<think>`` block in the
generation prompt (DeepSeek-R1-Distill).

``probe`` finds out once, by rendering a few small dialogues, what the template accepts;
``adapt`` rewrites a conversation accordingly (merge consecutive same-role turns, keeping
group chats' "Name: text" lines; fold the system prompt into the first user turn where a
system role is refused; give a dialogue that opens with the persona a neutral opening);
``persona_turns`` renders each persona turn exactly as chat will prompt for it, which is
what the training labels are built from. The probe's result (``TemplateFit``) is written
to run.json and attached to the tokenizer, so training, eval, chat, serve and compare all
render through ``trainer.templates.render`` identically.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from builder.errors import ClonekitError

OPENING = "(new conversation)"
_ATTR = "clonekit_fit"
_THINK_BLOCK = re.compile(r"<think>.*?</think>\s*", re.DOTALL)
_SCAFFOLD = re.compile(r"<think>\s*</think>\s*|<think>\s*$")
# What a template's refusal looks like from apply_chat_template besides jinja's own errors
# (raise_exception is a TemplateError; "empty conversation" is a ValueError; string
# content indexed as a list is a TypeError/KeyError/IndexError/AttributeError).
_REFUSALS: tuple[type[Exception], ...] = (ValueError, TypeError, KeyError, IndexError, AttributeError)
_GENERATION_TAG = re.compile(r"{%-?\s*generation\s*-?%}")


@dataclass
class TemplateFit:
    system: str = "native"  # "native": a system message; "fold": prepended to the first user turn
    list_content: bool = False  # content given as [{"type": "text", "text": ...}]
    merge_runs: bool = False  # strict alternation: consecutive same-role turns merged
    assistant_first: bool = True  # may open (after the system message) with the persona
    opening: str = OPENING  # the user turn put before a persona-first dialogue when needed
    template_kwargs: dict[str, Any] = field(default_factory=dict)  # e.g. enable_thinking=False
    prompt_suffix: str = ""  # appended to every generation prompt (closes an opened <think>)
    rewrites: bool = False  # rendering a later turn changes earlier ones: per-turn labels
    generation_mask: bool = False  # the template marks assistant text with {% generation %}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "TemplateFit":
        known = {k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def describe(self) -> list[str]:
        """One line per behaviour, for logs, --check and the README table."""
        lines = []
        if self.system == "fold":
            lines.append("no system role: the persona prompt is folded into the first user turn")
        if self.list_content:
            lines.append("content is passed as a list of text parts")
        if self.merge_runs:
            lines.append("roles must alternate: consecutive turns of one speaker are merged (group chats keep 'Name: text' lines)")
        if not self.assistant_first:
            lines.append(f"may not open with the assistant: a persona-first dialogue gets the opening {self.opening!r}")
        if self.template_kwargs:
            lines.append("rendered with " + ", ".join(f"{k}={v!r}" for k, v in self.template_kwargs.items()))
        if self.prompt_suffix:
            lines.append(f"the generation prompt opens a think block; it is closed empty ({self.prompt_suffix!r}) so "
                         "replies come without reasoning and think tags never carry loss")
        if self.rewrites:
            lines.append("rewrites earlier turns: each persona turn is trained as its own render, exactly as chat prompts for it")
        if self.generation_mask:
            lines.append("marks assistant text with {% generation %}")
        return lines or ["accepts clonekit's conversations as they are (system role, any turn order)"]


# ------------------------------------------------------------------ rendering
def template_text(tokenizer) -> str:
    t = getattr(tokenizer, "chat_template", None)
    if isinstance(t, dict):
        t = t.get("default") or next(iter(t.values()), "")
    return t or ""


def _raw(tokenizer, messages: list[dict], add_generation_prompt: bool, kwargs: dict) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt, **kwargs)


def render_adapted(tokenizer, fit: TemplateFit, messages: list[dict], add_generation_prompt: bool = False) -> str:
    """Render already-adapted messages with the template (and the fit's kwargs and prompt
    suffix). Template refusals become one-line ClonekitErrors."""
    from jinja2 import TemplateError

    if not messages:
        raise ClonekitError("nothing to render: the conversation is empty")
    try:
        text = _raw(tokenizer, messages, add_generation_prompt, fit.template_kwargs)
    except _REFUSALS + (TemplateError,) as err:
        raise ClonekitError(
            f"the chat template refuses this conversation ({str(err).splitlines()[0][:160]}); "
            "use --chat-template chatml") from None
    return text + fit.prompt_suffix if add_generation_prompt else text


def content_text(message: dict) -> str:
    c = message["content"]
    if isinstance(c, list):
        return "".join(p.get("text", "") for p in c if isinstance(p, dict))
    return c


# ------------------------------------------------------------------ adapting
def adapt(fit: TemplateFit, messages: list[dict], notes: list[str] | None = None) -> list[dict]:
    """role/content messages (trainer.templates.to_model_messages) -> what this template
    accepts. ``notes`` (when given) gets one line per change made, for the record check."""
    note = notes.append if notes is not None else (lambda _line: None)
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system" and m["content"])
    rest = [dict(role=m["role"], content=m["content"]) for m in messages if m["role"] != "system"]
    if fit.merge_runs:
        merged: list[dict] = []
        for m in rest:
            if merged and merged[-1]["role"] == m["role"]:
                merged[-1]["content"] += "\n" + m["content"]
            else:
                merged.append(m)
        if len(merged) < len(rest):
            note("consecutive turns of one speaker merged (the template needs strict alternation)")
        rest = merged
    if rest and rest[0]["role"] == "assistant" and (not fit.assistant_first or not system or fit.system == "fold"):
        rest.insert(0, {"role": "user", "content": fit.opening})
        note(f"opens with the persona: a neutral opening {fit.opening!r} was put before it")
    if system and fit.system == "fold":
        if rest and rest[0]["role"] == "user":
            rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
        else:
            rest.insert(0, {"role": "user", "content": system})
        note("system prompt folded into the first user turn (the template has no system role)")
        out = rest
    else:
        out = ([{"role": "system", "content": system}] if system else []) + rest
    if fit.list_content:
        out = [{"role": m["role"], "content": [{"type": "text", "text": m["content"]}]} for m in out]
    return out


# ------------------------------------------------------------------ probing
_SYS, _U1, _A1, _U2, _A2 = "You are Sam.", "hey there", "hi! all good", "what's new", "not much"


def _sys(t):
    return {"role": "system", "content": t}


def _u(t):
    return {"role": "user", "content": t}


def _a(t):
    return {"role": "assistant", "content": t}


def _accepts(tokenizer, messages: list[dict], kwargs: dict, list_content: bool = False, gen: bool = False) -> str | None:
    """The render, or None when the template refuses."""
    if list_content:
        messages = [{"role": m["role"], "content": [{"type": "text", "text": m["content"]}]} for m in messages]
    from jinja2 import TemplateError

    try:
        return _raw(tokenizer, messages, gen, kwargs)
    except _REFUSALS + (TemplateError,):  # raise_exception, undefined names, list-vs-string content
        return None


def probe(tokenizer) -> TemplateFit:
    """What the tokenizer's chat template accepts. Raises ClonekitError when it cannot render
    a plain user/assistant dialogue at all (then only a named template can help)."""
    source = template_text(tokenizer)
    if not source:
        raise ClonekitError("the base model has no chat template; use --chat-template chatml")
    fit = TemplateFit()
    if "enable_thinking" in source:
        fit.template_kwargs = {"enable_thinking": False}
    kw = fit.template_kwargs
    base = [_u(_U1), _a(_A1)]
    if _accepts(tokenizer, base, kw) is None:
        if _accepts(tokenizer, base, kw, list_content=True) is None:
            raise ClonekitError("the base model's chat template cannot render a plain user/assistant dialogue; "
                                "use --chat-template chatml")
        fit.list_content = True
    with_sys = _accepts(tokenizer, [_sys(_SYS)] + base, kw, fit.list_content)
    if with_sys is None and not fit.list_content:
        with_sys = _accepts(tokenizer, [_sys(_SYS)] + base, kw, list_content=True)
        if with_sys is not None and _SYS in with_sys:
            fit.list_content = True
    if with_sys is None or _SYS not in with_sys:
        fit.system = "fold"
    head = [_sys(_SYS)] if fit.system == "native" else []
    fit.merge_runs = _accepts(tokenizer, head + [_u(_U1), _u(_U2), _a(_A1)], kw, fit.list_content) is None
    fit.assistant_first = _accepts(tokenizer, head + [_a(_A1), _u(_U2), _a(_A2)], kw, fit.list_content) is not None
    prompt = _accepts(tokenizer, adapt(fit, [_u(_U1)]), kw, gen=True) or ""
    tail = prompt.rstrip(" ")
    if tail.rstrip("\n").endswith("<think>"):
        fit.prompt_suffix = ("" if tail.endswith("\n") else "\n") + "\n</think>\n\n"
    fit.generation_mask = bool(_GENERATION_TAG.search(source))
    return fit


def find_end_of_turn(tokenizer, fit: TemplateFit) -> str:
    """The special token the template puts right after an assistant turn's content."""
    marker = "\x01probe\x02"
    text = render_adapted(tokenizer, fit, adapt(fit, [_u(_U1), _a(marker)]))
    pos = text.rfind(marker)
    if pos < 0:
        raise ClonekitError("the base model's chat template drops assistant content; use --chat-template chatml")
    tail = text[pos + len(marker):]
    specials = sorted(set(tokenizer.all_special_tokens) | set(tokenizer.get_added_vocab()), key=len, reverse=True)
    for i in range(len(tail)):
        for tok in specials:
            if tok and tail.startswith(tok, i):
                return tok
    raise ClonekitError(
        "the base model's chat template ends assistant turns with no special token, so the model "
        "would never learn to stop; use --chat-template chatml")


def fit_of(tokenizer) -> TemplateFit:
    """The fit attached to this tokenizer (by prepare_tokenizer or from run.json), else probed now."""
    fit = getattr(tokenizer, _ATTR, None)
    if fit is None:
        fit = probe(tokenizer)
        attach(tokenizer, fit)
    return fit


def attach(tokenizer, fit: TemplateFit | dict | None) -> TemplateFit:
    fit = fit if isinstance(fit, TemplateFit) else (TemplateFit.from_dict(fit) if fit else probe(tokenizer))
    setattr(tokenizer, _ATTR, fit)
    return fit


# ------------------------------------------------------------------ per-turn renders
@dataclass
class PersonaTurn:
    index: int  # position in the adapted messages
    prompt: str  # exactly what chat sends before this reply
    reply: str  # the reply as the template renders it, through its end-of-turn token
    in_full: bool  # the full render holds prompt + reply at its start: labels go there

    @property
    def text(self) -> str:
        return self.prompt + self.reply


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def persona_turns(tokenizer, messages: list[dict], end_of_turn: str, fit: TemplateFit | None = None,
                  each_turn: bool = False) -> tuple[list[dict], str, list[PersonaTurn]]:
    """(adapted messages, full render, one PersonaTurn per persona turn that has a prompt).

    A turn is labelled inside the full render when the full render starts with this
    turn's prompt and reply (a prefix-stable template); otherwise (the template rewrites
    earlier turns, or its generation prompt differs from its training render) the turn is
    trained on its own text, prompt + reply, rendered as chat will render it.

    For a template the probe found prefix-stable this takes two renders per record, not
    two per persona turn (``each_turn`` forces the turn-by-turn renders)."""
    fit = fit or fit_of(tokenizer)
    msgs = adapt(fit, messages)
    full = render_adapted(tokenizer, fit, msgs)
    if not each_turn and not fit.rewrites and not fit.prompt_suffix:
        fast = _stable_turns(tokenizer, fit, msgs, full, end_of_turn)
        if fast is not None:
            return msgs, full, fast
    out = []
    for k, m in enumerate(msgs):
        if m["role"] != "assistant" or k == 0:
            continue
        prompt = render_adapted(tokenizer, fit, msgs[:k], add_generation_prompt=True)
        upto = render_adapted(tokenizer, fit, msgs[: k + 1])
        if upto.startswith(prompt):
            start = len(prompt)
        elif _SCAFFOLD.sub("", upto).startswith(_SCAFFOLD.sub("", prompt)):
            # A reasoning template: chat's prompt holds (empty) think scaffolding where the
            # training render of this turn has none; the reply is trained after chat's prompt.
            cp = _common_prefix(prompt, upto)
            body = content_text(m).strip()
            start = upto.rfind(body) if body else cp
            start = start if start >= cp else -1
            if start < 0:
                raise ClonekitError(f"the chat template drops persona turn {k + 1}'s text; use --chat-template chatml")
        else:
            cp = _common_prefix(prompt, upto)
            raise ClonekitError(
                f"the inference prompt differs from the training render at persona turn {k + 1} (prompt has "
                f"{prompt[cp:cp + 24]!r}, training has {upto[cp:cp + 24]!r}); use --chat-template chatml")
        end = upto.find(end_of_turn, start + len(content_text(m).strip()))
        if end < 0:
            raise ClonekitError(
                f"persona turn {k + 1} renders without the end-of-turn token {end_of_turn!r}: the model would never "
                "learn to stop; use --chat-template chatml")
        reply = upto[start: end + len(end_of_turn)]
        out.append(PersonaTurn(k, prompt, reply, full.startswith(prompt + reply)))
    return msgs, full, out


def generation_spans(tokenizer, fit: TemplateFit, messages: list[dict], full: str) -> list[tuple[int, int]] | None:
    """The character spans the template itself marks with {% generation %} in ``full`` (the
    render of adapted ``messages``), or None when it has no such marks or renders differently."""
    if not fit.generation_mask:
        return None
    from jinja2 import TemplateError
    from transformers.utils.chat_template_utils import render_jinja_template

    kwargs = {**tokenizer.special_tokens_map, **fit.template_kwargs}
    try:
        rendered, indices = render_jinja_template(conversations=[messages], chat_template=template_text(tokenizer),
                                                  return_assistant_tokens_mask=True, **kwargs)
    except _REFUSALS + (TemplateError,):  # the plain render worked; without marks clonekit's own spans are used
        return None
    if rendered[0] != full:
        return None
    return [(int(a), int(b)) for a, b in indices[0]]


def rewrites_earlier_turns(tokenizer, fit: TemplateFit, end_of_turn: str) -> bool:
    """True when a two-exchange dialogue's full render does not hold each persona turn as
    chat prompts for it (so those turns are trained as renders of their own)."""
    try:
        _m, _full, turns = persona_turns(tokenizer, [_sys(_SYS), _u(_U1), _a(_A1), _u(_U2), _a(_A2)], end_of_turn, fit,
                                         each_turn=True)
    except ClonekitError:
        return False
    return any(not t.in_full for t in turns)


def _stable_turns(tokenizer, fit: TemplateFit, msgs: list[dict], full: str, end_of_turn: str) -> list[PersonaTurn] | None:
    """persona_turns for a prefix-stable template in two renders instead of two per turn:
    every message's text is found in order in the full render; the last persona turn's
    prompt is rendered for real and gives the text between a prompt and its reply (" " for
    Mistral v0.3, "" mostly), which every earlier turn must show too. None when anything
    does not line up (then every turn is rendered on its own)."""
    found: list[tuple[int, int, int]] = []  # (message index, content start, content end)
    pos = 0
    for k, m in enumerate(msgs):
        body = content_text(m).strip()
        at = full.find(body, pos) if body else -1
        if at < 0:
            return None
        pos = at + len(body)
        if m["role"] == "assistant" and k > 0:
            found.append((k, at, pos))
    if not found:
        return []
    k_last, at_last, _ = found[-1]
    prompt = render_adapted(tokenizer, fit, msgs[:k_last], add_generation_prompt=True)
    if not full.startswith(prompt) or len(prompt) > at_last:
        return None
    gap = full[len(prompt):at_last]
    out = []
    for k, at, end_body in found:
        start = at - len(gap)
        eot = full.find(end_of_turn, end_body)
        if full[start:at] != gap or eot < 0 or any(b <= eot < e for _k, b, e in found if b > end_body):
            return None
        out.append(PersonaTurn(k, full[:start], full[start:eot + len(end_of_turn)], True))
    return out


def strip_think(text: str) -> str:
    """A reply without reasoning blocks (and without a dangling opened or closed think tag)."""
    if "<think>" not in text and "</think>" not in text:
        return text
    text = _THINK_BLOCK.sub("", text)
    if "</think>" in text:
        text = text.split("</think>", 1)[1]
    if "<think>" in text:
        text = text.split("<think>", 1)[0]
    return text.strip()


class ThinkFilter:
    """strip_think for a stream of text deltas: text inside <think>…</think> (and the
    whitespace after it) is never passed on; a delta ending in what may be the start of a
    tag is held back until the next one decides."""

    _OPEN, _CLOSE = "<think>", "</think>"

    def __init__(self) -> None:
        self.pending = ""
        self.inside = False
        self.after_block = False

    def feed(self, delta: str) -> str:
        self.pending += delta
        out = []
        while self.pending:
            tag = self._CLOSE if self.inside else self._OPEN
            at = self.pending.find(tag)
            if at >= 0:
                if not self.inside:
                    out.append(self.pending[:at])
                self.pending = self.pending[at + len(tag):]
                self.inside = not self.inside
                self.after_block = not self.inside
                continue
            keep = next((n for n in range(min(len(tag) - 1, len(self.pending)), 0, -1)
                         if tag.startswith(self.pending[-n:])), 0)
            text, self.pending = self.pending[:len(self.pending) - keep], self.pending[len(self.pending) - keep:]
            if not self.inside:
                out.append(text)
            break
        text = "".join(out)
        if self.after_block and text:
            text = text.lstrip()
            self.after_block = not text
        return text

    def flush(self) -> str:
        """What is still held back once the stream ends (an unfinished tag that was not one)."""
        text, self.pending = ("" if self.inside else self.pending), ""
        return text

    def wrap(self, on_text):
        """An on_text callback that only sees the text outside think blocks."""
        if on_text is None:
            return None

        def filtered(delta: str) -> None:
            text = self.feed(delta)
            if text:
                on_text(text)
        return filtered


def new_rows_trainable(model, old_rows: int, n_tokens: int, lora_targets: str | list[str] = "all-linear") -> dict:
    """LoraConfig arguments that train the embedding (and untied head) rows of tokens
    clonekit added to the vocabulary (the chatml/llama3 fallback): without them the new
    markers keep their random init and a real base may never learn to stop. Uses peft's
    trainable_token_indices (only those rows train and are saved with the adapter)."""
    if n_tokens <= old_rows:
        return {}
    ids = list(range(old_rows, n_tokens))
    names = {id(mod): name for name, mod in model.named_modules()}
    out = {names[id(model.get_input_embeddings())].rsplit(".", 1)[-1]: ids}
    head = model.get_output_embeddings()
    if head is not None and head.weight is not model.get_input_embeddings().weight and id(head) in names:
        head_name = names[id(head)].rsplit(".", 1)[-1]
        # A head that LoRA already targets (tiny-cpu) learns its new rows through LoRA's delta;
        # peft cannot wrap one module twice. "all-linear" leaves the head out.
        if not (isinstance(lora_targets, list) and head_name in lora_targets):
            out[head_name] = ids
    return {"trainable_token_indices": out}
