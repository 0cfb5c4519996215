"""Finding and decoding files: folders, export zips (media, __MACOSX, nested zips), zip
safety, encodings."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest

from builder.errors import ParseError
from builder.ingest.sources import decode, expand, load_document, natural_key

CHAT = "12/03/2024, 09:15 - Alex: Morning!\n12/03/2024, 09:16 - Sam: Hi\n"
IOS_CHAT = "[3/12/24, 9:15:02 AM] Alex: Morning!\r\n[3/12/24, 9:16:40 AM] Sam: Hi\r\n"


def make_zip(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def names(path) -> list[str]:
    return [e.name for e in expand(path)]


# -- zips ---------------------------------------------------------------------------------


def test_android_zip_with_media_reads_only_the_chat(tmp_path):
    z = make_zip(tmp_path / "WhatsApp Chat with Alex.zip", {
        "WhatsApp Chat with Alex.txt": CHAT.encode(),
        "IMG-20240312-WA0002.jpg": b"\xff\xd8\xff\xe0" + bytes(200),
        "PTT-20240312-WA0003.opus": b"OggS" + bytes(100),
        "STK-20240312-WA0004.webp": b"RIFF" + bytes(100),
        "Alex.vcf": b"BEGIN:VCARD\nEND:VCARD\n",
        "test_document.pdf": b"%PDF-1.4" + bytes(50),
    })
    entries = list(expand(z))
    assert [e.name for e in entries] == [f"{z}!/WhatsApp Chat with Alex.txt"]
    doc = load_document(entries[0])
    assert doc.text == CHAT
    assert doc.chat_hint == "WhatsApp Chat with Alex"
    assert doc.folder == str(z)


def test_ios_zip_takes_chat_txt_and_ignores_macosx_and_attachments(tmp_path):
    z = make_zip(tmp_path / "WhatsApp Chat - Alex.zip", {
        "_chat.txt": IOS_CHAT.encode(),
        "__MACOSX/._chat.txt": b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(40),
        "._chat.txt": b"\x00\x05\x16\x07" + bytes(40),
        "00000003-PHOTO-2024-03-12-09-17-00.jpg": b"\xff\xd8" + bytes(10),
        "00000004-notes.txt": b"an attached text document, not the chat\n",
        "00000005-other-export.zip": make_zip_bytes({"_chat.txt": IOS_CHAT.encode()}),
    })
    entries = list(expand(z))
    assert [e.name for e in entries] == [f"{z}!/_chat.txt"]
    doc = load_document(entries[0])
    assert doc.chat_hint == "WhatsApp Chat - Alex"  # _chat.txt says nothing: the zip's name does
    assert doc.text == IOS_CHAT


def make_zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_nested_zips_are_opened_only_when_the_zip_holds_no_text(tmp_path):
    inner_a = make_zip_bytes({"_chat.txt": IOS_CHAT.encode(), "00000001-PHOTO.jpg": b"\xff\xd8"})
    inner_b = make_zip_bytes({"WhatsApp Chat with Kim.txt": CHAT.encode()})
    z = make_zip(tmp_path / "all-exports.zip", {"WhatsApp Chat - Alex.zip": inner_a, "kim.zip": inner_b,
                                                 "cover.png": b"\x89PNG"})
    entries = list(expand(z))
    assert [e.name for e in entries] == [f"{z}!/WhatsApp Chat - Alex.zip!/_chat.txt",
                                         f"{z}!/kim.zip!/WhatsApp Chat with Kim.txt"]
    assert entries[0].chat_hint == "WhatsApp Chat - Alex"
    assert entries[0].folder == f"{z}!/WhatsApp Chat - Alex.zip"


def test_zip_folders_give_members_their_folder_and_hint(tmp_path):
    z = make_zip(tmp_path / "facebook.zip", {
        "messages/inbox/alex_123/message_1.json": b'{"messages": []}',
        "messages/inbox/alex_123/message_2.json": b'{"messages": []}',
        "messages/inbox/alex_123/photos/1.jpg": b"\xff\xd8",
        "messages/inbox/kim_456/message_1.json": b'{"messages": []}',
    })
    entries = list(expand(z))
    assert [e.folder for e in entries] == [f"{z}!/messages/inbox/alex_123"] * 2 + [f"{z}!/messages/inbox/kim_456"]
    assert [e.chat_hint for e in entries] == ["alex_123", "alex_123", "kim_456"]


@pytest.mark.parametrize("member", ["../evil.txt", "chats/../../evil.txt", "/etc/evil.txt", "C:/evil.txt",
                                    "..\\evil.txt"])
def test_unsafe_member_paths_are_refused(tmp_path, member):
    z = make_zip(tmp_path / "export.zip", {"_chat.txt": IOS_CHAT.encode(), member: b"x"})
    with pytest.raises(ParseError) as info:
        list(expand(z))
    message = str(info.value)
    assert message.startswith(str(z)) and member in message


def test_zip_bomb_by_ratio_is_refused(tmp_path):
    z = make_zip(tmp_path / "bomb.zip", {"_chat.txt": b"\0" * (8 * 1024**2)})
    with pytest.raises(ParseError, match=r"bomb\.zip: zip member '_chat\.txt' claims 8,388,608 bytes"):
        list(expand(z))


def claim_size(data: bytes, member: str, claimed: int) -> bytes:
    """Rewrite the uncompressed size a zip's central directory gives ``member``."""
    buf = bytearray(data)
    pos = buf.find(b"PK\x01\x02" + b"", 0)
    while pos != -1:
        name_len = struct.unpack_from("<H", buf, pos + 28)[0]
        if buf[pos + 46: pos + 46 + name_len].decode() == member:
            struct.pack_into("<I", buf, pos + 24, claimed)
        pos = buf.find(b"PK\x01\x02", pos + 4)
    return bytes(buf)


def test_zip_claiming_huge_sizes_is_refused(tmp_path):
    data = make_zip_bytes({"_chat.txt": IOS_CHAT.encode()})
    z = tmp_path / "claims.zip"
    z.write_bytes(claim_size(data, "_chat.txt", 0xFFFF0000))
    with pytest.raises(ParseError, match=r"claims\.zip: zip member '_chat\.txt' claims 4,294,901,760 bytes"):
        list(expand(z))


def test_zip_members_larger_than_declared_are_refused(tmp_path):
    data = make_zip_bytes({"_chat.txt": IOS_CHAT.encode()})
    z = tmp_path / "liar.zip"
    z.write_bytes(claim_size(data, "_chat.txt", 10))
    # zipfile stops at the declared size and then fails the CRC; either way, the member is named
    with pytest.raises(ParseError, match=r"liar\.zip!/_chat\.txt: (damaged zip member|zip member is larger)"):
        list(expand(z))


def test_damaged_zip(tmp_path):
    data = make_zip_bytes({"_chat.txt": IOS_CHAT.encode()})
    z = tmp_path / "cut.zip"
    z.write_bytes(data[: len(data) // 2])
    with pytest.raises(ParseError, match=r"cut\.zip: not a valid zip file"):
        list(expand(z))


def test_zip_detected_by_content_whatever_its_name(tmp_path):
    z = tmp_path / "export.dat"
    z.write_bytes(make_zip_bytes({"_chat.txt": IOS_CHAT.encode()}))
    assert names(z) == [f"{z}!/_chat.txt"]


# -- folders ------------------------------------------------------------------------------


def test_folder_walk_skips_hidden_macosx_and_media_and_sorts_naturally(tmp_path):
    root = tmp_path / "export"
    (root / "__MACOSX").mkdir(parents=True)
    (root / "__MACOSX" / "._chat.txt").write_bytes(b"\x00\x05")
    (root / ".git").mkdir()
    (root / ".git" / "x.txt").write_text("no")
    (root / "._chat.txt").write_bytes(b"\x00\x05")
    (root / ".DS_Store").write_bytes(b"\x00\x00")
    (root / "photos").mkdir()
    (root / "photos" / "a.jpg").write_bytes(b"\xff\xd8")
    (root / "index.html").write_text("<html></html>")
    for n in (1, 10, 2):
        (root / f"chat{n}.txt").write_text(CHAT)
    assert names(root) == [str(root / f"chat{n}.txt") for n in (1, 2, 10)]
    (root / "messages.html").write_text("<html></html>")  # a Telegram HTML page is a chat
    assert names(root)[-1] == str(root / "messages.html")
    (root / "result.json").write_text("{}")  # ...unless the JSON export of it is beside it
    assert str(root / "messages.html") not in names(root)


def test_messenger_like_inbox_folder(tmp_path):
    inbox = tmp_path / "messages" / "inbox"
    for thread in ("alex_abc", "kim_def"):
        (inbox / thread / "photos").mkdir(parents=True)
        (inbox / thread / "photos" / "p.jpg").write_bytes(b"\xff\xd8")
        for n in (1, 2, 10):
            (inbox / thread / f"message_{n}.json").write_text('{"messages": []}')
    (inbox.parent / "autofill_information.json").write_text("{}")
    entries = list(expand(tmp_path / "messages"))
    assert [Path(e.name).relative_to(tmp_path).as_posix() for e in entries] == [
        "messages/autofill_information.json",
        *[f"messages/inbox/alex_abc/message_{n}.json" for n in (1, 2, 10)],
        *[f"messages/inbox/kim_def/message_{n}.json" for n in (1, 2, 10)],
    ]
    assert entries[1].folder == str(inbox / "alex_abc") and entries[1].chat_hint == "alex_abc"
    assert entries[4].folder == str(inbox / "kim_def")
    assert not any(e.named for e in entries)


def test_folder_with_zips_opens_them(tmp_path):
    make_zip(tmp_path / "WhatsApp Chat - Alex.zip", {"_chat.txt": IOS_CHAT.encode()})
    (tmp_path / "notes.txt").write_text(CHAT)
    assert names(tmp_path) == [f"{tmp_path / 'notes.txt'}", f"{tmp_path / 'WhatsApp Chat - Alex.zip'}!/_chat.txt"]


def test_file_named_directly(tmp_path):
    folder = tmp_path / "WhatsApp Chat - Alex"
    folder.mkdir()
    (folder / "_chat.txt").write_text(IOS_CHAT)
    (entry,) = expand(folder / "_chat.txt")
    assert entry.named and entry.chat_hint == "WhatsApp Chat - Alex" and entry.folder == str(folder)


def test_missing_path():
    with pytest.raises(ParseError, match="nope/chat.txt: no such file or folder"):
        list(expand("nope/chat.txt"))


def test_natural_key():
    assert sorted(["message_10.json", "message_2.json", "Message_1.json"], key=natural_key) == [
        "Message_1.json", "message_2.json", "message_10.json"]


# -- decoding -----------------------------------------------------------------------------

TEXT = "12/03/2024, 09:15 - Zoë: Ça va? Très bien — merci “quoted” ✓ 😀\n"


@pytest.mark.parametrize("encoded", [
    TEXT.encode("utf-8"),
    b"\xef\xbb\xbf" + TEXT.encode("utf-8"),
    b"\xff\xfe" + TEXT.encode("utf-16-le"),
    b"\xfe\xff" + TEXT.encode("utf-16-be"),
    TEXT.encode("utf-16-le"),  # no BOM: the NUL pattern shows it
    TEXT.encode("utf-16-be"),
    TEXT.encode("utf-32"),
], ids=["utf8", "utf8-bom", "utf16le-bom", "utf16be-bom", "utf16le", "utf16be", "utf32"])
def test_unicode_encodings_are_read(encoded):
    assert decode(encoded, "chat.txt") == TEXT


def test_latin1_and_cp1252_fall_back():
    latin = "12/03/2024, 09:15 - Zoë: Ça va? Très bien, señor\n"
    assert decode(latin.encode("latin-1"), "chat.txt") == latin
    windows = "12/03/2024, 09:15 - Zoë: “quoted” – €5\n"
    assert decode(windows.encode("cp1252"), "chat.txt") == windows


def test_crlf_and_single_so_marks_are_text():
    text = "[8/5/18, 6:01:31 PM] \x0eUSER D created group\r\n" + "[8/5/18, 6:02:00 PM] A: hi\r\n" * 20
    assert decode(text.encode(), "chat.txt") == text


@pytest.mark.parametrize("data", [b"", b"   \n\r\n\t", b"\xef\xbb\xbf", b"\xff\xfe", b"\xef\xbb\xbf  \n"])
def test_empty_files(data):
    with pytest.raises(ParseError, match=r"^chat\.txt: file is empty \("):
        decode(data, "chat.txt")


@pytest.mark.parametrize("data", [
    bytes(range(256)) * 8,
    b"\x00" * 100,
    b"\x89PNG\r\n\x1a\n" + bytes(300),
    b"\x7fELF\x02\x01\x01" + bytes(range(32)) * 20,
    "text then binary\n".encode() + bytes(range(32)) * 40,
])
def test_binary_files(data):
    with pytest.raises(ParseError, match=r"^blob\.txt: binary file, not a chat export \("):
        decode(data, "blob.txt")


def test_bad_utf16_after_bom():
    with pytest.raises(ParseError, match="UTF-16-LE byte-order mark but is not valid"):
        decode(b"\xff\xfe" + "hello".encode("utf-16-le") + b"\x00\xd8", "x.txt")


def test_android_zip_attachments_named_txt_are_not_chats(tmp_path):
    z = make_zip(tmp_path / "export.zip", {
        "WhatsApp Chat with Alex.txt": CHAT.encode(),
        "shopping list.txt": b"milk\neggs\n",
    })
    assert names(z) == [f"{z}!/WhatsApp Chat with Alex.txt"]


def test_zip_without_whatsapp_names_gives_every_text_member(tmp_path):
    # messages.html beside result.json is the same chat exported as HTML too: skipped
    z = make_zip(tmp_path / "telegram.zip", {"ChatExport/result.json": b"{}", "ChatExport/messages.html": b"<p>",
                                             "ChatExport/notes.txt": b"x"})
    assert names(z) == [f"{z}!/ChatExport/result.json", f"{z}!/ChatExport/notes.txt"]


def _load(path: Path):
    (entry,) = expand(path)
    return load_document(entry)


def test_utf8_file_is_kept_as_bytes_until_its_text_is_read(tmp_path):
    text = "12/03/2024, 09:15 - Zoë: Ça va? 😀\n" * 3000
    (tmp_path / "chat.txt").write_bytes(text.encode("utf-8"))
    doc = _load(tmp_path / "chat.txt")
    assert doc.raw == text.encode("utf-8")
    assert doc.head(40) == text[:40]  # decoded from the first bytes only
    assert doc.text == text


@pytest.mark.parametrize("data", [b"   \n\r\n\t", b"\n" * 70_000])
def test_empty_files_kept_as_bytes_are_still_refused(tmp_path, data):
    (tmp_path / "chat.txt").write_bytes(data)
    with pytest.raises(ParseError, match=r"chat\.txt: file is empty \("):
        _load(tmp_path / "chat.txt")


def test_binary_files_are_refused_before_any_parser(tmp_path):
    (tmp_path / "chat.txt").write_bytes(b"\x01\x02\x03\x04 header" * 500)
    with pytest.raises(ParseError, match=r"chat\.txt: binary file"):
        _load(tmp_path / "chat.txt")


def test_whatsapp_bytes_that_stop_being_utf8_late_are_read_as_latin1(tmp_path):
    from builder.ingest import ingest_paths

    head = "12/03/2024, 09:15 - Alex: plain ascii line\n" * 2000  # > the bytes checked up front
    tail = "12/03/2024, 09:16 - Zoë: Très bien\n"
    (tmp_path / "chat.txt").write_bytes(head.encode("ascii") + tail.encode("latin-1"))
    msgs = ingest_paths([tmp_path / "chat.txt"]).messages
    assert msgs.height == 2001
    assert msgs.row(-1, named=True)["sender"] == "Zoë" and msgs["text"][-1] == "Très bien"
