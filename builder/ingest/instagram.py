"""Instagram "Download your information" JSON (``your_instagram_activity/messages/inbox/
<thread>/message_N.json``): the same JSON as Messenger, with the same Latin-1 mojibake,
newest-first files and epoch ``timestamp_ms`` (shown in the ``--tz`` zone, else UTC); see
builder/ingest/messenger.py.

Detection: a path containing "instagram", or Instagram links (instagram.com, ig.me) in
the content, makes a DYI message file Instagram; otherwise it is Messenger."""

from __future__ import annotations

from typing import Callable

import polars as pl

from builder.ingest.base import Document
from builder.ingest.messenger import flavour, parse_dyi

FORMAT = "instagram"
KIND = "messages"
WHAT = "Instagram JSON export (message_N.json)"


def sniff(name: str, head: str) -> int:
    found = flavour(name, head)
    return 90 if found == FORMAT else 30 if found else 0


def parse(docs: list[Document], warn: Callable[[str], None]) -> pl.DataFrame:
    return parse_dyi(docs, warn, WHAT)
