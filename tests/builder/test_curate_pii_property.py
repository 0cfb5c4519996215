"""Property: redacting a column equals redacting each row alone (no row's matches leak
into another row), and nothing outside the placeholders ever changes."""

from __future__ import annotations

import re

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.curate import pii

OPTS = pii.PiiOptions(regions=("US", "GB", "DE"), locale_region=False)
ALL = list(pii.TYPES)
PLACEHOLDER = re.compile(r"<(?:URL|EMAIL|IBAN|CARD|PHONE|IP)>")

# pieces that are PII, pieces that contain each other's digits, look-alikes and filler,
# so rows share substrings the way the cross-row bug needed
PIECES = [
    "201-555-0123", "1201-555-01234", "+44 20 7946 0958", "020 7946 0958", "07400 123456", "030 123456",
    "4242 4242 4242 4242", "42424242424242420000", "DE89 3704 0044 0532 0130 00", "de89370400440532013000",
    "bob@example.com", "example.com/path", "https://x.org/a/201-555-0123", "10.0.0.1", "2001:db8::1",
    "14:30", "12.03.2024", "v1.2.3", "$1,299.00", "#123456789", "ext. 12", "x9", "ok", "call", "the", "-", ".",
    ",", "(", ")", "+", "0", "12", "555", "0123", "ü", "\n",
]
piece = st.one_of(st.sampled_from(PIECES), st.text(alphabet="0123456789 -.+()@abcxyzé", max_size=8))
message = st.lists(piece, max_size=8).map(" ".join)


def unchanged_outside_placeholders(original: str, redacted: str) -> bool:
    literals = PLACEHOLDER.split(redacted)
    pattern = "(.+?)".join(re.escape(p) for p in literals)
    return re.fullmatch(pattern, original, flags=re.S) is not None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(message, min_size=1, max_size=8))
def test_column_equals_each_row_alone(texts):
    col, counts = pii.redact_column(pl.DataFrame({"t": texts}), "t", ALL, options=OPTS)
    alone = [pii.redact_column(pl.DataFrame({"t": [t]}), "t", ALL, options=OPTS) for t in texts]
    assert col["t"].to_list() == [frame["t"][0] for frame, _ in alone]
    assert counts == {k: sum(c[k] for _, c in alone) for k in counts}
    for original, redacted in zip(texts, col["t"].to_list()):
        assert unchanged_outside_placeholders(original, redacted), (original, redacted)
