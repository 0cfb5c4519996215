"""Each kind of PII issue 13 added: national phone formats with regions inferred per chat,
extensions, IDN e-mail domains, bare domains, IBAN in any case, cards by IIN, IPs, and
consistent placeholders."""

from __future__ import annotations

import polars as pl
import pytest

from builder.curate import pii

ALL = list(pii.TYPES)
NO_LOCALE = pii.PiiOptions(locale_region=False)


def redact(texts, chats=None, options=NO_LOCALE, types=ALL):
    df = pl.DataFrame({"text": texts, "chat": chats or ["c"] * len(texts)})
    out, counts = pii.redact_column(df, "text", types, options=options)
    return out["text"].to_list(), counts


@pytest.mark.parametrize("region,national", [
    ("GB", "07400 123456"), ("US", "(201) 555-0123"), ("DE", "030 123456"), ("FR", "01 23 45 67 89"),
    ("JP", "03-1234-5678"), ("BR", "(11) 96123-4567"), ("AU", "0412 345 678"), ("TR", "0501 234 56 78"),
    ("CN", "010 1234 5678"), ("IN", "081234 56789"), ("RU", "8 (912) 345-67-89"), ("BE", "012.34.56.78"),
])
def test_national_numbers_in_the_regions_of_their_chat(region, national):
    import phonenumbers as pn

    intl = pn.format_number(pn.parse(national, region), pn.PhoneNumberFormat.INTERNATIONAL)
    texts = [f"my old number {intl}", f"new one: {national} call me", f"new one: {national} call me"]
    # the +CC number in the same chat says which country the national number is from;
    # another chat falls back on the countries seen anywhere in the export
    out, counts = redact(texts, chats=["a", "a", "b"])
    assert out == ["my old number <PHONE>", "new one: <PHONE> call me", "new one: <PHONE> call me"]
    # alone, with no +CC number anywhere, a national number has nothing to be read by ...
    assert redact(texts[2:])[0] == texts[2:]
    # ... unless [pii] regions says where the user's contacts are
    out, _ = redact(texts[2:], options=pii.PiiOptions(regions=(region,), locale_region=False))
    assert out == ["new one: <PHONE> call me"]
    out, _ = redact(texts, chats=["a", "a", "b"], options=pii.PiiOptions(infer_regions=False, locale_region=False))
    assert out == ["my old number <PHONE>"] + texts[1:]


def test_locale_region_is_the_last_guess(monkeypatch):
    monkeypatch.setenv("LC_ALL", "")
    monkeypatch.setenv("LC_MESSAGES", "")
    monkeypatch.setenv("LANG", "en_GB.UTF-8")
    assert pii.locale_region() == "GB"
    out, _ = redact(["ring 07400 123456"], options=pii.PiiOptions())
    assert out == ["ring <PHONE>"]
    monkeypatch.setenv("LANG", "C.UTF-8")
    assert pii.locale_region() is None


@pytest.mark.parametrize("text,want", [
    ("07400 123456 ext. 12 is the office", "<PHONE> is the office"),
    ("ring 07400 123456 x12 later", "ring <PHONE> later"),
    ("+44 20 7946 0958 ext 4", "<PHONE>"),
])
def test_extensions_are_part_of_the_number(text, want):
    out, _ = redact([text], options=pii.PiiOptions(regions=("GB",), locale_region=False))
    assert out == [want]


def test_two_numbers_side_by_side_are_two_numbers():
    out, counts = redact(["Nummern: 01512 3456789 030 123456."], options=pii.PiiOptions(regions=("DE",), locale_region=False))
    assert out == ["Nummern: <PHONE> <PHONE>."] and counts["phone"] == 2


def test_reserved_fiction_numbers_with_country_code_are_still_phones():
    # +44 7700 900xxx is Ofcom's range for drama: not "valid", but written with +CC it is a number
    out, _ = redact(["landlord is +44 7700 900610 ☕"])
    assert out == ["landlord is <PHONE> ☕"]


@pytest.mark.parametrize("text,want", [
    ("écris à josé@bücher.de stp", "écris à <EMAIL> stp"),
    ("mail 用户@例子.中国 ok", "mail <EMAIL> ok"),
    ("ANNA.SMITH+NEWS@EXAMPLE.CO.UK.", "<EMAIL>."),
])
def test_idn_and_upper_case_emails(text, want):
    assert redact([text])[0] == [want]


@pytest.mark.parametrize("text,want", [
    ("see example.com/path.", "see <URL>."),
    ("see bbc.co.uk", "see <URL>"),
    ("bücher.de#top has it", "<URL> has it"),
    ("(more at github.com/a/b?c=1)", "(more at <URL>)"),
    ("www.example.org, then", "<URL>, then"),
    ("see main.py and clip.mov", "see main.py and clip.mov"),  # file names whose extension is a TLD
    ("ok.so what", "ok.so what"),
    ("end.Next time", "end.Next time"),  # a missing space after a full stop
    ("see.you tomorrow", "see.you tomorrow"),  # .you is a (2014) TLD, but not without a path
    ("see.you/later", "<URL>"),
    ("on amazon.de or bbc.co.uk", "on <URL> or <URL>"),
])
def test_bare_domains(text, want):
    assert redact([text])[0] == [want]


@pytest.mark.parametrize("text,want", [
    ("iban de89 3704 0044 0532 0130 00 thx", "iban <IBAN> thx"),
    ("IBAN DE89-3704-0044-0532-0130-00", "IBAN <IBAN>"),
    ("IBAN DE89 3704 0044 0532 0130 00 ok", "IBAN <IBAN> ok"),  # a short word after it is not eaten
    ("RIB FR14 2004 1010 0505 0001 3M02 606", "RIB <IBAN>"),
    ("be21 2222 2623 2645", "<IBAN>"),
])
def test_iban_any_case_spaces_dashes(text, want):
    assert redact([text])[0] == [want]


@pytest.mark.parametrize("number,is_card", [
    ("6759 6498 2643", None),          # 12 digits: Maestro range, decided by Luhn below
    ("4242 4242 4242 4242", True),     # Visa (Stripe's test number)
    ("3782 822463 10005", True),       # Amex, 4-6-5
    ("6200 0000 0000 0005", True),     # UnionPay
    ("4000 0000 0000 0000 006", True), # 19-digit Visa range
    ("7489 1234 5678 9012", False),    # no card scheme starts with 7
])
def test_cards_by_luhn_and_iin(number, is_card):
    from builder.curate.pii_detect import card_ok, luhn_ok

    digits = number.replace(" ", "")
    if is_card is None:  # build a Luhn-valid 12-digit Maestro number from the prefix
        body = digits[:11]
        check = next(d for d in "0123456789" if luhn_ok(body + d))
        number = f"{body[:4]} {body[4:8]} {body[8:]}{check}"
        is_card = True
    if is_card:
        assert luhn_ok(number.replace(" ", ""))
    assert card_ok(number) is is_card
    out, _ = redact([f"card {number} thanks"], types=["card"])
    assert out == (["card <CARD> thanks"] if is_card else [f"card {number} thanks"])


def test_a_long_tracking_number_is_not_a_card():
    # the old implementation took a 16-digit prefix of a 20-digit tracking number for a card
    out, _ = redact(["parcel 42424242424242420000 arrives", "parcel 4242 4242 4242 4242 0000 arrives"])
    assert out == ["parcel 42424242424242420000 arrives", "parcel 4242 4242 4242 4242 0000 arrives"]


@pytest.mark.parametrize("text,want", [
    ("ssh to 10.0.0.12 now", "ssh to <IP> now"),
    ("v6 2001:0db8:85a3:0000:0000:8a2e:0370:7334.", "v6 <IP>."),
    ("loopback ::1 and fe80::1ff:fe23:4567:890a", "loopback <IP> and <IP>"),
    ("version v1.2.3.4 and 10.0.19041.1", "version v1.2.3.4 and 10.0.19041.1"),
    ("meet 14:30:00 today", "meet 14:30:00 today"),
    ("999.1.1.1 is no address", "999.1.1.1 is no address"),
])
def test_ip_addresses(text, want):
    assert redact([text])[0] == [want]


def test_consistent_placeholders_number_each_value():
    opts = pii.PiiOptions(regions=("GB",), locale_region=False, consistent=True)
    out, counts = redact(["ring +44 7400 123456 or anna@x.org", "again: 07400 123456", "or 07400 654321, ANNA@x.org"],
                         options=opts)
    # the same number in two formats, and the same address in two cases, keep one placeholder
    assert out == ["ring <PHONE_1> or <EMAIL_1>", "again: <PHONE_1>", "or <PHONE_2>, <EMAIL_1>"]
    assert counts["phone"] == 3 and counts["email"] == 2


def test_samples_show_the_original_in_context():
    df = pl.DataFrame({"chat": ["a", "a"], "text": ["hi, mail me at bob@example.com tomorrow", "call +44 20 7946 0958 pls"]})
    s = pii.scan(df, "text", ALL, options=NO_LOCALE)
    got = pii.samples(s, per_type=3, width=10)
    assert [(x.kind, x.original, x.before, x.after, x.placeholder) for x in got] == [
        ("email", "bob@example.com", "ail me at ", " tomorrow", "<EMAIL>"),
        ("phone", "+44 20 7946 0958", "call ", " pls", "<PHONE>"),
    ]
    det = pii.detections(s)
    assert det.select("_row", "start", "end", "kind").rows() == [(0, 15, 30, "email"), (1, 5, 21, "phone")]
