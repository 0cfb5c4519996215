"""Telegram Desktop's HTML export (``messages.html``, ``messages2.html`` … in the chat's
export folder): what people get when they keep the default "Format: HTML".

    <div class="page_header">…<div class="text bold">Alice</div>…</div>
    <div class="message service" id="message-1"><div class="body details">8 December 2020</div></div>
    <div class="message default clearfix" id="message2">
      <div class="body">
        <div class="pull_right date details" title="08.12.2020 03:41:07 UTC+03:00">03:41</div>
        <div class="from_name">Alice</div>
        <div class="text">first<br>second &amp; third</div>
      </div>
    </div>
    <div class="message default clearfix joined" id="message3"> … no from_name … </div>

(markup of tdesktop's ``export_output_html.cpp``, as read by the HTML parsers in public
projects, e.g. tg-archive and telegram-html-parsers' tests.)

- Pages are read in number order and are one chat; the chat name is the page header.
- A "joined" message has no ``from_name``: it continues the previous sender, across
  pages too. Forwarded messages keep the forwarder as sender.
- Time: the ``title`` of the date element, the exporting machine's local time, kept as
  written (the ``UTC+03:00`` suffix of newer exports is dropped, as for the JSON export).
- Day separators (``id="message-N"``) are skipped; other service messages are "system"
  at the time of the message before them (they carry no time of their own in most
  versions). Media without a caption -> "media" with a bracketed placeholder.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Callable

import polars as pl

from builder.errors import ParseError
from builder.ingest._json_util import Rows, clean_name, iso_wall_clock, scrub
from builder.ingest.base import Document
from builder.schema import empty_messages

FORMAT = "telegram_html"
KIND = "messages"
WHAT = "Telegram Desktop HTML export (messages.html)"

_PAGE = re.compile(r"messages(\d*)\.html?$", re.IGNORECASE)
_TITLE_TIME = re.compile(r"^(\d{2})\.(\d{2})\.(\d{4}) (\d{2}:\d{2}:\d{2})")
_VOID = {"br", "img", "hr", "meta", "link", "input", "source", "wbr", "area", "base", "col", "embed", "param", "track"}
_MEDIA_CLASSES = (
    ("media_voice_message", "[voice message]"), ("media_video", "[video message]"), ("media_audio_file", "[audio]"),
    ("media_file", "[file]"), ("media_photo", "[photo]"), ("media_contact", "[contact]"), ("media_location", "[location]"),
    ("media_live_location", "[live location]"), ("media_venue", "[venue]"), ("media_poll", "[poll]"), ("media_game", "[game]"),
    ("media_invoice", "[invoice]"), ("media_call", "[call]"), ("sticker_wrap", "[sticker]"), ("animated_wrap", "[GIF]"),
    ("video_file_wrap", "[video]"), ("photo_wrap", "[photo]"),
)


def sniff(name: str, head: str) -> int:
    low = head[:8192].lower()
    if "<html" not in low and "<div" not in low:
        return 0
    message = 'class="message default' in low or 'class="message service' in low
    if "page_wrap" in low and ("chat_page" in low or message):
        return 95
    if message and 'class="from_name"' in low:
        return 80
    if "page_wrap" in low and _PAGE.search(name):
        return 40
    return 0


def parse(docs: list[Document], warn: Callable[[str], None]) -> pl.DataFrame:
    ordered = sorted(docs, key=lambda d: (d.folder, _page(d.name), d.name))
    frames = []
    state = _State()
    folder = None
    for doc in ordered:
        if doc.folder != folder:
            state, folder = _State(), doc.folder
        frames.append(_parse_doc(doc, state, warn))
    return pl.concat(frames) if frames else empty_messages()


def _page(name: str) -> int:
    found = _PAGE.search(name.replace("\\", "/"))
    return int(found.group(1) or 1) if found else 0


class _State:
    """What carries from one page to the next: the last sender and time, the chat name."""

    def __init__(self) -> None:
        self.sender: str | None = None
        self.time: str | None = None
        self.chat: str | None = None


class _Message:
    def __init__(self, mid: str, classes: set[str]) -> None:
        self.id = mid
        self.service = "service" in classes
        self.joined = "joined" in classes
        self.time: str | None = None
        self.sender: str | None = None
        self.text: list[str] = []
        self.service_text: list[str] = []
        self.media: list[str] = []


class _PageParser(HTMLParser):
    """Collects the messages of one page. Tracks the open divs (with what each one is for)
    so text goes to the right field; nested forwarded/reply bodies are read for their text
    but not their headers."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.messages: list[_Message] = []
        self.stack: list[str] = []  # role of each open element
        self.current: _Message | None = None
        self.header: list[str] = []

    def _role(self) -> str:
        for role in reversed(self.stack):
            if role:
                return role
        return ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = set(a.get("class", "").split())
        if tag == "br":
            if self._role() in ("text", "service"):
                self._append("\n")
            return
        if tag in _VOID:
            return
        role = ""
        if tag == "div" and "message" in classes and a.get("id", "").startswith("message"):
            self.current = _Message(a["id"], classes)
            self.messages.append(self.current)
            role = "message"
        elif self.current is not None:
            inside_forward = "forward" in self.stack
            if "forwarded" in classes:
                role = "forward"
            elif "reply_to" in classes:
                role = "skip"
            elif "date" in classes and "details" in classes and not inside_forward and self.current.time is None:
                self.current.time = a.get("title") or None
                role = "skip"
            elif "from_name" in classes:
                role = "fwd_name" if inside_forward else "from_name"
                if role == "from_name" and self.current.sender is None:
                    self.current.sender = ""  # present, maybe empty (a deleted account)
            elif "text" in classes and tag == "div" and self._role() not in ("skip",):
                role = "text"
            elif self.current.service and "body" in classes and "details" in classes:
                role = "service"
            elif tag == "div" and ("media_wrap" in classes or "media" in classes or classes & {c for c, _ in _MEDIA_CLASSES}) \
                    or tag == "a" and classes & {c for c, _ in _MEDIA_CLASSES}:
                for cls, label in _MEDIA_CLASSES:
                    if cls in classes:
                        self.current.media.append(label)
                        break
                role = "media" if "media_wrap" not in classes else ""
            elif "title" in classes and "bold" in classes and self._role() == "media" and self.current.media:
                role = "media_title"  # "Sticker", "Video message": more exact than the class
                self.current.media[-1] = ""
            elif "reactions" in classes or "signature" in classes or "userpic_wrap" in classes:
                role = "skip"
        elif "page_header" in classes or (tag == "div" and "text" in classes and "bold" in classes and "header" in self.stack):
            role = "header"
        self.stack.append(role)

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID or not self.stack:
            return
        role = self.stack.pop()
        if role == "message":
            self.current = None

    def handle_data(self, data: str) -> None:
        role = self._role()
        if role == "header":
            self.header.append(data)
        elif self.current is None:
            return
        elif role == "from_name":
            self.current.sender = (self.current.sender or "") + data
        elif role in ("text", "service"):
            self._append(data)
        elif role == "media_title" and data.strip():
            self.current.media[-1] = f"[{(self.current.media[-1].strip('[]') + ' ' + data.strip()).strip().lower()}]"

    def _append(self, data: str) -> None:
        if self.current is None:
            return
        target = self.current.service_text if self._role() == "service" else self.current.text
        # tdesktop writes a message's own newlines as <br>; raw newlines are indentation
        target.append(data if data == "\n" else re.sub(r"\s*\n\s*", "", data))


def _wall_clock(title: str | None) -> str | None:
    if not title:
        return None
    found = _TITLE_TIME.match(title.strip())
    if not found:
        return title
    d, m, y, t = found.groups()
    return f"{y}-{m}-{d}T{t}"


def _parse_doc(doc: Document, state: _State, warn: Callable[[str], None]) -> pl.DataFrame:
    text = scrub(doc.text)
    if not text.strip():
        raise ParseError(doc.name, "the file is empty", hint="export the chat again from Telegram Desktop")
    page = _PageParser()
    page.feed(text)
    page.close()
    if state.chat is None:
        header = clean_name(" ".join("".join(page.header).split()))
        state.chat = header or doc.chat_hint or "Telegram chat"
    if not page.messages:
        raise ParseError(doc.name, "no Telegram messages found in this HTML page",
                         hint="point clonekit at the messages*.html files of a Telegram Desktop chat export")
    rows = Rows(doc.name)
    pending: list[tuple[str, str]] = []  # service messages waiting for a time
    for msg in page.messages:
        label = f"message id {msg.id.removeprefix('message')}"
        if msg.service:
            if msg.id.startswith("message-"):
                continue  # day separator
            body = "".join(msg.service_text).strip()
            if not body:
                continue
            time = _wall_clock(msg.time) or state.time
            if time is None:
                pending.append((label, body))
            else:
                rows.add(label, state.chat, time, None, body, "system")
            continue
        time = _wall_clock(msg.time)
        if time is None:
            raise ParseError(doc.name, f"{label} has no date", hint=f"is this a {WHAT}?")
        for plabel, body in pending:
            rows.add(plabel, state.chat, time, None, body, "system")
        pending.clear()
        state.time = time
        sender = clean_name(" ".join((msg.sender or "").split()))
        if sender:
            state.sender = sender
        elif not msg.joined and msg.sender is not None:
            state.sender = "Deleted Account"
        if state.sender is None:
            warn(f"{doc.name}: {label}: no sender before this joined message; skipped")
            continue
        body = "".join(msg.text).strip()
        if body:
            rows.add(label, state.chat, time, state.sender, body, "text")
        else:
            media = " ".join(m for m in msg.media if m)
            rows.add(label, state.chat, time, state.sender, media or "[empty message]", "media")
    if pending:
        warn(f"{doc.name}: {len(pending)} service message(s) without any dated message skipped")
    if not len(rows):
        return empty_messages()
    return rows.frame(iso_wall_clock(), WHAT)
