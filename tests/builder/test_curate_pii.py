from __future__ import annotations

import polars as pl
import pytest

from builder.curate import pii

ALL = list(pii.TYPES)
US_GB = pii.PiiOptions(regions=("US", "GB"), locale_region=False)


def redact(texts, types=ALL, options=US_GB, chats=None):
    df = pl.DataFrame({"t": texts} if chats is None else {"t": texts, "chat": chats})
    out, counts = pii.redact_column(df, "t", types, options=options)
    return out["t"].to_list(), counts


def test_typed_placeholders_and_counts():
    out, counts = redact([
        "mail bob.smith@example.com or see https://example.org/a?b=1.",
        "call +44 20 7946 0958, +1 (201) 555-0123, 201-555-0123 or 07400 123456",
        "card 4111 1111 1111 1111 and 5500-0000-0000-0004",
        "iban GB82 WEST 1234 5698 7654 32 / DE89370400440532013000",
        "server 192.168.1.20 and 2001:db8::8a2e:370:7334",
    ])
    assert out == [
        "mail <EMAIL> or see <URL>.",
        "call <PHONE>, <PHONE>, <PHONE> or <PHONE>",
        "card <CARD> and <CARD>",
        "iban <IBAN> / <IBAN>",
        "server <IP> and <IP>",
    ]
    assert counts == {"url": 1, "email": 1, "iban": 2, "card": 2, "phone": 4, "ip": 2}


def test_the_cross_row_corruption_case():
    # the old implementation cut the number found in row 1 out of the middle of row 2
    # ("ticket 1<PHONE>8 closed"); each row is now only changed where its own match is
    texts = ["call me at 555-123-4567", "ticket 1555-123-45678 closed"]
    out, _ = redact(texts)
    assert out[1] == "ticket 1555-123-45678 closed"
    out, counts = redact(["call me at 201-555-0123", "ticket 1201-555-01234 closed", "ref 9201-555-0123x"])
    assert out == ["call me at <PHONE>", "ticket 1201-555-01234 closed", "ref 9201-555-0123x"]
    assert counts["phone"] == 1


def test_checksums_reject_look_alikes():
    out, counts = redact(["card 4111 1111 1111 1112", "iban GB82WEST12345698765433"])
    assert out == ["card 4111 1111 1111 1112", "iban GB82WEST12345698765433"]
    assert counts["card"] == 0 and counts["iban"] == 0


@pytest.mark.parametrize("text", [
    "meet at 10:30 or 14:45:10", "on 2023-01-05 or 12/05/2023 or 5.1.2024", "I owe 1000000 dollars",
    "pi is 3.14159", "order 1234567890", "score 3-2", "version 1.2.3", "room 101, 2nd floor", "year 1999 to 2024",
    "meet at 14:30 on 12.03.2024", "it was $1,299.00", "USD 12500000 raised", "upgrade to v10.0.19041.1",
    "parcel 1Z999AA10123456784", "tracking 9400 1000 0000 0000 0000 00", "order #123456789",
    "ref 20240312-001", "about 635 000 000 people", "see main.py and report.zip", "ok.so what now",
    "isbn 978-3-16-148410-0", "https://example.com/orders/4111111111111111 is a link, not a card",
])
def test_no_false_positives_on_ordinary_numbers(text):
    types = ALL if "https" not in text else [t for t in ALL if t != "url"]
    out, counts = redact([text], types)
    assert out == [text]
    assert sum(counts.values()) == 0


def test_only_selected_types():
    out, _ = redact(["a@b.com +44 20 7946 0958"], ["email"])
    assert out == ["<EMAIL> +44 20 7946 0958"]


def test_validators():
    assert pii.luhn_ok("4111111111111111") and not pii.luhn_ok("4111111111111112")
    assert not pii.luhn_ok("0000000000000000")
    assert pii.iban_ok("GB82 WEST 1234 5698 7654 32") and not pii.iban_ok("GB82 WEST 1234 5698 7654 33")
    assert pii.iban_ok("gb82-west-1234-5698-7654-32")


def test_nothing_to_find_returns_the_frame_unchanged():
    df = pl.DataFrame({"t": ["hello", "", None]})
    out, counts = pii.redact_column(df, "t", ALL)
    assert out["t"].to_list() == ["hello", "", None]
    assert counts == {k: 0 for k in ALL}


def test_text_holding_the_split_marker_is_still_cut_right():
    texts = ["a\x00b call +44 20 7946 0958 \x00", "\ufdd0 x@y.org"]
    out, counts = redact(texts)
    assert out == ["a\x00b call <PHONE> \x00", "\ufdd0 <EMAIL>"]
    assert counts["phone"] == 1 and counts["email"] == 1
