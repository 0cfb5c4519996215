"""`clonekit ingest --skip-unreadable`: one bad file among many no longer stops the run;
the skipped files are listed with their reason. Strict stays the default."""

from __future__ import annotations

from pathlib import Path

from builder.ingest import ingest_paths
from tests.builder.test_ingest_cli import WA_ANDROID, clonekit

# Sniffs as WhatsApp (its header shape), but every header has an impossible date/time.
BAD_WHATSAPP = "32/13/2022, 25:99 - Kim: hi\n33/13/2022, 26:99 - Sam: yo\n"


def make_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "WhatsApp Chat with Kim.txt").write_text(WA_ANDROID)
    (folder / "WhatsApp Chat with Broken.txt").write_text(BAD_WHATSAPP)
    (folder / "notes.txt").write_bytes(b"\x00\x01\x02binary\x00" * 50)
    return folder


def test_strict_default_fails_on_the_bad_file(tmp_path):
    proc = clonekit("ingest", str(make_folder(tmp_path)))
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if not line.startswith("warning:")]
    assert len(errors) == 1 and "WhatsApp Chat with Broken.txt" in errors[0]


def test_skip_unreadable_reads_the_rest_and_lists_what_was_skipped(tmp_path):
    out = tmp_path / "messages.jsonl"
    proc = clonekit("ingest", str(make_folder(tmp_path)), "--skip-unreadable", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "Kim" in proc.stdout and out.exists()
    assert len(out.read_text().splitlines()) == 5
    assert "could not be read" in proc.stdout
    assert "WhatsApp Chat with Broken.txt" in proc.stdout and "impossible date or time" in proc.stdout
    assert "notes.txt" in proc.stdout and "binary" in proc.stdout
    assert "skipped 2 unreadable file(s)" in proc.stderr


def test_skip_unreadable_with_nothing_readable_is_one_line_error(tmp_path):
    bad = tmp_path / "WhatsApp Chat with Broken.txt"
    bad.write_text(BAD_WHATSAPP)
    proc = clonekit("ingest", str(bad), "--skip-unreadable")
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if not line.startswith("warning:")]
    assert len(errors) == 1 and "nothing could be read" in errors[0]


def test_reports_carry_the_reason_for_the_sources_page(tmp_path):
    result = ingest_paths([make_folder(tmp_path)], strict=False)
    failed = {Path(r.path).name: r.error for r in result.files if r.error}
    assert set(failed) == {"WhatsApp Chat with Broken.txt", "notes.txt"}
    assert "binary" in failed["notes.txt"]
    assert result.messages.height == 5


def test_a_retry_without_the_bad_file_does_not_repeat_warnings(tmp_path):
    from builder.events import Log

    folder = make_folder(tmp_path)
    # read before the broken file (name order), so its warnings come out before the failure
    (folder / "WhatsApp Chat with Abe.txt").write_text(WA_ANDROID + "19/03/2024, 25:61 - Kim: odd\n")
    logs: list[str] = []
    ingest_paths([folder], strict=False, on_event=lambda ev: logs.append(ev.message) if isinstance(ev, Log) else None)
    odd = [m for m in logs if "25:61" in m]
    assert len(odd) == 1
