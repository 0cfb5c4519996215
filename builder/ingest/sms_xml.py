"""Android SMS / MMS / RCS backups from SyncTech's "SMS Backup & Restore" (``sms-*.xml``).

    <smses count="3" backup_set="…" backup_date="1704067200000" type="full">
      <sms protocol="0" address="+15555550123" date="1704067200000" type="1" body="Hi!"
           readable_date="Jan 1, 2024 12:00:00 AM" contact_name="Alice" … />
      <mms date="1704067260000" msg_box="2" address="+15555550123~+15555550124"
           contact_name="Alice, Bob" readable_date="…" …>
        <parts><part seq="-1" ct="application/smil" …/><part seq="0" ct="text/plain" text="Hello both" …/></parts>
        <addrs><addr address="+15555550123" type="137" …/>…</addrs>
      </mms>
    </smses>

(attributes as documented by SyncTech, synctech.com.au/sms-backup-restore/fields-in-xml-backup-files/.)

- Chat: the ``contact_name`` (comma-joined names for group MMS), else the address(es).
- Sender: sent messages (sms ``type`` 2/4/5/6, mms ``msg_box`` 2/4) are "Me"; received
  ones the contact's name, else the number; a group MMS's sender is its ``addr`` of type
  137 (from), named by its position in ``address``/``contact_name``. Drafts are skipped.
- MMS/RCS: the ``text/plain`` parts are the text; pictures, video, audio, vCards
  without text become "media".
- Time: ``readable_date`` is the phone's local time as it showed it; it is used when it
  reads in a known layout and agrees with the epoch ``date`` to within 14 hours (so a
  day/month mix-up is never taken). Otherwise ``date`` (ms) is rendered in
  ``$CLONEKIT_TZ`` (else UTC; see epoch_zone.py).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable

import polars as pl

from builder.errors import ParseError
from builder.ingest import epoch_zone
from builder.ingest._json_util import clean_name, scrub
from builder.ingest.base import Document
from builder.schema import MESSAGE_SCHEMA, empty_messages

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

FORMAT = "sms_xml"
KIND = "messages"
WHAT = "SMS Backup & Restore XML"

_SENT_SMS = {"2", "4", "5", "6"}
_SENT_MMS = {"2", "4"}
_READABLE = (
    "%b %d, %Y %I:%M:%S %p", "%b %d, %Y %H:%M:%S", "%d %b %Y %H:%M:%S", "%d %b %Y %I:%M:%S %p",
    "%Y-%m-%d %H:%M:%S", "%d.%m.%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S",
)
_UNKNOWN = {"", "(unknown)", "null", "unknown"}
# With "store emojis and special characters" on, the app writes each emoji as two
# character references to UTF-16 surrogates ("&#55357;&#56832;"), which XML forbids
# (wilgysef.com/smstoxml describes the browser error it causes).
_CHAR_REF = re.compile(r"&#(?:x([0-9A-Fa-f]{1,6})|(\d{1,8}));")
_SURROGATE_PAIR = re.compile(r"&#(?:x([dD][89abAB][0-9A-Fa-f]{2})|(5[56]\d{3}));&#(?:x([dD][c-fC-F][0-9A-Fa-f]{2})|(5[67]\d{3}));")
_CHUNK = 1 << 20


def sniff(name: str, head: str) -> int:
    head = head.lstrip("\ufeff \t\r\n")
    if "<smses" in head[:2000] and ("<sms " in head or "<mms " in head or "count=" in head):
        return 95
    if head.startswith("<?xml") and ("<sms protocol=" in head or "<mms " in head and "msg_box=" in head):
        return 85
    return 0


def parse(docs: list[Document], warn: Callable[[str], None]) -> pl.DataFrame:
    frames = [_parse_doc(doc, warn) for doc in docs]
    return pl.concat(frames) if frames else empty_messages()


def _name(value: str | None) -> str:
    value = clean_name(value or "")
    return "" if value.lower() in _UNKNOWN else value


def _media(ct: str) -> str:
    ct = ct.lower()
    for prefix, label in (("image/", "[image]"), ("video/", "[video]"), ("audio/", "[audio]")):
        if ct.startswith(prefix):
            return label
    return "[contact card]" if "vcard" in ct else "[attachment]"


def _ref_value(hex_part: str | None, dec_part: str | None) -> int:
    return int(hex_part, 16) if hex_part else int(dec_part)


def _join_pair(m: re.Match) -> str:
    high, low = _ref_value(m.group(1), m.group(2)), _ref_value(m.group(3), m.group(4))
    if 0xD800 <= high <= 0xDBFF and 0xDC00 <= low <= 0xDFFF:
        return f"&#{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)};"
    return "&#65533;&#65533;"


def _valid_ref(m: re.Match) -> str:
    code = _ref_value(m.group(1), m.group(2))
    ok = code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF
    return m.group(0) if ok else "&#65533;"


def repair_char_refs(text: str) -> str:
    """Emoji written as surrogate-pair references become one character; other references
    XML forbids become U+FFFD, so one emoji never makes the whole backup unreadable."""
    if "&#" not in text:
        return text
    return _CHAR_REF.sub(_valid_ref, _SURROGATE_PAIR.sub(_join_pair, text))


def _parse_doc(doc: Document, warn: Callable[[str], None]) -> pl.DataFrame:
    import xml.etree.ElementTree as ET  # only when an SMS backup is read

    text = repair_char_refs(scrub(doc.text).lstrip("\ufeff"))
    if not text.strip():
        raise ParseError(doc.name, "the file is empty", hint="make a new backup with SMS Backup & Restore")
    cols: dict[str, list] = {k: [] for k in ("chat", "readable", "epoch", "sender", "text", "kind")}
    drafts = 0
    parser = ET.XMLPullParser(events=("end",))
    root_seen = False
    try:
        for start in range(0, len(text), _CHUNK):
            parser.feed(text[start:start + _CHUNK])
            for _, elem in parser.read_events():
                if elem.tag == "sms":
                    drafts += _add_sms(cols, elem)
                    elem.clear()
                elif elem.tag == "mms":
                    drafts += _add_mms(cols, elem)
                    elem.clear()
                elif elem.tag in ("smses", "allsms"):
                    root_seen = True
        parser.close()
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else None
        raise ParseError(doc.name, f"broken XML: {str(exc).split(':')[0]}", line=line,
                         hint="the backup looks damaged or cut off: copy it again from the phone") from None
    if not root_seen:
        raise ParseError(doc.name, "no <smses> root element", hint=f"is this a {WHAT}?")
    if drafts:
        warn(f"{doc.name}: skipped {drafts} draft(s) (never sent)")
    if not cols["chat"]:
        return empty_messages()
    df = pl.DataFrame(cols, schema={"chat": pl.String, "readable": pl.String, "epoch": pl.String, "sender": pl.String,
                                    "text": pl.String, "kind": pl.String})
    epoch_s = df.get_column("epoch").cast(pl.Float64, strict=False)
    readable = pl.col("readable").str.replace_all("[\u202f\u00a0]", " ").str.strip_chars()
    written = pl.coalesce(*(readable.str.to_datetime(fmt, strict=False, time_unit="us") for fmt in _READABLE))
    utc = epoch_zone.wall_clock(pl.col("secs"), "UTC")
    df = df.with_columns(secs=(epoch_s / 1000)).with_columns(written=written, utc=utc)
    # the written time is the local time of the same instant: within 14 h of UTC
    agrees = (pl.col("written") - pl.col("utc")).abs() <= pl.duration(hours=14)
    df = df.with_columns(
        timestamp=pl.when(agrees).then(pl.col("written")).otherwise(epoch_zone.wall_clock(pl.col("secs"))),
        source=pl.lit(doc.name),
    )
    bad = df.with_row_index("i").filter(pl.col("timestamp").is_null())
    if bad.height:
        raise ParseError(doc.name, f"message #{bad.item(0, 'i') + 1} has an unreadable date {bad.item(0, 'epoch')!r}",
                         hint="expected 'date' in milliseconds since 1970")
    return df.select(list(MESSAGE_SCHEMA)).cast(dict(MESSAGE_SCHEMA))


def _add(cols: dict[str, list], chat: str, elem: ET.Element, sender: str, text: str, kind: str) -> None:
    cols["chat"].append(chat)
    cols["readable"].append(elem.get("readable_date"))
    cols["epoch"].append(elem.get("date"))
    cols["sender"].append(sender)
    cols["text"].append(text)
    cols["kind"].append(kind)


def _add_sms(cols: dict[str, list], elem: ET.Element) -> int:
    kind = elem.get("type", "1")
    if kind == "3":
        return 1
    address = (elem.get("address") or "").strip()
    name = _name(elem.get("contact_name"))
    chat = name or address or "SMS"
    body = elem.get("body") or ""
    if body.strip() in ("", "null"):
        return 0
    sender = "Me" if kind in _SENT_SMS else name or address or "Unknown"
    _add(cols, chat, elem, sender, body, "text")
    return 0


def _add_mms(cols: dict[str, list], elem: ET.Element) -> int:
    box = elem.get("msg_box", "1")
    if box == "3":
        return 1
    addresses = [a.strip() for a in (elem.get("address") or "").split("~") if a.strip()]
    names = [n.strip() for n in (elem.get("contact_name") or "").split(",")]
    chat = _name(elem.get("contact_name")) or ", ".join(addresses) or "MMS"
    texts: list[str] = []
    media: list[str] = []
    for part in elem.iter("part"):
        ct = (part.get("ct") or "").lower()
        if ct == "application/smil":
            continue
        if ct.startswith("text/plain"):
            value = part.get("text") or ""
            if value.strip() and value != "null":
                texts.append(value)
        elif ct:
            media.append(_media(ct))
    if box in _SENT_MMS:
        sender = "Me"
    else:
        sender = ""
        for addr in elem.iter("addr"):
            if addr.get("type") == "137":
                sender = (addr.get("address") or "").strip()
                break
        if sender in addresses and len(names) == len(addresses):
            sender = _name(names[addresses.index(sender)]) or sender
        elif not sender or sender == "insert-address-token":
            sender = chat if len(addresses) <= 1 else "Unknown"
        elif len(addresses) <= 1 and _name(elem.get("contact_name")):
            sender = _name(elem.get("contact_name"))
    if texts:
        _add(cols, chat, elem, sender, "\n".join(texts), "text")
    elif media:
        _add(cols, chat, elem, sender, " ".join(media), "media")
    return 0
