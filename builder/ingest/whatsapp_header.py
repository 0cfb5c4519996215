"""Find the one timestamp-header pattern a WhatsApp export uses, and compile it.

Detection runs in Python on a sample of lines (the file's start plus slices spread through
it), normalized as CHAT_FORMATS.md §1.9 recommends: invisible marks removed, NBSP / NNBSP
turned into spaces, Arabic-Indic and Persian digits into ASCII, the Arabic comma into ",".
Each sample line that looks like a header yields a *template*: brackets, field order
(date or time first), date separator, the literal text between date and time ("", ", ",
" klo ", " à ", " - "), time separator, seconds, meridiem position, trailing dots and the
literal that ends the header ("] ", " - ", ": ", "; ", " "). The most frequent template wins.

The winning template is compiled into ONE regex (Rust syntax, for Polars) that tolerates
invisible marks and space variants where exports put them, but otherwise accepts only this
exact header shape. Only lines matching it start messages, so a body line such as
"2016-04-29 10:30:00" or "OPTION: 2:00 (1 vote)" stays part of its message."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from builder.ingest.whatsapp_locale import AM_WORDS, PM_WORDS, meridiem_key, meridiem_regex

# Invisible marks exports put around headers and names (LRM, RLM, LRE..RLO, LRI..PDI, BOM,
# the corrupted-LRM control U+000E, ARABIC LETTER MARK).
INVISIBLE_CLASS = "[\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\x0e\u061c]"
_INVISIBLE_RE = re.compile(INVISIBLE_CLASS)
_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2007": " ", "\u060c": ","})
DIGIT_MAP = {chr(0x0660 + i): str(i) for i in range(10)} | {chr(0x06F0 + i): str(i) for i in range(10)}
_DIGITS = str.maketrans(DIGIT_MAP)

ERA_LETTERS = "MTSHR"  # Japanese eras Meiji, Taisho, Showa, Heisei, Reiwa ("R4" = 2022)


# One table for all three (disjoint) replacements: invisible marks dropped, spaces, digits.
_NORMALIZE = str.maketrans(
    {"\u200e": None, "\u200f": None, "\ufeff": None, "\x0e": None, "\u061c": None}
    | {chr(c): None for c in range(0x202A, 0x202F)} | {chr(c): None for c in range(0x2066, 0x206A)}
    | {"\u00a0": " ", "\u202f": " ", "\u2007": " ", "\u060c": ","} | DIGIT_MAP
)


def normalize(line: str) -> str:
    """The comparison copy of a line used for detection (never for output)."""
    if line.isascii() and "\x0e" not in line:  # most lines: nothing to replace
        return line
    return line.translate(_NORMALIZE)


_MER_PY = meridiem_regex(" ")
# Every meridiem word starts with a letter: the cheap "(?=[^\W\d_])" guard spares Python's
# re trying each alternative of _MER_PY where a digit or punctuation follows (same matches).
_LETTER = r"(?=[^\W\d_])"
_WORD_INFIX = rf"{_LETTER}(?!{_MER_PY})[^\W\d_]{{1,6}}\.?"  # "klo", "à", "um", "alle" (never AM/PM)
_DATE = (
    r"(?P<d1>\d{1,4})(?P<ds>[./\-,])(?P<dsp> ?)(?P<d2>\d{1,4})(?P=ds)(?P=dsp)"
    rf"(?P<d3>[{ERA_LETTERS}]?\d{{1,4}})(?P<era> ?B\.?E\.?)?(?P<ddot>\.)?"
)
_TIME = (
    rf"(?P<mpre>{_LETTER}{_MER_PY} ?)?(?P<h>\d{{1,2}})(?P<ts>[:.])(?P<mi>\d{{1,2}})"
    rf"(?:(?P=ts)(?P<s>\d{{1,2}}))?(?P<tdot>\.)?(?P<mpost> ?{_LETTER}{_MER_PY})?"
)
_END = r"(?P<end> ?\] ?| +- | +-$|: |:$|; | )"
_DATE_FIRST = re.compile(
    rf"^(?P<open>\[ ?)?{_DATE}(?P<join> ?- |,? ?(?:{_WORD_INFIX} )?|,){_TIME}{_END}"
)
_TIME_FIRST = re.compile(rf"^(?P<open>\[ ?)?{_TIME}(?P<join>, ?| ){_DATE}{_END}")


@dataclass(frozen=True)
class Template:
    bracket: bool
    time_first: bool
    date_sep: str
    date_space: bool
    era: bool
    date_dot: bool
    join: str
    time_sep: str
    seconds: bool
    meridiem: str  # "", "pre" or "post"
    era_letter: bool  # Japanese-era year ("R4")
    time_dot: bool
    end: str


def template_of(line: str) -> Template | None:
    """The header template of one normalized line, or None if it has no header."""
    m = _DATE_FIRST.match(line)
    time_first = False
    if m is None:
        m = _TIME_FIRST.match(line)
        time_first = True
        if m is None:
            return None
    opener, end, mpre, mpost, ds, dsp, era, ddot, join, ts, sec, d3, tdot = m.group(
        "open", "end", "mpre", "mpost", "ds", "dsp", "era", "ddot", "join", "ts", "s", "d3", "tdot")
    if opener and "]" not in end:
        return None
    if not opener and "]" in end:
        return None
    if (mpre or mpost) and not _is_meridiem(mpre or mpost):
        return None
    fields = (
        bool(opener), time_first, ds, bool(dsp), bool(era), bool(ddot), join, ts, sec is not None,
        "pre" if mpre else "post" if mpost else "", d3[:1].isalpha(), bool(tdot), end.strip() or " ",
    )  # Template's fields, in order
    # Most lines of a file share one template: building the (frozen) dataclass is the
    # costly part, so each distinct template is built once.
    t = _TEMPLATES.get(fields)
    if t is None:
        t = Template(*fields)
        if len(_TEMPLATES) < 4096:
            _TEMPLATES[fields] = t
    return t


_TEMPLATES: dict[tuple, Template] = {}


_MERIDIEM_KEYS = frozenset(meridiem_key(w) for w in AM_WORDS + PM_WORDS)


def _is_meridiem(word: str) -> bool:
    return meridiem_key(word) in _MERIDIEM_KEYS


def sample_lines(text: str | bytes, head_chars: int = 65_536, slices: int = 16, slice_chars: int = 4_096) -> list[str]:
    """The file's first ``head_chars`` plus ``slices`` windows spread through the rest,
    split into whole lines (the partial first line of each window is dropped). For UTF-8
    bytes the sizes count bytes; a character cut at a window's edge is in a dropped line."""
    if isinstance(text, bytes):
        return [line.decode("utf-8", "replace") for line in _sample(text, head_chars, slices, slice_chars)]
    return _sample(text, head_chars, slices, slice_chars)


def _sample(text, head_chars: int, slices: int, slice_chars: int) -> list:
    sep = "\n" if isinstance(text, str) else b"\n"
    lines = text[:head_chars].split(sep)
    if len(text) > head_chars:
        lines = lines[:-1]
        step = (len(text) - head_chars) // slices
        for i in range(slices):
            start = head_chars + i * step
            window = text[start : start + slice_chars].split(sep)
            lines.extend(window[1:-1])
    return lines


@lru_cache(maxsize=8192)
def line_template(line: str) -> Template | None:
    """The template of one raw line (cached: detection and the fast path's plan both look
    at the same sample lines)."""
    return template_of(normalize(line.rstrip("\r")))


def detect_template(lines: list[str]) -> tuple[Template | None, int]:
    """The most frequent template among the lines, and how many lines had it."""
    counts: Counter[Template] = Counter()
    for line in lines:
        t = line_template(line)
        if t is not None:
            counts[t] += 1
    if not counts:
        return None, 0
    template, n = counts.most_common(1)[0]
    return template, n


# --- the strict regex (Rust syntax, run by Polars) -------------------------------------
_I = INVISIBLE_CLASS + "*"
_SP = r"[\s\u00a0\u202f]"
_DIG = r"[0-9\u0660-\u0669\u06f0-\u06f9]"
_MER_RS = meridiem_regex(_SP)
NON_DIGITS = r"[^0-9\u0660-\u0669\u06f0-\u06f9]+"
# The meridiem word inside a matched header (a word on its own, not part of a name).
MERIDIEM_IN_HEADER = rf"(?:^|[\s\d\[.\u00a0\u202f])({_MER_RS})(?:[\s\]\-:;,.0-9\u0660-\u0669]|$)"


def _literal(text: str) -> str:
    """A template literal as a regex: spaces of any kind (one or more), "," also as the
    Arabic comma, invisible marks allowed around it."""
    out = []
    for ch in text:
        if ch == " ":
            out.append(f"{_SP}+")
        elif ch == ",":
            out.append("[,\u060c]")
        else:
            out.append(re.escape(ch))
    return _I + "".join(out) + _I


def compile_template(t: Template, meridiem_required: bool = False) -> str:
    """The one header regex of a file, matching the header at the start of a line (the
    body follows the match). It has no capture groups: Polars finds match spans with a
    DFA, which is several times faster than extracting groups. ``meridiem_required``: only
    the headers of this shape that carry an AM/PM word (which ones need reading as 12-hour)."""
    sep = re.escape(t.date_sep) + (f"{_SP}+" if t.date_space else "")
    date = (
        f"(?P<d1>{_DIG}{{1,4}}){_I}{sep}{_I}(?P<d2>{_DIG}{{1,4}}){_I}{sep}{_I}"
        f"(?P<d3>[{ERA_LETTERS}]?{_DIG}{{1,4}})"
        + (rf"{_SP}?(?P<era>B\.?E\.?)" if t.era else "")
        + (r"\." if t.date_dot else "")
    )
    ts = re.escape(t.time_sep)
    time = f"(?P<h>{_DIG}{{1,2}}){ts}(?P<mi>{_DIG}{{1,2}})"
    if t.seconds:
        time += f"{ts}(?P<s>{_DIG}{{1,2}})"
    if t.time_dot:
        time += r"\."
    if t.meridiem == "pre":
        time = f"(?P<mer>{_MER_RS}){_SP}?" + time
    elif meridiem_required and meridiem_optional(t):
        time = time + f"{_SP}?(?P<mer>{_MER_RS})"
    elif t.meridiem == "post":
        time = time + f"(?:{_SP}?(?P<mer>{_MER_RS}))?"
    elif t.end != " ":
        # Some exports switch between 12- and 24-hour clocks part-way (the phone's setting
        # changed): the meridiem is optional either way, so no header is glued onto the
        # previous message. (Not where a bare space ends the header: "21:25:15 am: hi".)
        time = time + f"(?:{_SP}?(?P<mer>{_MER_RS}))?"
    join = _literal(t.join) if t.join else _I
    first, second = (time, date) if t.time_first else (date, time)
    opener = rf"\[{_I}" if t.bracket else ""
    if t.end == "]":
        end = rf"{_I}{_SP}?\](?:{_SP}|$)"
    elif t.end == " ":
        end = f"{_SP}+"
    else:  # "-", ":", ";"
        lead = f"{_SP}+" if t.end == "-" else ""
        end = f"{_I}{lead}{re.escape(t.end)}(?:{_SP}|$)"
    return re.sub(r"\(\?P<\w+>", "(?:", f"^{_I}{opener}{first}{join}{second}{end}")


def meridiem_optional(t: Template) -> bool:
    """Whether compile_template lets a header of this template carry a meridiem or not."""
    return t.meridiem == "post" or (t.meridiem == "" and t.end != " ")


def describe(t: Template) -> str:
    """A short human description of a template, e.g. for error hints and logs."""
    shape = f"{'time, date' if t.time_first else 'date, time'} with '{t.date_sep}' dates"
    return f"{'[bracketed] ' if t.bracket else ''}{shape}, header ends with '{t.end}'"
