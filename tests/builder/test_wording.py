from builder.wording import plural


def test_plural():
    assert plural(1, "chat") == "1 chat"
    assert plural(0, "chat") == "0 chats"
    assert plural(1234, "message") == "1,234 messages"
    assert plural(2, "reply") == "2 replies" and plural(3, "person") == "3 people"
    assert plural(2, "datum", "data") == "2 data"


def test_ingest_summary_says_1_chat(tmp_path):
    from builder.ingest import ingest_paths
    from builder.ingest.summary import format_summary

    chat = tmp_path / "WhatsApp Chat with Ann.txt"
    chat.write_text("01/03/2024, 10:00 - Ann: hi\n01/03/2024, 10:01 - Sam: hey\n", encoding="utf-8")
    summary = format_summary(ingest_paths([chat]))
    assert "total (1 chat)" in summary and "1 chats" not in summary
