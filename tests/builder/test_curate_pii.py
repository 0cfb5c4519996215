from __future__ import annotations

import polars as pl
import pytest

from builder.curate import pii

ALL = ["email", "phone", "url", "card", "iban"]


def redact(texts, types=ALL):
    out, counts = pii.redact_column(pl.DataFrame({"t": texts}), "t", types)
    return out["t"].to_list(), counts


def test_typed_placeholders_and_counts():
    out, counts = redact([
        "mail bob.smith@example.com or see https://example.org/a?b=1.",
        "call +44 20 7946 0958, +1 (555) 123-4567, 555-123-4567 or 06 12 34 56 78",
        "card 4111 1111 1111 1111 and 5500-0000-0000-0004",
        "iban GB82 WEST 1234 5698 7654 32 / DE89370400440532013000",
    ])
    assert out == [
        "mail <EMAIL> or see <URL>.",
        "call <PHONE>, <PHONE>, <PHONE> or <PHONE>",
        "card <CARD> and <CARD>",
        "iban <IBAN> / <IBAN>",
    ]
    assert counts == {"url": 1, "email": 1, "iban": 2, "card": 2, "phone": 4}


def test_checksums_reject_look_alikes():
    out, counts = redact(["card 4111 1111 1111 1112", "iban GB82WEST12345698765433"])
    assert out == ["card 4111 1111 1111 1112", "iban GB82WEST12345698765433"]
    assert counts["card"] == 0 and counts["iban"] == 0


@pytest.mark.parametrize("text", [
    "meet at 10:30 or 14:45:10", "on 2023-01-05 or 12/05/2023 or 5.1.2024", "I owe 1000000 dollars",
    "pi is 3.14159", "order 1234567890", "score 3-2", "version 1.2.3", "room 101, 2nd floor", "year 1999 to 2024",
])
def test_no_false_positives_on_ordinary_numbers(text):
    out, counts = redact([text])
    assert out == [text]
    assert sum(counts.values()) == 0


def test_only_selected_types():
    out, _ = redact(["a@b.com +44 20 7946 0958"], ["email"])
    assert out == ["<EMAIL> +44 20 7946 0958"]


def test_validators():
    assert pii.luhn_ok("4111111111111111") and not pii.luhn_ok("4111111111111112")
    assert not pii.luhn_ok("0000000000000000")
    assert pii.iban_ok("GB82 WEST 1234 5698 7654 32") and not pii.iban_ok("GB82 WEST 1234 5698 7654 33")
