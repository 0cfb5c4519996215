from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from builder.curate.config import load_build_config
from builder.curate.persona import PersonaConfig, system_prompt
from builder.curate.split import split
from builder.errors import ConfigError


def convs(n):
    return pl.DataFrame({"conv": list(range(n)), "end": [dt.datetime(2024, 1, 1) + dt.timedelta(days=i) for i in range(n)]})


def test_split_by_conversation_is_seeded_and_sized():
    a = split(convs(20), 0.25, "conversation", seed=3)
    assert (a["split"] == "val").sum() == 5
    assert a.equals(split(convs(20), 0.25, "conversation", seed=3))
    assert not a.equals(split(convs(20), 0.25, "conversation", seed=4))


def test_split_by_time_puts_newest_in_val():
    a = split(convs(10), 0.2, "time")
    assert a.filter(pl.col("split") == "val")["conv"].to_list() == [8, 9]


def test_tiny_sets_keep_at_least_one_train():
    assert split(convs(1), 0.5)["split"].to_list() == ["train"]
    assert split(convs(2), 0.01)["split"].to_list().count("val") == 1


def test_system_prompt_fields_and_optional_lines():
    p = PersonaConfig(name="Sam", facts=["lives in Lyon", "likes climbing."], style="short, lowercase")
    text = system_prompt(p, "Ann", "partner")
    assert text.startswith("You are Sam, chatting with Ann (partner).")
    assert "About Sam: lives in Lyon; likes climbing." in text
    assert "How Sam writes: short, lowercase" in text
    bare = system_prompt(PersonaConfig(), "Bob", "friend", me="Sam")
    assert "About" not in bare and "How Sam writes" not in bare
    custom = PersonaConfig(template="{me} talks to {contact}, {role}. {facts}")
    assert system_prompt(custom, "Bob", "boss", me="Sam") == "Sam talks to Bob, boss."


def test_template_unknown_placeholder_is_a_config_error(tmp_path):
    cfg = tmp_path / "clonekit.toml"
    cfg.write_text('[persona]\ntemplate = "hi {name}"\n')
    with pytest.raises(ConfigError, match=r"persona.template.*unknown placeholder \{name\}"):
        load_build_config(cfg, {})


def test_config_unknown_key_and_wrong_type_name_the_key(tmp_path):
    cfg = tmp_path / "clonekit.toml"
    cfg.write_text("[balance]\nmax_shar = 0.4\n")
    with pytest.raises(ConfigError, match=r"unknown key 'balance.max_shar'"):
        load_build_config(cfg, {})
    cfg.write_text('[sessions]\ngap_minutes = "soon"\n')
    with pytest.raises(ConfigError, match=r"key 'sessions.gap_minutes'"):
        load_build_config(cfg, {})


def test_config_sources_relative_to_toml_and_overrides(tmp_path):
    sub = tmp_path / "conf"
    sub.mkdir()
    cfg = sub / "clonekit.toml"
    cfg.write_text('[build]\nsources = ["../exports/chat.txt"]\nme = ["Sam"]\nname = "mine"\n[split]\nby = "time"\n')
    c = load_build_config(cfg, {"build.name": "other", "build.seed": None})
    assert c.build.sources == [str((tmp_path / "exports" / "chat.txt").resolve())]
    assert c.build.name == "other" and c.build.seed == 0 and c.split.by == "time"
    assert PersonaConfig(**c.model_dump(mode="json")["persona"]) == c.persona


def test_manifest_keeps_env_var_names_but_never_key_values(tmp_path):
    import json as _json

    from builder.curate.store import write_version

    manifest = {"config": {"synth": {"config": {"api_key_env": "OPENAI_API_KEY", "api_key": "sk-live-123",
                                                "openai_api_key_env": "sk-proj-abc123-def", "password": "hunter2"}},
                           "servers": [{"authorization": "Bearer x", "secret_env": "MY_SECRET"}]}}
    path = write_version("d", "", "", manifest, root=tmp_path)
    text = (path / "manifest.json").read_text()
    written = _json.loads(text)["config"]
    assert written["synth"]["config"] == {"api_key_env": "OPENAI_API_KEY"}
    assert written["servers"] == [{"secret_env": "MY_SECRET"}]
    for value in ("sk-live-123", "sk-proj-abc123-def", "hunter2", "Bearer x"):
        assert value not in text
