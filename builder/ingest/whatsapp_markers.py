"""Which WhatsApp bodies are media, deleted messages or events, in every language.

Two kinds of evidence, as CHAT_FORMATS.md §1.4-1.6 describes:

- signals the exports carry whatever the language:
  - iOS writes an LRM (U+200E) before the "[" of every line whose media was attached or
    omitted, and another one inside its body ("\u200eimage absente",
    "x.pdf • \u200e2 pages \u200edocument omis"): such a line is media;
  - an iOS body that starts with an LRM on a line that does not is an event (or a deleted
    message, a location or a poll, told apart below);
  - Android's "<Media omitted>" family is one bracketed phrase ("<Médias omis>",
    "<Медиа отсутствуют>"): a body that is nothing but a short bracketed run of words is
    media;
  - a location is "<word>: https://maps.google.com/?q=..." in every language; an attached
    file on Android is "IMG-20210428-WA0001.jpg (<word>)";
- tables of WhatsApp's own strings (whatsapp_locale_data.py, generated from the apps'
  string resources for ~95 languages, plus hand-kept additions in whatsapp_locale.py) for
  what carries no signal: Android deleted messages and missed calls, LRM-less copies.

Where neither a signal nor a table applies, the body stays text.

The checks are regexes (Rust syntax, case-insensitive) applied by Polars, first a cheap
prefilter on every body (EXACT_BODIES lookup plus two short anchored regexes), then the
detailed ones on the few rows it flags."""

from __future__ import annotations

import re

from builder.ingest.whatsapp_header import INVISIBLE_CLASS
from builder.ingest.whatsapp_locale import (
    ATTACHED_WORDS,
    COMMON_SYSTEM_PREFIXES,
    DELETED,
    DELETED_TEMPLATES,
    EDITED,
    IOS_ATTACHED_TEMPLATES,
    IOS_OMITTED,
    LIVE_LOCATION,
    LOCATION_WORDS,
    MEDIA_OMITTED,
    MISSED_CALLS,
    SYSTEM_PREFIXES,
    SYSTEM_TEMPLATES,
    alternation,
)

INVISIBLE_CHARS = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff\x0e\u061c"
STRIP = INVISIBLE_CHARS + " \t\u00a0\u202f"
_SP = r"[\s\u00a0\u202f\u200e\u200f]"  # spaces, and the LRMs iOS puts inside markers
_STRIP_RUN = f"[{STRIP}]*"
_END_PUNCT = r"[.。।۔]?"


def _alt(words: tuple[str, ...]) -> str:
    """Alternation of literal lower-case words, longest first (the detailed checks run on a
    lower-cased body: case-insensitive Unicode alternations of hundreds of phrases make
    Rust's lazy DFA thrash)."""
    return "(?:" + "|".join(re.escape(w) for w in sorted({w.lower() for w in words}, key=len, reverse=True)) + ")"


def template_alternation(templates: tuple[str, ...]) -> str:
    """Lower-cased templates with "%@" (a name, a file) as one alternation; spaces match any
    space-like run, ":" also the full-width colon."""
    alts = []
    for t in sorted({t.lower() for t in templates}, key=len, reverse=True):
        parts = []
        for piece in re.split(r"(%@| +|[:：])", t):
            if piece == "%@":
                parts.append(r".{1,120}?")
            elif piece.strip() == "" and piece:
                parts.append(f"{_SP}+")
            elif piece in (":", "："):
                parts.append(f"{_SP}*[:：]{_SP}*")
            elif piece:
                parts.append(re.escape(piece))
        alts.append("".join(parts))
    return "(?:" + "|".join(alts) + ")"


# --- detailed checks, on the stripped, lower-cased body of flagged rows ---------------------
# Two to five words of letters in brackets: "<Médias omis>", "<Медиа отсутствуют>" (one
# word alone is more often pasted markup such as "<script>").
_BRACKET_PHRASE = r"^< ?[\p{L}\p{M}][\p{L}\p{M}.'’\-]*(?:[ \u00a0][\p{L}\p{M}.'’\-]+){1,4} ?>$"
_LOCATION_URL = r"https?://(?:maps\.google\.[a-z.]+/|(?:www\.)?google\.[a-z.]+/maps|foursquare\.com/|maps\.apple\.com/)\S*"
_WA_FILE_LOW = r"(?:img|vid|ptt|aud|stk|doc|gif)-\d{8}-wa\d{4,}[^\s()]*"

DELETED_RE = (rf"^(?:{_alt(DELETED)}|{template_alternation(DELETED_TEMPLATES)}){_END_PUNCT}$")
MEDIA_RE = "|".join([
    rf"^<{_SP}*{_alt(MEDIA_OMITTED)}{_SP}*>$",  # Android "<Media omitted>" (table)
    _BRACKET_PHRASE,  # Android, any language (signal)
    rf"(?:^|{_SP}){_alt(IOS_OMITTED)}{_END_PUNCT}$",  # iOS "image omitted", "x.pdf document omitted"
    rf"^{template_alternation(IOS_ATTACHED_TEMPLATES)}$",  # iOS "<attached: 0001-PHOTO.jpg>", localized
    rf"^<{_SP}*{_alt(ATTACHED_WORDS)}{_SP}*[:：]{_SP}*[^<>]+>$",
    rf"^\S.*{_SP}<{_SP}*{_alt(ATTACHED_WORDS)}{_SP}*>$",  # "2015-08-04-PHOTO-1.jpg <attached>"
    rf"^\S.*{_SP}[(（]{_alt(ATTACHED_WORDS)}[)）]$",  # "IMG-2021-WA0001.jpg (file attached)"
    rf"^{_WA_FILE_LOW}{_SP}+[(（][^()（）]{{1,40}}[)）]$",  # the same, any language (signal)
    rf"^<[^<>:：]{{1,30}}[:：]{_SP}*(?:{_WA_FILE_LOW}|\d{{8}}-[a-z]+-\d{{4}}(?:-\d{{2}}){{5}}\S*)>$",  # "<angehängt: PTT-…>"
    rf"^{_alt(LOCATION_WORDS)}{_SP}*[:：]{_SP}*https?://\S+$",  # "location: https://maps..."
    rf"^[^\n:：]{{1,40}}[:：]{_SP}*{_LOCATION_URL}$",  # any language (signal)
    rf"^{_alt(LIVE_LOCATION)}{_END_PUNCT}$",
    r"^null$",  # Android view-once media
])
DELETED_TEMPLATE_RE = rf"^{template_alternation(DELETED_TEMPLATES)}{_END_PUNCT}$"  # "... by admin %@"
LOCATION_RE = "|".join([  # the location forms of MEDIA_RE alone (for iOS events)
    rf"^{_alt(LOCATION_WORDS)}{_SP}*[:：]{_SP}*https?://\S+$",
    rf"^[^\n:：]{{1,40}}[:：]{_SP}*{_LOCATION_URL}$",
    rf"^{_alt(LIVE_LOCATION)}{_END_PUNCT}$",
])
# What an iOS event-shaped body (an LRM opens it, none the line) can be besides an event:
# a location, or an attachment written by older iOS versions without the line's LRM
# ("\u200e<attached: 00000046-PHOTO-….jpg>", "2015-08-04-PHOTO-1.jpg <attached>"), in any language.
IOS_EVENT_MEDIA_RE = "|".join([
    LOCATION_RE,
    r"^<[^<>\n:：]{1,40}[:：][^<>\n]*>$",
    rf"^\S+\.[a-z0-9]{{2,5}}{_SP}+<[^<>\n]{{1,30}}>$",
])
VENUE_MORE_RE = rf"^[^\n]{{1,200}}\n{_LOCATION_URL}\n*$"  # the 2 lines after a venue's name
# Group events of old Android exports, written with the exporter as author (seen in a real
# 2013 export: "Tanay: Viresh joined", "Tanay: Changed the group icon"); lower-cased bodies.
OLD_ANDROID_EVENT_RE = (r"(?i)^(?:changed the group icon|changed the subject to .{1,100}"
                        r"|[^:\n]{1,60}? (?:joined|left|was removed|was added|changed the group icon"
                        r"|changed the subject to [“\"].{0,100}[”\"]))$")
SYSTEM_RE = (rf"^(?:{_alt(SYSTEM_PREFIXES)}|{template_alternation(SYSTEM_TEMPLATES)}"
             rf"|{_alt(MISSED_CALLS)}{_END_PUNCT}$)")
_POLL_WORDS = ("POLL", "ENCUESTA", "UMFRAGE", "SONDAGE", "SONDAGGIO", "ENQUETE", "PEILING", "ОПРОС", "ANKETA",
               "ANKIETA", "JAJAK PENDAPAT", "アンケート", "投票", "설문")
POLL_WORD = rf"(?i:{'|'.join(_POLL_WORDS)})[:：]"
POLL_RE = rf"^{_alt(_POLL_WORDS)}[:：]"
# A trailing edit marker: from the table, or on iOS any "<...>" set off by an LRM.
EDITED_RE = rf"(?:{_SP}|{INVISIBLE_CLASS})*<{alternation(EDITED)}\.?>$"
IOS_EDITED_RE = rf"{_SP}*\u200e<[^<>\n\u200e]{{3,60}}>$"
INVISIBLE_START = f"^{INVISIBLE_CLASS}"
INVISIBLES = f"{INVISIBLE_CLASS}+"

# --- the prefilter, on every body --------------------------------------------------------
# Two regexes, one anchored at each end, fail within a few characters on ordinary text; the
# long tables (deleted texts, missed calls) are looked up as whole bodies instead (a hash
# lookup per row, where an alternation of hundreds of phrases would slow every row).
MAYBE_SPECIAL_START = (  # also any body that starts with an invisible mark (to strip; iOS events)
    f"^(?:{INVISIBLE_CLASS}|{_STRIP_RUN}(?:<|null$|(?i:{_WA_FILE_LOW})|{alternation(LOCATION_WORDS)}{_SP}*[:：]"
    f"|{alternation(COMMON_SYSTEM_PREFIXES)}|{POLL_WORD}))"
)
MAYBE_SPECIAL_END = (
    rf"(?:{alternation(IOS_OMITTED)}{_END_PUNCT}|<{_SP}*{alternation(ATTACHED_WORDS)}{_SP}*>"
    rf"|[(（]{alternation(ATTACHED_WORDS)}[)）]|{_LOCATION_URL}){_STRIP_RUN}$"
)


def _variants(words: tuple[str, ...]) -> set[str]:
    out: set[str] = set()
    for w in words:
        for v in (w, w.lower(), w[:1].upper() + w[1:], w.capitalize()):
            out.update((v, v + ".", v + "。"))
    return out


# Whole lower-cased bodies (trailing period dropped) decided by lookup, before any regex:
# the common markers (deleted, "<Media omitted>", missed calls) never reach the regexes.
END_MARKS = ".。।۔"  # stripped from the end of a body (and of the table entries) before lookups


def _keys(words) -> set[str]:
    return {w.lower().rstrip(END_MARKS) for w in words}


EXACT_DELETED: list[str] = sorted(_keys(DELETED))
EXACT_MEDIA: list[str] = sorted({f"<{w.lower()}>" for w in MEDIA_OMITTED} | _keys(IOS_OMITTED + LIVE_LOCATION) | {"null"})
EXACT_SYSTEM: list[str] = sorted(_keys(MISSED_CALLS))

# Whole bodies that are (or start) a marker, as WhatsApp writes them (any case variant).
EXACT_BODIES: list[str] = sorted(
    _variants(DELETED + MISSED_CALLS + LIVE_LOCATION)
    | {f"<{w}>" for w in _variants(MEDIA_OMITTED)}
)
