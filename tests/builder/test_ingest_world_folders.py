"""The new formats are found inside folders and zips, not only when named: Telegram's HTML
pages (other .html files stay media) and SMS Backup & Restore XML; --format lists them all."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from builder.ingest import ingest_paths
from builder.ingest.detect import format_names
from clonekit.commands.ingest import FORMATS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TG_HTML = FIXTURES / "telegram_html" / "ChatExport_2020-12-09"


def _chats(result) -> dict[str, int]:
    counts = result.messages.group_by("chat").len()
    return dict(zip(counts["chat"].to_list(), counts["len"].to_list()))


def test_telegram_html_export_folder_and_zip(tmp_path):
    named = ingest_paths(sorted(TG_HTML.glob("messages*.html")))
    folder = tmp_path / "ChatExport"
    shutil.copytree(TG_HTML, folder)
    (folder / "css").mkdir()
    (folder / "css" / "style.html").write_text("<html>not a chat</html>")  # stays skipped
    assert _chats(ingest_paths([folder])) == _chats(named)
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for page in folder.rglob("*.html"):
            zf.write(page, page.relative_to(tmp_path))
    assert _chats(ingest_paths([archive])) == _chats(named)


def test_sms_backup_inside_a_folder(tmp_path):
    source = next((FIXTURES / "sms").glob("*.xml"))
    shutil.copy(source, tmp_path / source.name)
    assert _chats(ingest_paths([tmp_path])) == _chats(ingest_paths([source]))


def test_format_flag_lists_every_parser():
    assert FORMATS == ["auto", *format_names()]
