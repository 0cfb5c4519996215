"""The pre-issue-13 implementation of builder/curate/pii.py (commit bc1a841), kept verbatim
for bench/pii.py's comparison.

PII redaction: emails, phone numbers, URLs, card numbers (Luhn-checked) and IBANs
(mod-97-checked) become typed placeholders. Candidates are found with Polars regexes over
the whole column; only the (few, unique) candidate strings are validated in Python, and
the validated ones are replaced in one vectorised ``replace_many`` per type."""

from __future__ import annotations

import re

import polars as pl

PLACEHOLDERS = {"url": "<URL>", "email": "<EMAIL>", "iban": "<IBAN>", "card": "<CARD>", "phone": "<PHONE>"}
ORDER = ["url", "email", "iban", "card", "phone"]  # URLs and emails first: they contain digits

PATTERNS = {
    "url": r"(?i)\b(?:https?://|www\.)[^\s<>\"']+[^\s<>\"'.,;:!?)\]]",
    "email": r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b",
    "iban": r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
    "card": r"\b[0-9](?:[ -]?[0-9]){12,18}\b",
    # +CC ..., (0xx) ..., or grouped local numbers (3-3-4, 0x xx xx xx xx, 0xxxxxxxxx)
    "phone": (
        r"(?:\+[0-9]{1,3}[ .-]?(?:\([0-9]{1,4}\)[ .-]?)?[0-9]{1,4}(?:[ .-]?[0-9]{2,4}){1,4}\b)"
        r"|(?:\([0-9]{2,4}\)[ .-]?[0-9]{3,4}[ .-]?[0-9]{3,4}\b)"
        r"|(?:\b[0-9]{3}[ .-][0-9]{3}[ .-][0-9]{4}\b)"
        r"|(?:\b0[0-9](?:[ .-]?[0-9]{2}){4}\b)"
        r"|(?:\b0[0-9]{9,10}\b)"
    ),
}


def luhn_ok(candidate: str) -> bool:
    digits = [int(c) for c in candidate if c.isdigit()]
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    s = candidate.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


_DATE_LIKE = re.compile(r"^\d{3,4}[ .-]\d{2}[ .-]\d{2}$")


def phone_ok(candidate: str) -> bool:
    digits = sum(c.isdigit() for c in candidate)
    return 7 <= digits <= 15 and not _DATE_LIKE.match(candidate)


VALIDATORS = {"card": luhn_ok, "iban": iban_ok, "phone": phone_ok}


def redact_column(df: pl.DataFrame, column: str, types: list[str]) -> tuple[pl.DataFrame, dict[str, int]]:
    """Replace PII in ``df[column]``; returns the new frame and counts per type."""
    counts: dict[str, int] = {}
    col = pl.col(column)
    for kind in ORDER:
        if kind not in types:
            continue
        found = (
            df.lazy()
            .select(col.str.extract_all(PATTERNS[kind]).alias("m"))
            .explode("m")
            .drop_nulls("m")
            .group_by("m")
            .agg(pl.len().alias("n"))
            .sort("m")
            .collect()
        )
        check = VALIDATORS.get(kind)
        # Validation runs per distinct candidate string (rare), not per message: Luhn and
        # mod-97 need digit arithmetic no Polars expression offers.
        if check is not None:
            found = found.filter(pl.Series([check(m) for m in found["m"].to_list()], dtype=pl.Boolean))
        counts[kind] = int(found["n"].sum()) if found.height else 0
        if found.height:
            # longest first, so a candidate that contains a shorter one wins
            cands = found.sort(pl.col("m").str.len_chars(), descending=True)["m"].to_list()
            df = df.with_columns(
                col.str.replace_many(cands, [PLACEHOLDERS[kind]] * len(cands), leftmost=True)
            )
    return df, counts
