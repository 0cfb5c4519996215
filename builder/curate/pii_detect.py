"""What is PII inside one candidate string: the validators behind builder/curate/pii.py.

pii.py cuts every message into candidates with one regex (``CANDIDATE``, run by Polars);
``find_spans(candidate, regions, types)`` decides, for one distinct candidate, which
parts of it are personal data. It only ever sees the candidate, never the rest of the
message, so the same candidate is redacted the same way in every row.

- phone: Google's libphonenumber (``phonenumbers``), ``PhoneNumberMatcher``. A national
  number (no ``+``; an IDD prefix like ``00`` counts as national) is tried in the regions
  given, most likely first, at ``Leniency.VALID`` (an assigned range of that country,
  which rejects dates, times and most digit runs) and must be written with its national
  digits (e.g. the leading trunk ``0`` in France), so an order number ``123456789`` is not
  a Paris number. A ``+CC`` number needs only ``Leniency.POSSIBLE`` (a real country code
  and a length it uses). Extensions (``x123``, ``ext. 12``) are part of the match.
- card: 12-19 digits, Luhn, and an issuer range (IIN) that a card scheme uses.
- iban: any case, spaces or dashes; ``python-stdnum``'s IBAN check (the registry's
  country length and format, then mod-97) decides; a short word after it is not eaten.
- email: any script (IDN domains), a letter top-level label.
- url: a scheme or ``www.``; or a bare domain whose public suffix is on the Public Suffix
  List (``tldextract``'s bundled snapshot) and that has a path, a subdomain, a short or
  multi-label suffix, and is not a file name (``.zip``, ``.mov``: Python's own mimetypes
  table, not a list kept here).
- ip: IPv4 and IPv6 (``ipaddress``)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache

TYPES = ("email", "phone", "url", "card", "iban", "ip")

# --- the candidate tokenizer -------------------------------------------------------------
# One regex, alternatives tried in this order at each position (leftmost-first in both
# Rust's regex crate, which Polars runs, and Python's re): URLs and e-mails swallow the
# digits inside them, so a number in a link is never redacted as a phone.
_SP = r"[ \u00a0\u202f\u2009]"  # spaces people (and phones) put between digit groups
_URL = r"(?i:\b(?:https?|ftp)://|\bwww\.)[^\s<>\"'`]+"
_EMAIL = r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+"
_IBAN = r"\b[A-Za-z]{2}[0-9]{2}[A-Za-z0-9]*(?:[ -][A-Za-z0-9]{1,4}\b)*"
_IPV6 = r"(?i:\b[0-9a-f]{1,4}(?::[0-9a-f]{0,4}){2,7}|::[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6})"
_IPV4 = r"(?:\b[vV]|\b)(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?:\.[0-9]+)*\b"
_DOMAIN = r"\b[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}[\w-]*(?:[/?#][^\s<>\"'`]*)?"
# 5+ digits with the separators people type; an optional currency sign, '#' or three
# capitals (so the validator can see a price, an order number or "USD 1200000") and an
# optional extension.
_NUMBER = (
    r"(?:[$€£¥₹#№]" + _SP + r"?|\b[A-Z]{3}" + _SP + r")?(?:\(?\+" + _SP + r"?\(?|\(|\b)[0-9]"
    r"(?:(?:[ \u00a0\u202f\u2009.\-/]{1,2}|\)" + _SP + r"?|[ .\-/]?\()?[0-9]){4,}\b"
    r"(?:,?" + _SP + r"?(?i:ext\.?|extension|x|#|доб\.?)" + _SP + r"?[0-9]{1,7}\b)?"
)
CANDIDATE = "|".join([_URL, _EMAIL, _IPV6, _IBAN, _IPV4, _DOMAIN, _NUMBER])
# A row can only hold a candidate if it has one of these; a much cheaper scan first.
PREFILTER = r"[0-9]{2}|@|\.[^\W\d_]{2}|::"


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str
    value: str  # normalized (E.164 phone, digits of a card, upper-case IBAN...): one per real value


# --- cards ---------------------------------------------------------------------------------
def luhn_ok(candidate: str) -> bool:
    digits = [int(c) for c in candidate if c.isdigit()]
    if not 12 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# Issuer identification number ranges of the card schemes and their number lengths, from
# ISO/IEC 7812 assignments as tabulated in "Payment card number" (Wikipedia, IIN ranges
# table; see tests/pii_eval/SOURCES.md). (first prefix, last prefix, lengths).
_ALL = tuple(range(12, 20))
_IIN = [
    ("34", "34", (15,)), ("37", "37", (15,)),                      # American Express
    ("4", "4", (13, 16, 19)),                                      # Visa
    ("51", "55", (16,)), ("2221", "2720", (16,)),                  # Mastercard
    ("6011", "6011", range(16, 20)), ("644", "649", range(16, 20)), ("65", "65", range(16, 20)),
    ("622126", "622925", range(16, 20)),                           # Discover
    ("3528", "3589", range(16, 20)),                               # JCB
    ("36", "36", range(14, 20)), ("300", "305", range(14, 20)), ("38", "39", range(14, 20)),  # Diners
    ("50", "50", _ALL), ("56", "69", _ALL),                        # Maestro (12-19 digits)
    ("62", "62", range(16, 20)), ("81", "81", range(16, 20)),      # UnionPay
    ("2200", "2204", range(16, 20)),                               # Mir
    ("60", "60", (16,)), ("82", "82", (16,)), ("508", "508", (16,)), ("353", "353", (16,)), ("356", "356", (16,)),  # RuPay
    ("9792", "9792", (16,)),                                       # Troy
    ("506099", "506198", (16, 18, 19)), ("507865", "507964", (16, 18, 19)),  # Verve
    ("1", "1", (15,)),                                             # UATP
    ("5019", "5019", (16,)),                                       # Dankort
    ("2205", "2205", (16,)),                                       # BORICA
    ("1946", "1946", (16, 18, 19)),                                # GPN
    ("9860", "9860", (16,)), ("8600", "8600", (16,)),              # Humo, Uzcard
]


def iin_ok(digits: str) -> bool:
    for lo, hi, lengths in _IIN:
        if len(digits) in lengths and lo <= digits[: len(lo)] <= hi:
            return True
    return False


def card_ok(candidate: str) -> bool:
    if not re.fullmatch(r"[0-9]+(?:[ -][0-9]+)*", candidate):
        return False
    digits = re.sub(r"[ -]", "", candidate)
    return luhn_ok(digits) and iin_ok(digits)


# --- IBAN ----------------------------------------------------------------------------------
def iban_ok(candidate: str) -> bool:
    from stdnum import iban

    # the registry's length and layout per country, then mod-97 (not each country's own
    # national check digits: mod-97 is what makes an IBAN)
    return iban.is_valid(re.sub(r"[ -]", "", candidate).upper(), check_country=False)


def _iban_span(candidate: str) -> Span | None:
    """The longest run of leading groups that is a valid IBAN (a word after it stays)."""
    groups = list(re.finditer(r"[A-Za-z0-9]+", candidate))
    for k in range(len(groups), 0, -1):
        end = groups[k - 1].end()
        if iban_ok(candidate[:end]):
            return Span(0, end, "iban", re.sub(r"[ -]", "", candidate[:end]).upper())
    return None


# --- URLs, domains, e-mails --------------------------------------------------------------------
@lru_cache(maxsize=1)
def _tld() -> tuple:
    import mimetypes

    import tldextract

    # the bundled Public Suffix List snapshot; never fetched (clonekit runs offline)
    extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=False)
    last_labels = {t.rsplit(".", 1)[-1].lower() for t in extract.tlds}
    file_exts = {e.lstrip(".").lower() for e in mimetypes.MimeTypes().types_map[True]}  # built-in table only
    return extract, last_labels, file_exts


_RFC1591_GENERIC = frozenset({"com", "net", "org", "edu", "gov", "mil", "int", "info", "biz"})
_URL_TRAIL = ".,;:!?'\")]}>*"


def _strip_trailing(s: str) -> str:
    while s and s[-1] in _URL_TRAIL:
        if s[-1] == ")" and s.count("(") >= s.count(")"):
            break
        s = s[:-1]
    return s


def _domain_ok(host: str, has_path: bool) -> bool:
    extract, last_labels, file_exts = _tld()
    labels = host.split(".")
    suffix_label = labels[-1]
    if suffix_label.lower() not in last_labels or len(labels) < 2:
        return False
    r = extract(host)
    if not r.suffix or not r.domain:
        return False
    if has_path or r.subdomain:
        return True
    if suffix_label != suffix_label.lower() and not suffix_label.isupper():
        return False  # "end.Next": a missing space after a full stop
    if suffix_label.lower() in file_exts:
        return False  # notes.zip, clip.mov
    # With nothing but name.suffix, only country codes, multi-label suffixes (co.uk), IDN
    # suffixes and the generic TLDs of RFC 1591 count: the 2013+ generic TLDs are English
    # words ("see.you", "the.one", "go.now" are a missing space, not a link).
    suffix = r.suffix.lower()
    return len(suffix) == 2 or "." in suffix or not suffix.isascii() or suffix in _RFC1591_GENERIC


def _url_span(candidate: str) -> Span | None:
    s = _strip_trailing(candidate)
    if len(s) < 5:
        return None
    return Span(0, len(s), "url", s)


def _bare_domain_span(candidate: str) -> Span | None:
    s = _strip_trailing(candidate)
    host = re.split(r"[/?#]", s, maxsplit=1)[0]
    if not _domain_ok(host, host != s):
        return None
    return Span(0, len(s), "url", s.lower())


def _email_span(candidate: str) -> Span | None:
    local, _, domain = candidate.partition("@")
    local = local.strip(".")
    domain = _strip_trailing(domain).rstrip("-")
    labels = domain.split(".")
    if not local or len(labels) < 2 or any(not lab for lab in labels):
        return None
    top = labels[-1]
    if not (top.isalpha() and len(top) >= 2 or top.lower().startswith("xn--")):
        return None
    start = candidate.index(local)
    end = candidate.index("@") + 1 + len(domain)
    return Span(start, end, "email", f"{local}@{domain}".lower())


def _ip_span(candidate: str) -> Span | None:
    if candidate[:1] in "vV":
        return None  # a version number, v1.2.3.4
    try:
        addr = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    if addr.version == 6 and candidate.count(":") < 2:
        return None
    return Span(0, len(candidate), "ip", addr.compressed)


# --- phones -----------------------------------------------------------------------------------
_EXTENSION = re.compile(r"(?i),?\s*(?:ext\.?|extension|x|#|доб\.?)\s*[0-9]{1,7}$")
_DATE = re.compile(r"[0-9]{1,4}([./-])[0-9]{1,2}\1[0-9]{1,4}(?:[ T][0-9]{1,2})?")
_DATE_FIRST = re.compile(r"(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])(?:[ ./-]|$)")
# The shortest national numbers (Ascension, Niue, Tokelau...) have 5 digits.
MIN_PHONE_DIGITS = 5
# Currency codes seen before amounts in chats ("USD 1200000"): the amount is no phone.
_CURRENCY_CODES = frozenset("USD EUR GBP JPY CNY INR RUB BRL CHF CAD AUD TRY MXN PLN SEK NOK DKK ZAR NGN KRW".split())


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


@lru_cache(maxsize=1)
def _pn():
    import phonenumbers

    # libphonenumber compiles its per-region patterns on use; Python's own re cache (512
    # entries) thrashes across ~250 regions, so keep every compiled pattern
    phonenumbers.enable_pattern_cache()
    return phonenumbers


@lru_cache(maxsize=None)
def _lengths(region: str) -> frozenset[int]:
    """How many digits a national number of ``region`` can be written with (its possible
    lengths, plus its trunk prefix)."""
    meta = _pn().PhoneMetadata.metadata_for_region(region)
    if meta is None:
        return frozenset()
    base = set(meta.general_desc.possible_length or ())
    pre = len(meta.national_prefix or "")
    return frozenset(base | {n + pre for n in base})


@lru_cache(maxsize=400_000)
def _phone_in(text: str, region: str | None) -> list[Span]:
    """Phone numbers in ``text`` read as numbers of ``region``; None: only +CC numbers.
    A national number must be valid (an assigned range of that country); one written
    with +CC only possible (a country code and a length that country uses: a '+' and
    the digits after it are signal enough, and ranges newer than the library's metadata
    or reserved for fiction, like +44 7700 900xxx, are still someone's number in a chat).
    Cached per (text, region): chats that share a region share the work."""
    pn = _pn()
    check = pn.is_valid_number if region else pn.is_possible_number
    try:  # a plain parse is ~4x cheaper than the matcher and rejects most candidates
        quick = pn.parse(text, region)
    except pn.NumberParseException:
        quick = None
    if quick is None or not check(quick):
        if len(_digits(text)) < 14:
            return []
    found = []
    leniency = pn.Leniency.VALID if region else pn.Leniency.POSSIBLE
    for m in pn.PhoneNumberMatcher(text, region, leniency=leniency):
        num = m.number
        if num.country_code_source == pn.CountryCodeSource.FROM_DEFAULT_COUNTRY:
            # written as a national number: its digits must be how that country writes it
            bare = pn.PhoneNumber(country_code=num.country_code, national_number=num.national_number,
                                  italian_leading_zero=num.italian_leading_zero,
                                  number_of_leading_zeros=num.number_of_leading_zeros)
            written = _digits(m.raw_string)
            if num.extension:
                written = written[: -len(num.extension)]
            if written != _digits(pn.format_number(bare, pn.PhoneNumberFormat.NATIONAL)):
                continue
        value = pn.format_number(num, pn.PhoneNumberFormat.E164) + (f"x{num.extension}" if num.extension else "")
        found.append(Span(m.start, m.end, "phone", value))
    return found


def _covers(text: str, spans: list[Span]) -> bool:
    """Every digit of ``text`` lies inside one of ``spans``."""
    rest = text
    for s in sorted(spans, key=lambda s: s.start, reverse=True):
        rest = rest[: s.start] + rest[s.end:]
    return not any(c.isdigit() for c in rest)


def _phone_spans(candidate: str, regions: tuple[str, ...]) -> list[Span]:
    digits = _digits(candidate)
    n = len(digits)
    if n < MIN_PHONE_DIGITS or _DATE.fullmatch(candidate) or _DATE_FIRST.match(candidate) or digits.endswith("000000"):
        return []  # a date, a date-stamped order number, a round amount
    international = candidate.lstrip("(").startswith("+")
    tries = (None,) if international else regions
    if not international and n < 14:
        core = _digits(_EXTENSION.sub("", candidate))
        tries = tuple(r for r in tries if len(core) in _lengths(r) or core.startswith("00"))
    for region in tries:
        spans = _phone_in(candidate, region)
        if spans and _covers(candidate, spans):
            return spans
    if n >= 14:  # two or more numbers in a row ("0171 1234567 0172 7654321")
        return _split_numbers(candidate, regions)
    return []


def _split_numbers(candidate: str, regions: tuple[str, ...]) -> list[Span]:
    """Cut a run of space-separated groups into whole phone numbers, longest first from
    the left; all or nothing, so a tracking number is not half redacted."""
    groups = [m.span() for m in re.finditer(r"\S+", candidate)]
    out: list[Span] = []
    i = 0
    while i < len(groups):
        for j in range(len(groups), i, -1):
            a, b = groups[i][0], groups[j - 1][1]
            piece = candidate[a:b]
            if len(_digits(piece)) < 7:
                continue
            tries = (None,) if piece.lstrip("(").startswith("+") else regions
            found = next((s for r in tries if (s := _phone_in(piece, r)) and _covers(piece, s)), None)
            if found:
                out += [Span(a + s.start, a + s.end, s.kind, s.value) for s in found]
                i = j
                break
        else:
            return []
    return out


def region_of(candidate: str) -> str | None:
    """The country (ISO 3166 alpha-2) of an international number (+CC...), else None."""
    if "+" not in candidate:
        return None
    pn = _pn()
    for m in pn.PhoneNumberMatcher(candidate, None, leniency=pn.Leniency.POSSIBLE):
        return pn.region_code_for_number(m.number) or pn.region_code_for_country_code(m.number.country_code)
    return None


# --- one candidate ------------------------------------------------------------------------------
_IBAN_SHAPE = re.compile(r"[A-Za-z]{2}[0-9]{2}[A-Za-z0-9 -]*")
_IPV4_SHAPE = re.compile(r"[vV]?(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?:\.[0-9]+)*")
_MONEY_OR_REF = tuple("$€£¥₹#№")


@lru_cache(maxsize=200_000)
def find_spans(candidate: str, regions: tuple[str, ...], types: frozenset[str]) -> tuple[Span, ...]:
    """The PII inside one candidate (offsets into it), of the wanted ``types``. National
    phone numbers are read as numbers of ``regions``, in that order."""
    c = candidate
    if "://" in c or c[:4].lower() == "www.":
        return (s,) if "url" in types and (s := _url_span(c)) else ()
    if "@" in c:
        return (s,) if "email" in types and (s := _email_span(c)) else ()
    if c.count(":") >= 2 and not c[:1].isspace():
        return (s,) if "ip" in types and (s := _ip_span(c)) else ()
    if _IPV4_SHAPE.fullmatch(c):
        # dotted digit groups: a phone where that is how the chat's countries write
        # numbers (Belgium, West Africa, ...), else an IPv4 address (or a version number)
        if "phone" in types and (spans := _phone_spans(c, regions)):
            return tuple(spans)
        return (s,) if "ip" in types and (s := _ip_span(c)) else ()
    if _IBAN_SHAPE.fullmatch(c) and c[:2].isalpha():
        return (s,) if "iban" in types and (s := _iban_span(c)) else ()
    if not (c[0].isdigit() or c[0] in "+(" or c.startswith(_MONEY_OR_REF) or re.match(r"[A-Z]{3}\s[0-9]", c)):
        # the domain alternative
        return (s,) if "url" in types and (s := _bare_domain_span(c)) else ()
    if c.startswith(_MONEY_OR_REF) or c[:3] in _CURRENCY_CODES:
        return ()  # a price or an order/ticket number
    if "card" in types and card_ok(c):
        return (Span(0, len(c), "card", _digits(c)),)
    if "phone" in types:
        return tuple(_phone_spans(c, regions))
    return ()
