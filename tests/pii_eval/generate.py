"""Build tests/pii_eval/eval.jsonl: labelled chat messages for PII redaction (see SOURCES.md).

    python3 tests/pii_eval/generate.py        # rewrites eval.jsonl (seeded: same file every time)

One line per message: {"chat", "text", "spans": [[start, end, kind], ...], "neg":
[[start, end, what], ...], "set"}. ``spans`` are the PII a redactor must replace; ``neg``
are look-alikes that must survive (dates, times, prices, versions, tracking/order numbers,
digit runs in links, file names). ``set`` says where a line comes from.

Each country gets its own chat, as in a real export: one message gives a number in
international form (+CC), the others use that country's national formats, written the
ways people type them (the library's own NATIONAL layout, dashes, dots, no separators,
with an extension). The no-hint scenario of bench/pii.py drops the +CC messages."""

from __future__ import annotations

import json
import os
import random
import re
import string
from pathlib import Path

import phonenumbers as pn
from stdnum.iso7064 import mod_97_10

OUT = Path(__file__).with_name("eval.jsonl")
rng = random.Random(13)

PHONE_T = ["call me at {}", "my new number is {}", "{} is the landline", "Tel: {}", "ring {} after 6pm",
           "ruf mich an: {}", "mon numéro : {}", "llámame al {}", "meu número é {}", "номер {}",
           "WhatsApp {} pls", "you can reach her on {}.", "({}) is the office", "numara: {}"]
EMAIL_T = ["mail me at {}", "{} is my work address", "send it to {}, thanks", "E-Mail: {}", "écris à {}"]
URL_T = ["see {}", "the link: {}", "{} has the photos", "check out {} !", "(more at {})"]
CARD_T = ["card {}", "my card number is {}", "pay with {} exp 04/27", "Kartennummer {}"]
IBAN_T = ["IBAN {}", "transfer to {} ok", "my iban is {} thanks", "Konto: {}", "RIB {}"]
IP_T = ["server is at {}", "ssh to {}", "my ip {} is blocked", "ping {}"]


class Line:
    def __init__(self, chat: str, source: str) -> None:
        self.chat, self.source, self.parts, self.spans, self.neg = chat, source, [], [], []

    def text(self, s: str) -> "Line":
        self.parts.append(s)
        return self

    def _mark(self, s: str, into: list, what: str) -> "Line":
        start = sum(map(len, self.parts))
        self.parts.append(s)
        into.append([start, start + len(s), what])
        return self

    def pii(self, s: str, kind: str) -> "Line":
        return self._mark(s, self.spans, kind)

    def negative(self, s: str, what: str) -> "Line":
        return self._mark(s, self.neg, what)

    def dump(self) -> dict:
        return {"chat": self.chat, "text": "".join(self.parts), "spans": self.spans, "neg": self.neg, "set": self.source}


def templated(chat: str, source: str, template: str, value: str, kind: str) -> Line:
    before, after = template.split("{}")
    return Line(chat, source).text(before).pii(value, kind).text(after)


# --- phones: libphonenumber's example number of every region and type ---------------------
TYPES = [pn.PhoneNumberType.FIXED_LINE, pn.PhoneNumberType.MOBILE]


def national_variants(num: pn.PhoneNumber, region: str) -> list[str]:
    nat = pn.format_number(num, pn.PhoneNumberFormat.NATIONAL)
    out = [nat]
    if re.search(r"[ ]", nat) and "(" not in nat:
        out.append(nat.replace(" ", "-"))
    if re.search(r"[ -]", nat) and "(" not in nat:
        out.append(re.sub(r"[ -]", ".", nat))
    digits = re.sub(r"\D", "", nat)
    out.append(digits)
    return list(dict.fromkeys(out))


def international_variants(num: pn.PhoneNumber) -> list[str]:
    intl = pn.format_number(num, pn.PhoneNumberFormat.INTERNATIONAL)
    e164 = pn.format_number(num, pn.PhoneNumberFormat.E164)
    out = [intl, e164, intl.replace(" ", "-")]
    region = pn.region_code_for_number(num)
    meta = pn.PhoneMetadata.metadata_for_region(region)
    if meta is not None and meta.international_prefix == "00":
        out.append("00" + intl[1:])  # the IDD prefix instead of '+'
    return list(dict.fromkeys(out))


def phone_lines() -> list[Line]:
    lines = []
    for region in sorted(pn.SUPPORTED_REGIONS):
        nums = [n for t in TYPES if (n := pn.example_number_for_type(region, t)) is not None]
        nums = list({pn.format_number(n, pn.PhoneNumberFormat.E164): n for n in nums}.values())
        if not nums:
            continue
        chat = f"chat-{region}"
        first = pn.format_number(nums[0], pn.PhoneNumberFormat.INTERNATIONAL)
        lines.append(templated(chat, "phone-intl-hint", rng.choice(PHONE_T), first, "phone"))
        for num in nums:
            for v in international_variants(num)[1:]:
                lines.append(templated(chat, "phone-intl", rng.choice(PHONE_T), v, "phone"))
            for v in national_variants(num, region):
                lines.append(templated(chat, "phone-national", rng.choice(PHONE_T), v, "phone"))
            nat = pn.format_number(num, pn.PhoneNumberFormat.NATIONAL)
            if pn.is_valid_number(pn.parse(nat + " ext. 12", region)):
                ext = rng.choice([" ext. 12", " x123", " ext 4", ", ext. 310"])
                lines.append(templated(chat, "phone-extension", rng.choice(PHONE_T), nat + ext, "phone"))
    return lines


# --- e-mails ----------------------------------------------------------------------------------
FIRST = ["anna", "john", "maria", "li", "olu", "sven", "aisha", "ravi", "chloé", "jürgen", "sofía", "mehmet"]
LAST = ["smith", "müller", "garcia", "wang", "okafor", "berg", "khan", "patel", "dubois", "kowalski"]
DOMAINS = ["gmail.com", "example.org", "mail.example.co.uk", "uni-heidelberg.de", "yahoo.co.jp", "bücher.de",
           "münchen.de", "例子.中国", "пример.рф", "company.com.br", "posteo.net", "proton.me", "web.de", "icloud.com"]


def email_lines() -> list[Line]:
    lines = []
    for i in range(160):
        f, last, d = rng.choice(FIRST), rng.choice(LAST), rng.choice(DOMAINS)
        local = rng.choice([f"{f}.{last}", f"{f}{rng.randint(1, 99)}", f"{f[0]}{last}", f"{f}+news", f"{f}_{last}"])
        addr = local + "@" + d
        if i % 9 == 0:
            addr = addr.upper() if addr.isascii() else addr
        lines.append(templated(f"chat-mail-{i % 7}", "email", rng.choice(EMAIL_T), addr, "email"))
    # Presidio's e-mail recognizer test cases (microsoft/presidio, tests/test_email_recognizer.py)
    for addr in ["info@presidio.site", "my@presidio.site", "presidio@microsoft.com"]:
        lines.append(templated("chat-mail-presidio", "email-presidio", "my email address is {}", addr, "email"))
    return lines


# --- URLs ---------------------------------------------------------------------------------------
def url_lines() -> list[Line]:
    lines = []
    hosts = ["example.com", "www.example.org", "shop.example.co.uk", "bücher.de", "docs.python.org", "github.com",
             "maps.google.com", "example.com.au", "news.ycombinator.com", "en.wikipedia.org", "t.co", "bit.ly"]
    paths = ["", "/", "/path", "/a/b?c=1&d=2", "/order/1234567890123", "/item/4111111111111111",
             "/watch?v=dQw4w9WgXcQ", "/2024/03/12/story.html", "#section-2", "/~user/index.php?id=77"]
    for i in range(180):
        h, p = rng.choice(hosts), rng.choice(paths)
        kind = rng.choice(["https", "http", "bare", "bare"])
        if kind == "bare" and not p and not h.startswith("www.") and i % 2:
            p = "/path"
        url = (f"{kind}://{h}{p}" if kind != "bare" else f"{h}{p}")
        lines.append(templated(f"chat-url-{i % 5}", "url", rng.choice(URL_T), url, "url"))
    # Presidio's URL recognizer test cases (tests/test_url_recognizer.py)
    for url in ["https://www.microsoft.com/", "http://www.microsoft.com", "www.microsoft.com",
                "microsoft.com", "https://microsoft.com/sunt/ut/a.html?id=7"]:
        lines.append(templated("chat-url-presidio", "url-presidio", "my domain is {}", url, "url"))
    return lines


# --- cards: Luhn-valid numbers in every scheme's IIN range, and published test numbers ---
SCHEMES = [("4", 16), ("4", 13), ("4", 19), ("51", 16), ("55", 16), ("2221", 16), ("2720", 16), ("34", 15),
           ("37", 15), ("6011", 16), ("65", 16), ("644", 16), ("3528", 16), ("3589", 16), ("36", 14),
           ("300", 14), ("62", 16), ("62", 19), ("2200", 16), ("6759", 12), ("5018", 13), ("6304", 19),
           ("508", 16), ("9792", 16), ("5019", 16)]
# Stripe's documented test card numbers (docs.stripe.com/testing)
STRIPE = ["4242424242424242", "4000056655665556", "5555555555554444", "2223003122003222", "5200828282828210",
          "378282246310005", "371449635398431", "6011111111111117", "6011000990139424", "3056930009020004",
          "36227206271667", "3566002020360505", "6200000000000005"]


def luhn_complete(prefix: str, length: int) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for d in string.digits:
        n = body + d
        total = sum((int(c) * 2 - 9 if int(c) * 2 > 9 else int(c) * 2) if i % 2 else int(c)
                    for i, c in enumerate(reversed(n)))
        if total % 10 == 0:
            return n


def card_format(n: str) -> str:
    style = rng.choice(["space4", "dash4", "compact", "space4"])
    if len(n) == 15 and style != "compact":
        return f"{n[:4]} {n[4:10]} {n[10:]}"
    if style == "compact":
        return n
    sep = " " if style == "space4" else "-"
    return sep.join(n[i:i + 4] for i in range(0, len(n), 4))


def card_lines() -> list[Line]:
    lines = []
    for i in range(150):
        prefix, length = SCHEMES[i % len(SCHEMES)]
        lines.append(templated(f"chat-card-{i % 5}", "card", rng.choice(CARD_T),
                               card_format(luhn_complete(prefix, length)), "card"))
    for n in STRIPE:
        lines.append(templated("chat-card-stripe", "card-stripe", rng.choice(CARD_T), card_format(n), "card"))
    return lines


# --- IBANs: every country of the SWIFT IBAN registry (as shipped in python-stdnum) ---------
def iban_countries() -> dict[str, str]:
    import stdnum

    dat = Path(os.path.dirname(stdnum.__file__)) / "iban.dat"
    out = {}
    for line in dat.read_text().splitlines():
        m = re.match(r'([A-Z]{2}) country=".*" bban="([^"]+)"', line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def random_bban(struct: str) -> str:
    chars = {"n": string.digits, "a": string.ascii_uppercase, "c": string.digits + string.ascii_uppercase}
    return "".join("".join(rng.choice(chars[t]) for _ in range(int(n))) for n, t in re.findall(r"(\d+)!([nac])", struct))


def iban_format(s: str) -> str:
    style = rng.choice(["groups", "compact", "lower-groups", "dashes", "groups"])
    grouped = " ".join(s[i:i + 4] for i in range(0, len(s), 4))
    return {"groups": grouped, "compact": s, "lower-groups": grouped.lower(),
            "dashes": grouped.replace(" ", "-")}[style]


def iban_lines() -> list[Line]:
    lines = []
    for cc, struct in sorted(iban_countries().items()):
        for _ in range(2):
            bban = random_bban(struct)
            check = mod_97_10.calc_check_digits(bban + cc)
            value = cc + check + bban
            assert mod_97_10.is_valid(value[4:] + value[:4])
            lines.append(templated(f"chat-iban-{cc}", "iban", rng.choice(IBAN_T), iban_format(value), "iban"))
    # published examples (Wikipedia "International Bank Account Number", Presidio's iban tests)
    for v in ["GB82 WEST 1234 5698 7654 32", "DE89 3704 0044 0532 0130 00", "FR14 2004 1010 0505 0001 3M02 606",
              "NL91ABNA0417164300", "CH93 0076 2011 6238 5295 7", "ES91 2100 0418 4502 0005 1332"]:
        lines.append(templated("chat-iban-published", "iban-published", rng.choice(IBAN_T), v, "iban"))
    return lines


def ip_lines() -> list[Line]:
    lines = []
    for i in range(60):
        v4 = ".".join(str(rng.randint(1, 254)) for _ in range(4))
        lines.append(templated(f"chat-ip-{i % 3}", "ip", rng.choice(IP_T), v4, "ip"))
    for i in range(40):
        groups = [f"{rng.randint(0, 0xffff):x}" for _ in range(8)]
        v6 = ":".join(groups) if i % 2 else ":".join(groups[:3]) + "::" + ":".join(groups[6:])
        lines.append(templated(f"chat-ip-{i % 3}", "ip", rng.choice(IP_T), v6, "ip"))
    return lines


# --- look-alike negatives ----------------------------------------------------------------------
def negatives() -> list[str | tuple]:
    """(what, text) pairs that must not be redacted."""
    out = []
    for _ in range(60):
        y, m, d = rng.randint(1990, 2030), rng.randint(1, 12), rng.randint(1, 28)
        h, mi, s = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
        out += [("date", f"{d:02d}.{m:02d}.{y}"), ("date", f"{y}-{m:02d}-{d:02d}"), ("date", f"{m:02d}/{d:02d}/{y}"),
                ("date", f"{d}/{m}/{y % 100:02d}"), ("datetime", f"{y}-{m:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d}"),
                ("datetime", f"{d:02d}.{m:02d}.{y} {h:02d}:{mi:02d}"), ("time", f"{h:02d}:{mi:02d}"),
                ("time", f"{h:02d}:{mi:02d}:{s:02d}")]
        out += [("price", f"${rng.randint(1, 99)},{rng.randint(100, 999)}.{rng.randint(0, 99):02d}"),
                ("price", f"€{rng.randint(1000, 9999999)}"), ("price", f"{rng.randint(1, 9)} {rng.randint(100, 999)} {rng.randint(100, 999)} ₽"),
                ("price", f"USD {rng.randint(1000000, 99999999)}"), ("price", f"£{rng.randint(1, 999)}.{rng.randint(0, 99):02d}")]
        out += [("version", f"v{rng.randint(0, 12)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}"),
                ("version", f"{rng.randint(1, 12)}.{rng.randint(0, 30)}.{rng.randint(0, 200)}"),
                ("version", f"v{rng.randint(1, 12)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}.{rng.randint(0, 99)}"),
                ("version", f"10.0.{rng.randint(10000, 22631)}.{rng.randint(1, 3000)}")]
        out += [("tracking", "1Z" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16))),
                ("tracking", "94" + "".join(rng.choice(string.digits) for _ in range(20))),
                ("tracking", "9400 " + " ".join("".join(rng.choice(string.digits) for _ in range(4)) for _ in range(4)) + " 00"),
                ("tracking", "".join(rng.choice(string.ascii_uppercase) for _ in range(2)) + "".join(rng.choice(string.digits) for _ in range(9)) + "GB"),
                ("tracking", "".join(rng.choice(string.digits) for _ in range(20))),
                ("order", "#" + "".join(rng.choice(string.digits) for _ in range(rng.randint(7, 12)))),
                ("order", f"{y}{m:02d}{d:02d}-{rng.randint(1, 999):03d}")]
        out += [("number", str(rng.randint(1_000_000, 99_999_999_999))), ("number", f"{rng.randint(1, 999):,}".replace(",", " ") + " 000 000"),
                ("number", f"3.{rng.randint(10000, 99999999)}"), ("isbn", f"978-{rng.randint(0, 9)}-{rng.randint(10, 99)}-{rng.randint(100000, 999999)}-{rng.randint(0, 9)}")]
    out += [("file", f) for f in ["main.py", "report.zip", "clip.mov", "notes.md", "setup.sh", "data.csv", "photo.jpg"]]
    out += [("typo", t) for t in ["ok.so", "end.Next", "yes.See", "fine.Thanks", "see.you", "the.one", "go.now",
                                  "ok.bye", "lol.ok"]]
    return out


NEG_T = ["meet at {} ok?", "it was {} I think", "see you {}", "{} !", "the code is {}", "paid {} yesterday",
         "upgrade to {} first", "parcel {} arrives tomorrow", "ref {} in the mail", "about {} people"]


def negative_lines() -> list[Line]:
    lines = []
    regions = sorted(pn.SUPPORTED_REGIONS)
    for i, (what, value) in enumerate(negatives()):
        chat = f"chat-{regions[(i * 7) % len(regions)]}"  # inside the countries' chats: their regions are live
        before, after = rng.choice(NEG_T).split("{}")
        lines.append(Line(chat, f"neg-{what}").text(before).negative(value, what).text(after))
    # digit runs in links: the link is a URL, the digits are not a phone or a card
    for i in range(40):
        digits = "".join(rng.choice(string.digits) for _ in range(rng.randint(9, 16)))
        url = rng.choice([f"https://example.com/orders/{digits}", f"https://t.me/c/{digits}/77",
                          f"https://track.example.net/?id={digits}"])
        lines.append(Line(f"chat-{regions[(i * 11) % len(regions)]}", "url-digits").text("status: ").pii(url, "url"))
    # a message with several kinds at once, and two numbers side by side
    lines.append(Line("chat-DE", "mixed").text("IBAN ").pii("DE89 3704 0044 0532 0130 00", "iban").text(", Tel. ")
                 .pii("030 123456", "phone").text(" oder ").pii("anna@web.de", "email").text(" am ")
                 .negative("12.03.2024", "date").text(" um ").negative("14:30", "time"))
    lines.append(Line("chat-DE", "mixed").text("Nummern: ").pii("01512 3456789", "phone").text(" ")
                 .pii("030 123456", "phone").text("."))
    return lines


def main() -> None:
    lines = phone_lines() + email_lines() + url_lines() + card_lines() + iban_lines() + ip_lines() + negative_lines()
    with open(OUT, "w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(json.dumps(line.dump(), ensure_ascii=False) + "\n")
    kinds: dict[str, int] = {}
    for line in lines:
        for _, _, k in line.spans:
            kinds[k] = kinds.get(k, 0) + 1
    print(f"{len(lines)} lines, spans {kinds}, negatives {sum(len(x.neg) for x in lines)} -> {OUT}")


if __name__ == "__main__":
    main()
