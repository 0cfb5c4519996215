"""Turn the paths a user names (files, export zips, folders) into decoded Documents.

Zips are read in memory with size caps and never extracted; media and other binary
members are skipped by extension. Decoding handles UTF-8 (with or without BOM), UTF-16 /
UTF-32 (BOM, or no BOM when the NUL pattern shows it) and, for text that is not UTF-8, the
legacy code page that reads best (GB18030, CP932, CP949, CP950, EUC-JP, cp1251, else
cp1252 / latin-1); anything else is reported as binary."""

from __future__ import annotations

import io
import os
import re
import zipfile
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

from builder.errors import ParseError
from builder.ingest.base import Document, utf8_prefix

# Members and files we try to read inside folders and zips. A file named directly on the
# command line is read whatever its extension.
TEXT_EXTS = frozenset({".txt", ".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".md", ".xml"})
# Telegram Desktop's HTML export pages: the one kind of .html file that is a chat, not media.
CHAT_HTML = re.compile(r"^messages\d*\.html?$", re.IGNORECASE)
# Export media and attachments: skipped without a word (they are expected in exports).
MEDIA_EXTS = frozenset({
    ".jpg", ".jpeg", ".png", ".gif", ".webp", ".heic", ".heif", ".bmp", ".tif", ".tiff",
    ".svg", ".ico", ".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".3gp", ".opus",
    ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".wav", ".amr", ".flac", ".pdf", ".vcf",
    ".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".odt", ".apk", ".exe", ".bin",
    ".tgs", ".html", ".htm", ".css", ".js", ".woff", ".woff2", ".ttf", ".gz", ".7z", ".rar",
})
# Generic file names that say nothing about the chat: the hint comes from the folder instead.
GENERIC_NAME = re.compile(r"^(_chat\.txt|result\.json|chat\.md|index\.md|data\.json|"
                          r"messages?\.json|channel\.json|message_\d+\.json)$", re.IGNORECASE)

MAX_FILE_BYTES = 2 * 1024**3  # a file on disk larger than this is not a chat export we can hold
MAX_ZIP_TOTAL = 1024**3  # total uncompressed bytes of the text members we read from one zip
MAX_RATIO = 100  # compression ratio beyond which a member is treated as a zip bomb
RATIO_MIN_BYTES = 1024**2  # ... when it claims at least this many bytes
HEAD_BYTES = 4096  # how much of a file the encoding sniffers look at


@dataclass(frozen=True)
class Entry:
    """One readable file found under a path the user named."""

    name: str  # display path, e.g. "exports/chat.zip!/_chat.txt"
    chat_hint: str | None
    folder: str  # display path of the containing folder or zip
    read: Callable[[], bytes]
    named: bool  # named directly by the user (not found inside a folder or zip)
    modified: datetime | None = None  # the file's mtime, or its zip entry's date


class DatedDocument(Document):
    """A Document that also knows its file's date and the year the user says its last
    message is in (``--year-end``): WhatsApp exports without years are dated from them."""

    __slots__ = ("modified", "year_end")

    def __init__(self, *args, modified: datetime | None = None, year_end: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.modified = modified
        self.year_end = year_end


# -- paths -------------------------------------------------------------------------------


def expand(path: str | os.PathLike) -> Iterator[Entry]:
    """Yield the readable entries under ``path`` (a file, a zip, or a folder)."""
    p = Path(path)
    display = str(path)
    if p.is_dir():
        yield from _walk_folder(p, display)
    elif p.is_file():
        if _looks_like_zip(p):
            yield from _zip_entries_from_file(p, display)
        else:
            yield Entry(display, _hint(p.name, p.absolute().parent.name), os.path.dirname(display),
                        lambda: _read_file(p, display), named=True, modified=_mtime(p))
    elif p.exists():
        raise ParseError(display, "not a regular file or folder", "name a chat export file, zip or folder")
    else:
        raise ParseError(display, "no such file or folder", "check the path")


def _walk_folder(root: Path, display: str) -> Iterator[Entry]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted((d for d in dirnames if not _skip_dir(d)), key=natural_key)
        rel = Path(dirpath).relative_to(root)
        folder_display = display if rel == Path(".") else os.path.join(display, str(rel))
        has_json_export = "result.json" in filenames
        for fname in sorted(filenames, key=natural_key):
            if fname.startswith("."):
                continue  # .DS_Store, AppleDouble ._ files, editor droppings
            if has_json_export and CHAT_HTML.match(fname):
                continue  # the same chat exported as HTML too: result.json holds more
            fpath = Path(dirpath) / fname
            fdisplay = os.path.join(folder_display, fname)
            ext = fpath.suffix.lower()
            if ext == ".zip":
                yield from _zip_entries_from_file(fpath, fdisplay)
            elif _is_text(fname) and fpath.is_file():
                yield Entry(fdisplay, _hint(fname, Path(dirpath).name), folder_display,
                            _file_reader(fpath, fdisplay), named=False, modified=_mtime(fpath))


def _mtime(path: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime)
    except (OSError, ValueError, OverflowError):
        return None


def _zip_date(info: zipfile.ZipInfo) -> datetime | None:
    try:
        return datetime(*info.date_time)
    except ValueError:
        return None


def _file_reader(path: Path, display: str) -> Callable[[], bytes]:
    return lambda: _read_file(path, display)


def _read_file(path: Path, display: str) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ParseError(display, f"file is {size / 1024**3:.1f} GiB, larger than any chat export "
                             "clonekit reads", "split it or check you picked the right file")
        return path.read_bytes()
    except PermissionError:
        raise ParseError(display, "permission denied", "check the file's permissions") from None
    except IsADirectoryError:
        raise ParseError(display, "is a folder", "name the folder itself, not a file in it") from None
    except OSError as err:
        raise ParseError(display, f"cannot be read: {err.strerror or err}", "check the disk and path") from None


def _skip_dir(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def natural_key(name: str) -> list:
    """Sort message_2.json before message_10.json."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _hint(name: str, parent: str) -> str | None:
    """The chat title a format without one inside gets: the file stem, or for generic names
    like ``_chat.txt`` / ``message_1.json`` the containing folder's (or zip's) stem."""
    if GENERIC_NAME.match(name):
        return _stem(parent) or None
    return _stem(name) or None


def _stem(name: str) -> str:
    name = name.rstrip("/")
    base = name.rsplit("/", 1)[-1]
    return base[:-4] if base.lower().endswith(".zip") else (PurePosixPath(base).stem if "." in base else base)


# -- zips --------------------------------------------------------------------------------


def _looks_like_zip(path: Path) -> bool:
    if path.suffix.lower() == ".zip":
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(4) in (b"PK\x03\x04", b"PK\x05\x06")
    except OSError:
        return False  # _read_file reports it


def _zip_entries_from_file(path: Path, display: str) -> Iterator[Entry]:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES * 8:
            raise ParseError(display, "zip is too large to be a chat export", "unzip it and name the chat file")
        with open(path, "rb") as fh:
            yield from zip_entries(fh, display, hint=_stem(path.name), depth=0)
    except PermissionError:
        raise ParseError(display, "permission denied", "check the file's permissions") from None


def zip_entries(fileobj, display: str, hint: str, depth: int) -> list[Entry]:
    """Read the text members of a zip (in memory, capped) and return them as entries.

    In a WhatsApp export the chat is ``_chat.txt`` (iOS) or ``WhatsApp Chat with X.txt``
    (Android, localized); every other text member of such a zip is an attached document.
    Nested zips are attachments too, unless the zip holds no text file at all (someone
    zipped their export zips): then they are opened, one level deep.
    """
    try:
        zf = zipfile.ZipFile(fileobj)
    except zipfile.BadZipFile:
        raise ParseError(display, "not a valid zip file, or an incomplete download",
                         "export or download it again") from None
    except (OSError, EOFError, ValueError):
        raise ParseError(display, "zip file is damaged", "export or download it again") from None
    with zf:
        infos = zf.infolist()
        for info in infos:
            _check_member_name(display, info.filename)
        members = [i for i in infos if not i.is_dir() and not _skip_member(i.filename)]
        texts = [i for i in members if _is_text(i.filename)]
        json_dirs = {_dir(i.filename) for i in texts if i.filename.replace("\\", "/").endswith("result.json")}
        texts = [i for i in texts if not (_dir(i.filename) in json_dirs and CHAT_HTML.match(_base(i.filename)))]
        chats = [i for i in texts if _base(i.filename) == "_chat.txt"]
        if not chats:  # Android: "WhatsApp Chat with X.txt" (localized names all say WhatsApp)
            chats = [i for i in texts if _ext(i.filename) == ".txt" and "whatsapp" in i.filename.lower()]
        if chats:
            texts = chats  # the other text members are attached documents
        _check_sizes(display, texts)
        entries: list[Entry] = []
        for info in texts:
            data = _read_member(zf, info, display)
            member = info.filename.replace("\\", "/")
            parent = member.rsplit("/", 1)[0] if "/" in member else ""
            name = f"{display}!/{member}"
            folder = f"{display}!/{parent}" if parent else display
            member_hint = _hint(member.rsplit("/", 1)[-1], parent.rsplit("/", 1)[-1] if parent else hint)
            entries.append(Entry(name, member_hint, folder, _bytes_reader(data), named=False,
                                 modified=_zip_date(info)))
        if not texts and depth == 0:
            nested = [i for i in members if _ext(i.filename) == ".zip"]
            _check_sizes(display, nested)
            for info in nested:
                data = _read_member(zf, info, display)
                member = info.filename.replace("\\", "/")
                entries.extend(zip_entries(io.BytesIO(data), f"{display}!/{member}", _stem(member), depth + 1))
        return entries


def _bytes_reader(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def _ext(member: str) -> str:
    return os.path.splitext(_base(member))[1].lower()


def _base(member: str) -> str:
    return member.replace("\\", "/").rsplit("/", 1)[-1]


def _dir(member: str) -> str:
    return member.replace("\\", "/").rpartition("/")[0]


def _is_text(name: str) -> bool:
    """A folder or zip member worth sniffing: a text extension, or a Telegram HTML page."""
    return _ext(name) in TEXT_EXTS or bool(CHAT_HTML.match(_base(name)))


def _skip_member(member: str) -> bool:
    parts = member.replace("\\", "/").split("/")
    return parts[0] == "__MACOSX" or parts[-1].startswith(".") or (_ext(member) in MEDIA_EXTS and not _is_text(member))


def _check_member_name(display: str, member: str) -> None:
    norm = member.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        raise ParseError(display, f"zip member '{member}' has an absolute path",
                         "this zip was not made by a chat app; do not unzip it, re-export the chat")
    if ".." in norm.split("/"):
        raise ParseError(display, f"zip member '{member}' points outside the zip (../)",
                         "this zip was not made by a chat app; do not unzip it, re-export the chat")


def _check_sizes(display: str, infos: list[zipfile.ZipInfo]) -> None:
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size >= RATIO_MIN_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise ParseError(display, f"zip member '{info.filename}' claims {info.file_size:,} bytes from "
                             f"{info.compress_size:,} compressed (a zip bomb?)",
                             "re-export the chat; clonekit will not unpack it")
        if total > MAX_ZIP_TOTAL:
            raise ParseError(display, f"zip members claim more than {MAX_ZIP_TOTAL // 1024**3} GiB of text "
                             f"(at '{info.filename}')", "unzip it yourself and name the chat files")


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, display: str) -> bytes:
    where = f"{display}!/{info.filename}"
    try:
        with zf.open(info) as fh:
            data = fh.read(info.file_size + 1)  # a member may lie about its size: cap the read
    except RuntimeError as err:  # encrypted members
        raise ParseError(where, f"cannot be read: {err}", "export the chat without a password") from None
    except NotImplementedError:
        raise ParseError(where, "uses a compression method clonekit cannot read",
                         "unzip it with your system's tool and name the folder") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as err:
        raise ParseError(where, f"damaged zip member ({err})", "export or download it again") from None
    if len(data) > info.file_size:
        raise ParseError(where, "zip member is larger than its header says (a zip bomb?)",
                         "re-export the chat; clonekit will not unpack it")
    return data


# -- decoding ----------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def load_document(entry: Entry, year_end: int | None = None) -> Document:
    """The entry as a Document. A file that starts as plain UTF-8 (no BOM, not UTF-16,
    valid in its first bytes) is checked on its head and kept as bytes, decoded only
    when a parser asks for its text; anything else is decoded now. ``year_end`` is the
    user's ``--year-end`` (for exports whose dates have no year)."""
    data = entry.read()
    head = _utf8_head(data)
    dated = {"modified": entry.modified, "year_end": year_end}
    if head is None:
        return DatedDocument(entry.name, decode(data, entry.name), chat_hint=entry.chat_hint, folder=entry.folder,
                             **dated)
    if head.isspace() and (len(head.encode("utf-8")) == len(data) or data.decode("utf-8", "replace").isspace()):
        raise ParseError(entry.name, "file is empty", "export the chat again or pick another file")
    _check_not_binary(head, entry.name)
    return DatedDocument(entry.name, chat_hint=entry.chat_hint, folder=entry.folder, raw=data, **dated)


def _utf8_head(data: bytes) -> str | None:
    """The first HEAD_BYTES * 4 bytes decoded, when the file looks like plain UTF-8."""
    if not data or data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        return None
    if _utf16_without_bom(data[:HEAD_BYTES]):
        return None
    return utf8_prefix(data, HEAD_BYTES * 4)


def _check_not_binary(sample: str, name: str) -> None:
    if "\x00" in sample or len(_CONTROL.findall(sample)) > max(2, len(sample) // 50):
        raise ParseError(name, "binary file, not a chat export", "pick the exported .txt, .json or .zip")


def decode(data: bytes, name: str) -> str:
    """Bytes of a text export -> str. Raises ParseError for empty or binary files."""
    if not data or data.isspace():  # isspace, not strip: no copy of a 100 MB export
        raise ParseError(name, "file is empty", "export the chat again or pick another file")
    text = _decode_unicode(data, name)
    if text is None:
        text = _decode_legacy(data)
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text or text.isspace():
        raise ParseError(name, "file is empty", "export the chat again or pick another file")
    _check_not_binary(text[:HEAD_BYTES * 4], name)
    return text


def _decode_unicode(data: bytes, name: str) -> str | None:
    boms = ((b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le"),
            (b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
    for bom, codec in boms:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(codec)
            except UnicodeDecodeError as err:
                raise ParseError(name, f"starts with a {codec.upper()} byte-order mark but is not valid "
                                 f"{codec.upper()} (byte {err.start})",
                                 "re-save it as UTF-8 or export it again") from None
    codec = _utf16_without_bom(data[:HEAD_BYTES])
    if codec:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            return None  # NULs that were not UTF-16 after all: the binary check decides
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 text that is mostly ASCII has a NUL in every other byte."""
    even, odd = head[0::2], head[1::2]
    if len(head) < 4:
        return None
    nul_even, nul_odd = even.count(0) / len(even), odd.count(0) / max(len(odd), 1)
    if nul_odd > 0.3 and nul_even < 0.05:
        return "utf-16-le"
    if nul_even > 0.3 and nul_odd < 0.05:
        return "utf-16-be"
    return None


def _decode_legacy(data: bytes) -> str:
    """Text that is not UTF-8: see legacy_codecs.py (a CJK or Cyrillic code page when its
    decoding reads as Chinese, Japanese, Korean or Cyrillic text, else cp1252, else latin-1)."""
    from builder.ingest.legacy_codecs import decode_legacy

    return decode_legacy(data)
