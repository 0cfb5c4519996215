"""cp1251 (Russian, Ukrainian, Bulgarian Windows exports) and EUC-JP (Japanese exports from
older Linux/Mac tools) among the legacy code pages, without moving the Western files
(cp1252) or CP932 Japanese; see builder/ingest/legacy_codecs.py."""

from __future__ import annotations

import json

import pytest

from builder.ingest import ingest_paths
from builder.ingest.legacy_codecs import pick_codec
from builder.ingest.sources import decode
from clonekit.cli import main
from tests.builder.world_support import fixture

COLUMNS = ["chat", "timestamp", "sender", "text", "kind"]

RU = ("02.01.2024, 10:00 - Саша: Привет! Как дела? Я сегодня на работе до шести, потом могу заехать.\r\n"
      "02.01.2024, 10:01 - Мама: Хорошо, только позвони заранее. Купи хлеба и молока, пожалуйста.\r\n")
UK = ("02.01.2024, 10:00 - Оксана: Привіт! Як справи? Сьогодні я працюю до вечора, зустрінемося біля їхнього "
      "будинку.\r\n02.01.2024, 10:01 - Тарас: Добре, я ще подзвоню. Ґанок відремонтували, все гаразд з її "
      "батьками.\r\n")
BG = ("02.01.2024, 10:00 - Иван: Здрасти! Какво правиш? Ще дойда към осем часа, ако няма задръстване.\r\n"
      "02.01.2024, 10:02 - Мария: Чудесно, ще те чакам пред къщата. Вземи хляб, моля те.\r\n")
LINE_JA = ("[LINE] 田中とのトーク履歴\r\n保存日時：2024/01/02 10:00\r\n\r\n2024/01/02(火)\r\n"
           "10:00\t田中\tおはよう！今日は何時に会える？\r\n10:05\t佐藤\t12時ごろかな。駅の前で待ってるね\r\n")
FR = "02/01/2024, 10:00 - Zoë: Ça va? On se voit au café à 18h… Élodie a déjà réservé, c’est génial!\r\n"
DE = "02/01/2024, 10:00 - Jürgen: Grüße aus Köln! Müller schrieb, dass die Größe egal ist. Übermorgen fahren wir.\r\n"
ES = "02/01/2024, 10:01 - José: ¡Sí! Mañana también. ¿Qué tal el niño? Está en la montaña, qué ilusión.\r\n"


@pytest.mark.parametrize(("text", "codec", "fmt", "line"), [
    (RU, "cp1251", "whatsapp", "Хорошо, только позвони заранее. Купи хлеба и молока, пожалуйста."),
    (UK, "cp1251", "whatsapp", "Добре, я ще подзвоню. Ґанок відремонтували, все гаразд з її батьками."),
    (BG, "cp1251", "whatsapp", "Чудесно, ще те чакам пред къщата. Вземи хляб, моля те."),
    (LINE_JA, "euc_jp", "line", "おはよう！今日は何時に会える？"),
    (LINE_JA, "cp932", "line", "おはよう！今日は何時に会える？"),
    (FR, "cp1252", "whatsapp", "Ça va? On se voit au café à 18h… Élodie a déjà réservé, c’est génial!"),
    (DE, "cp1252", "whatsapp", "Grüße aus Köln! Müller schrieb, dass die Größe egal ist. Übermorgen fahren wir."),
    (ES, "cp1252", "whatsapp", "¡Sí! Mañana también. ¿Qué tal el niño? Está en la montaña, qué ilusión."),
], ids=["ru-cp1251", "uk-cp1251", "bg-cp1251", "ja-euc_jp", "ja-cp932", "fr-cp1252", "de-cp1252", "es-cp1252"])
def test_clonekit_ingest_reads_the_code_page(tmp_path, text, codec, fmt, line):
    data = text.encode(codec)
    assert pick_codec(data) == codec
    assert decode(data, "chat.txt") == text
    path = tmp_path / f"{fmt} chat.txt"
    path.write_bytes(data)
    out = tmp_path / "messages.jsonl"
    assert main(["ingest", str(path), "-o", str(out), "-q"]) == 0
    assert line in [json.loads(row)["text"] for row in out.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize(("text", "codec"), [
    ("Ок, да\n", "cp1251"),  # two-letter words: "Îê, äà" in cp1252 is no Western text
    ("Саша: спасибо, до завтра!\n", "cp1251"),
    ("Марко: Здраво, како си? Видимо се сутра у граду, јави ми кад стигнеш.\n", "cp1251"),  # Serbian
    ("田中: ありがとう、また明日ね。\n", "euc_jp"),
    ("ﾃｽﾄ: ｱﾘｶﾞﾄｳ、また明日ね\n", "euc_jp"),  # halfwidth katakana (0x8E xx in EUC-JP)
    ("田中: ありがとう、また明日ね。\n", "cp932"),
    ("Ação, coração, não sei se vou à praia amanhã. Você está bem?\n", "cp1252"),
    ("Hej! Vi ses på fredag i Göteborg. Rødgrød med fløde, så godt.\n", "cp1252"),
    ("Però è così: perché non vieni giovedì? Città bellissima, caffè\n", "cp1252"),
    ("à bientôt, où es-tu?\n", "cp1252"),  # "à" alone would be a Cyrillic "а" in cp1251
])
def test_short_samples(text, codec):
    assert pick_codec(text.encode(codec)) == codec
    assert decode(text.encode(codec), "x.txt") == text


WHATSAPP = "whatsapp/starkdmi__whats_json__languages_{}.txt"


@pytest.mark.parametrize(("name", "codec"), [
    ("russian_android", "cp1251"), ("russian_ios", "cp1251"), ("ukrainian_ios", "cp1251"),
    ("french_ios", "cp1252"), ("deutch_ios", "cp1252"), ("spanish_ios", "cp1252"), ("portugal_ios", "cp1252"),
    ("japanese_ios", "euc_jp"),
])
def test_real_exports_resaved_read_like_the_utf8_original(tmp_path, name, codec):
    """A real WhatsApp export re-saved in a legacy code page (what it cannot hold, such as
    emoji and direction marks, dropped from both sides) ingests like the UTF-8 file."""
    text = fixture(*WHATSAPP.format(name).split("/")).read_text(encoding="utf-8-sig")
    data = text.encode(codec, errors="ignore")
    original, resaved = tmp_path / "utf8" / "chat.txt", tmp_path / codec / "chat.txt"
    original.parent.mkdir()
    resaved.parent.mkdir()
    original.write_text(data.decode(codec), encoding="utf-8")
    resaved.write_bytes(data)
    assert pick_codec(data) == codec
    want, got = ingest_paths([original]), ingest_paths([resaved])
    assert [f.format for f in got.files] == ["whatsapp"]
    assert got.messages.height == want.messages.height > 0
    assert got.messages.select(COLUMNS).to_dicts() == want.messages.select(COLUMNS).to_dicts()


def test_line_fixture_in_euc_jp(tmp_path):
    original = fixture("line", "line_ja.txt")
    resaved = tmp_path / "line_ja.txt"
    resaved.write_bytes(original.read_text(encoding="utf-8-sig").encode("euc_jp"))
    want, got = ingest_paths([original]), ingest_paths([resaved])
    assert [f.format for f in got.files] == ["line"]
    assert got.messages.height == want.messages.height > 0
    assert got.messages.select(COLUMNS).to_dicts() == want.messages.select(COLUMNS).to_dicts()
