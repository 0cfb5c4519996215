from builder.wording import plural


def test_plural():
    assert plural(1, "chat") == "1 chat"
    assert plural(0, "chat") == "0 chats"
    assert plural(1234, "message") == "1,234 messages"
    assert plural(2, "reply") == "2 replies" and plural(3, "person") == "3 people"
    assert plural(2, "datum", "data") == "2 data"


def test_ingest_summary_total_counts_chats(tmp_path):
    from builder.ingest import ingest_paths
    from builder.ingest.summary import format_summary

    for name in ("Ann", "Bob"):
        (tmp_path / f"WhatsApp Chat with {name}.txt").write_text(
            f"01/03/2024, 10:00 - {name}: hi\n01/03/2024, 10:01 - Sam: hey\n", encoding="utf-8")
    summary = format_summary(ingest_paths([tmp_path]))
    assert "total (2 chats)" in summary
