"""The fuzzing of test_fuzz_ingest.py, seeded with the WeChat, QQ, LINE, KakaoTalk, SMS,
Slack and Telegram-HTML fixtures: byte-level mutations and random text go through
ingest_paths with every format (detected and forced); only our one-line errors escape."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builder.ingest import detect, ingest_paths
from tests.builder.test_fuzz_ingest import FMT, FUZZ, _ingest, mutated
from tests.builder.world_support import FIXTURES

NEW_FORMATS = ("wechat", "qq", "line", "kakaotalk", "sms_xml", "slack", "telegram_html")
SEEDS = {
    path.name: path.read_bytes()
    for folder in ("wechat", "qq", "line", "kakaotalk", "sms", "telegram_html")
    for path in sorted((FIXTURES / folder).rglob("*")) if path.is_file() and path.name != "users.json"
}
SEEDS["2024-01-02.json"] = (FIXTURES / "slack" / "export" / "general" / "2024-01-02.json").read_bytes()


def test_every_new_format_is_registered():
    assert set(NEW_FORMATS) <= set(detect.format_names())


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_each_seed_is_detected_as_its_own_format(tmp_path, name):
    target = tmp_path / name
    target.write_bytes(SEEDS[name])
    result = ingest_paths([target])
    assert result.files[0].format in NEW_FORMATS and result.messages.height > 0


@FUZZ
@given(case=mutated(SEEDS), fmt=FMT)
def test_mutated_world_samples(tmp_path, case, fmt):
    _ingest(tmp_path, *case, fmt)


@FUZZ
@given(text=st.text(max_size=400), name=st.sampled_from(sorted(SEEDS)),
       fmt=st.sampled_from(NEW_FORMATS))
def test_random_text_forced_world_formats(tmp_path, text, name, fmt):
    _ingest(tmp_path, name, text.encode("utf-8", "surrogatepass"), fmt)
