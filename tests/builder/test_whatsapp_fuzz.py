"""Fuzz: random text and mutated export lines into the WhatsApp parser never raise anything
but ParseError, and whatever parses satisfies the Message contract."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.errors import ParseError
from builder.ingest import whatsapp
from builder.ingest.base import Document
from builder.schema import KINDS, MESSAGE_SCHEMA

SEED_LINES = [
    "23/03/2022, 13:31 - Robin: hi there",
    "23/03/2022, 13:31 - Messages and calls are end-to-end encrypted.",
    "3/6/18, 1:55\u202fPM - Kim: <Media omitted>",
    "[3/18/22, 14:56:01] Trip: \u200eMessages and calls are end-to-end encrypted.",
    "\u200e[3/18/22, 14:57:00] Robin: \u200eimage omitted",
    "[14:56:01, 3/18/22] Musk Elon: xin chào",
    "٢٤\u200f/٤\u200f/٢٠٢٢، ٢:٠٧ م - عمار: السلام",
    "[3/18/2565 BE, 14:56:01] a: b",
    "[3/18/R4, 14:56:01] a: b",
    "13.6.2018 klo 21.25.15 - a: m",
    "2019-04-27 24:35 - shin: bacon",
    "2019-04-27 10:60 - goku: more",
    "John Doe:.",
    "continuation line",
    "",
    "OPTION: 2:00 (1 vote)",
]

ALPHABET = st.sampled_from(list("0123456789/.:-,[] aApPmM\u200e\u200f\u202f\u00a0\n\r~:<>٠١٢٣RBE"))


def _parse(text: str) -> None:
    try:
        df = whatsapp.parse([Document(name="fuzz.txt", text=text, chat_hint=None)], lambda m: None)
    except ParseError:
        return
    assert df.schema == MESSAGE_SCHEMA
    assert df["timestamp"].null_count() == 0
    assert set(df["kind"].unique()) <= set(KINDS)
    assert df["chat"].null_count() == 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    _parse(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=ALPHABET, max_size=200))
def test_header_alphabet_soup(text: str) -> None:
    _parse(text)


@st.composite
def mutated_export(draw: st.DrawFn) -> str:
    lines = draw(st.lists(st.sampled_from(SEED_LINES), min_size=1, max_size=12))
    out = []
    for line in lines:
        if line and draw(st.booleans()):
            i = draw(st.integers(0, len(line) - 1))
            op = draw(st.sampled_from(["delete", "insert", "replace", "cut"]))
            ch = draw(st.characters())
            if op == "delete":
                line = line[:i] + line[i + 1:]
            elif op == "insert":
                line = line[:i] + ch + line[i:]
            elif op == "replace":
                line = line[:i] + ch + line[i + 1:]
            else:
                line = line[:i]
        out.append(line)
    return draw(st.sampled_from(["\n", "\r\n"])).join(out)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_export())
def test_mutated_fixture_lines(text: str) -> None:
    _parse(text)


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_decoded(data: bytes) -> None:
    _parse(data.decode("latin-1"))
