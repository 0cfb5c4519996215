"""The workspace keeps every page's settings in clonekit.toml: [synth], [train] and [chat]
are typed tables that `clonekit build` validates but ignores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builder.curate.build import build
from builder.curate.config import BuildConfig, load_build_config
from builder.demo_workspace import create_demo_workspace
from builder.errors import ConfigError
from builder.synth.config import SynthConfig, load_synth_config
from builder.workspace import Workspace


def test_settings_tables_round_trip_through_the_file(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    assert ws.set_section("synth", {"model": "llama3", "base_url": "http://localhost:8000/v1/", "n": 12,
                                    "max_cost": None})
    assert ws.set_section("train", {"preset": "qlora", "base": "org/model", "max_steps": -1, "lr": 1e-4})
    assert ws.set_section("chat", {"temperature": 0.3})
    assert not ws.set_section("chat", {"temperature": 0.3})  # unchanged: not rewritten
    again = Workspace.open(tmp_path / "ws")
    assert again.section("synth")["base_url"] == "http://localhost:8000/v1"
    assert again.section("synth")["n"] == 12 and again.section("synth")["max_cost"] is None
    train = again.build_config().train
    assert (train.preset, train.base) == ("qlora", "org/model")
    assert train.overrides() == {"max_steps": -1, "lr": 1e-4}
    assert again.section("chat") == {"temperature": 0.3, "top_p": 0.95, "max_new_tokens": 96}
    # the [synth] table is also what `clonekit synth --config clonekit.toml` reads
    cfg = load_synth_config(str(again.config_path), {"version": "demo/v0001"})
    assert isinstance(cfg, SynthConfig) and cfg.model == "llama3" and cfg.n == 12


@pytest.mark.parametrize("table,pattern", [
    ('[train]\nmax_step = 3\n', r"unknown key 'train.max_step'"),
    ('[synth]\nversion = "demo/v0001"\n', r"unknown key 'synth.version'"),
    ('[synth]\napi_key_env = "sk-live-123"\n', r"key 'synth.api_key_env'.*NAME of an environment variable"),
    ('[chat]\ntop_p = 0\n', r"key 'chat.top_p'"),
    ('[charts]\nx = 1\n', r"unknown key 'charts'"),
])
def test_bad_settings_are_reported_by_key(tmp_path: Path, table: str, pattern: str) -> None:
    (tmp_path / "clonekit.toml").write_text(table)
    with pytest.raises(ConfigError, match=pattern):
        Workspace.open(tmp_path)
    with pytest.raises(ConfigError, match=pattern):
        load_build_config(tmp_path / "clonekit.toml")


def test_a_bad_value_changes_nothing(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    ws.set_section("synth", {"model": "a"})
    before = ws.config_path.read_text()
    with pytest.raises(ConfigError, match=r"synth.base_url"):
        ws.set_section("synth", {"model": "b", "base_url": "ftp://nope"})
    assert ws.config_path.read_text() == before and ws.section("synth")["model"] == "a"


def test_build_ignores_the_settings_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = create_demo_workspace(tmp_path / "ws")
    monkeypatch.setenv("CLONEKIT_DATASETS", str(ws.datasets_root))
    plain = build(ws.build_config())
    ws.set_section("synth", {"model": "m", "n": 7})
    ws.set_section("train", {"base": "org/model", "epochs": 2.0})
    ws.set_section("chat", {"max_new_tokens": 12})
    with_settings = build(load_build_config(ws.config_path), force=True)  # same records: forced
    for name in ("train.jsonl", "val.jsonl"):
        assert (plain / name).read_bytes() == (with_settings / name).read_bytes()
    config = json.loads((with_settings / "manifest.json").read_text())["config"]
    assert set(config) == set(BuildConfig.model_fields) - {"synth", "train", "chat"}
