"""WeChat exports: MemoTrace (留痕) CSV, PyWxDump CSV and JSON; type mapping, names, time
zones, fuzz."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.errors import ClonekitError, ParseError
from builder.ingest import ingest_paths, wechat
from builder.ingest.base import Document
from tests.builder.fuzzing import assert_one_line, mutated_json
from tests.builder.world_support import detected, fixture, only_parse_error, run

MEMOTRACE = "小王_utf8.csv"
PYWXDUMP = "wxid_zhang_0_5000.csv"
PYWXDUMP_JSON = "wxid_zhang.json"


def load(name: str) -> Document:
    return Document(name, fixture("wechat", name).read_text(encoding="utf-8-sig"))


def test_memotrace_types_names_and_written_time():
    df, warnings = run(wechat.parse, load(MEMOTRACE))
    assert not warnings
    assert df.get_column("chat").unique().to_list() == ["小王"]  # "_utf8" dropped
    assert df.get_column("kind").to_list() == ["text", "text", "media", "media", "text", "media", "system", "system", "media"]
    assert df.get_column("sender").to_list() == ["小王", "我", "小王", "我", "小王", "小王", None, None, "我"]
    assert df.item(1, "text") == "你也是\n今年一起去旅行吧"
    assert df.item(2, "text") == "[image]"  # never the XML
    assert df.item(4, "text") == "好主意"  # a quoted reply (49/57) is the person's text
    assert df.item(7, "text") == '"小王" 撤回了一条消息'  # from <replacemsg>
    assert df.item(0, "timestamp") == datetime(2024, 1, 1, 8, 0)  # StrTime as written


def test_pywxdump_csv_and_json():
    csv_df, _ = run(wechat.parse, load(PYWXDUMP))
    assert csv_df.get_column("kind").to_list() == ["text", "text", "media", "text", "system", "media"]
    assert csv_df.get_column("sender").to_list() == ["张三", "我", "张三", "我", None, "我"]
    assert csv_df.get_column("chat").unique().to_list() == ["wxid_zhang"]  # page suffix dropped
    json_df, _ = run(wechat.parse, load(PYWXDUMP_JSON))
    assert json_df.get_column("text").to_list() == csv_df.get_column("text").to_list()


def test_epoch_create_time_uses_clonekit_tz(monkeypatch):
    # the JSON's first message has CreateTime 1701428400 (epoch) instead of a written time
    monkeypatch.delenv("CLONEKIT_TZ", raising=False)
    df, _ = run(wechat.parse, load(PYWXDUMP_JSON))
    assert df.item(0, "timestamp") == datetime(2023, 12, 1, 11, 0)  # UTC by default
    monkeypatch.setenv("CLONEKIT_TZ", "Asia/Shanghai")
    df, _ = run(wechat.parse, load(PYWXDUMP_JSON))
    assert df.item(0, "timestamp") == datetime(2023, 12, 1, 19, 0)
    monkeypatch.setenv("CLONEKIT_TZ", "Mars/Olympus")
    with pytest.raises(ClonekitError, match="CLONEKIT_TZ='Mars/Olympus'"):
        wechat.parse([load(PYWXDUMP_JSON)], lambda _m: None)


def test_strtalker_columns_and_unknown_type():
    rows = [["StrTalker", "IsSender", "Type", "SubType", "CreateTime", "StrContent"],
            ["wxid_a", "0", "1", "0", "1704067200", "hi"], ["wxid_a", "1", "1", "0", "1704067260", "yo"],
            ["wxid_a", "0", "9999", "0", "1704067320", "<xml/>"]]
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    assert detected("talk.csv", buf.getvalue()) == "wechat"
    df, warnings = run(wechat.parse, Document("talk.csv", buf.getvalue()))
    assert df.get_column("sender").to_list() == ["wxid_a", "Me", "wxid_a"]
    assert df.item(2, "kind") == "media" and df.item(2, "text") == "[type 9999]"
    assert warnings and "unknown type" in warnings[0]


@pytest.mark.parametrize("name", [MEMOTRACE, PYWXDUMP, PYWXDUMP_JSON])
def test_detected_over_generic_csv(name, tmp_path):
    assert detected(name, load(name).text) == "wechat"
    (tmp_path / name).write_bytes(fixture("wechat", name).read_bytes())
    result = ingest_paths([tmp_path])
    assert [f.format for f in result.files] == ["wechat"]


def test_errors_are_one_line():
    cases = [("x.csv", ""), ("x.csv", "IsSender,StrContent\n1,hi\n"),
             ("x.csv", "IsSender,StrContent,StrTime\n1,hi,yesterday\n"), ("x.json", "[1, 2]"), ("x.json", "[{")]
    for name, text in cases:
        with pytest.raises(ParseError) as err:
            wechat.parse([Document(name, text)], lambda _m: None)
        assert_one_line(err.value)


@settings(max_examples=80, deadline=None)
@given(mutated_json(json.loads(fixture("wechat", PYWXDUMP_JSON).read_text(encoding="utf-8")),
                    ["", "1", "文本", "图片", 49, 57, "1704067200", "2024-13-01 00:00:00", None, "1e999"]))
def test_fuzz_json(text):
    only_parse_error(wechat.parse, Document("x.json", text))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from([
    "1,2,1,0,0,1704067200,2,hi,2024-01-01 08:00:00,a,b,c", "1,2,3,0,1,x,2,,2024-01-01 08:00:00,,,",
    '1,2,49,57,0,1,2,"multi\nline",2024-01-01 08:00:00,a,b,c', "1,2,10002,0,0,1,2,<sysmsg/>,2024-02-30 00:00:00,,,",
    "", ",,,,,,,,,,,", '"',
]) | st.text(max_size=30), max_size=8))
def test_fuzz_csv(lines):
    header = "localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime,Remark,NickName,Sender"
    only_parse_error(wechat.parse, Document("x.csv", "\n".join([header, *lines])))


def test_pywxdump_json_folder_nested_content_and_users_json():
    """PyWxDump's export_json: <wxid>_<start>_<end>.json (older rows nest the text in
    "content") and users.json mapping wxids to remark / nickname."""
    folder = fixture("wechat", "pywxdump_json", "12345678@chatroom")
    result = ingest_paths([folder])
    assert [f.format for f in result.files] == ["wechat"]  # users.json is not taken for a chat
    df = result.messages
    assert df.get_column("sender").to_list() == ["老李", "我", "赵六", None]  # remark, else nickname
    assert df.get_column("kind").to_list() == ["text", "text", "media", "system"]
    assert df.get_column("text").to_list()[:2] == ["大家晚上好", "晚上好！"]
    assert df.get_column("chat").unique().to_list() == ["12345678@chatroom"]
