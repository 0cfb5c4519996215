"""`clonekit train` checks the dataset, preset and base before importing torch, and says
in one line what is wrong: a missing folder by name, no network / HF_HUB_OFFLINE up front."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from builder.errors import ClonekitError
from tests.trainer.conftest import write_dataset
from trainer.preflight import check_base, hub_reachable

REPO = Path(__file__).resolve().parents[2]


def no_network() -> str:
    return "Name or service not known"


def test_base_specs(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.chdir(tmp_path)
    assert check_base("tiny", probe=no_network) == "tiny"
    model = tmp_path / "model"
    model.mkdir()
    with pytest.raises(ClonekitError, match="folder has no config.json"):
        check_base(str(model), probe=no_network)
    (model / "config.json").write_text("{}")
    assert check_base(str(model), probe=no_network) == "folder"
    with pytest.raises(ClonekitError, match=r"^--base ./no-such-model: folder ./no-such-model does not exist"):
        check_base("./no-such-model", probe=no_network)
    with pytest.raises(ClonekitError, match=r"cannot reach huggingface.co \(Name or service not known\) and "
                                            r"Qwen/Qwen2.5-0.5B-Instruct is not in the local Hugging Face cache"):
        check_base("Qwen/Qwen2.5-0.5B-Instruct", probe=no_network)
    assert check_base("Qwen/Qwen2.5-0.5B-Instruct", probe=lambda: None) == "hub"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ClonekitError, match="HF_HUB_OFFLINE is set and Qwen/Qwen2.5-0.5B-Instruct is not in the local"):
        check_base("Qwen/Qwen2.5-0.5B-Instruct", probe=lambda: pytest.fail("no probe when offline"))


def test_cached_base_without_network_goes_offline(tmp_path, monkeypatch):
    """A model in the cache trains without network: the loaders are told so up front
    instead of retrying for a minute."""
    hub = tmp_path / "hub"
    snap = hub / "models--org--model" / "snapshots" / ("a" * 40)
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    (hub / "models--org--model" / "refs").mkdir()
    (hub / "models--org--model" / "refs" / "main").write_text("a" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(hub))
    assert check_base("org/model", probe=no_network) == "cache"
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_probe_reports_why_the_hub_is_unreachable(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "https://127.0.0.1")  # nothing listens on 443 here
    assert hub_reachable(timeout=2.0) == "Connection refused"


def test_train_fails_before_importing_torch(tmp_path):
    data = write_dataset(tmp_path / "datasets", n_train=2, n_val=1)
    script = ("import sys; from clonekit.cli import main; rc = main(sys.argv[1:]); "
              "print(rc, 'torch' in sys.modules, 'transformers' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "CLONEKIT_DATASETS": str(tmp_path / "datasets")}
    for args, needle in [
        (["train", "--data", "nosuch", "--base", "tiny"], "dataset 'nosuch'"),
        (["train", "--data", str(data), "--base", "tiny", "--preset", "nope"], "--preset nope: unknown preset"),
        (["train", "--data", str(data), "--base", "./no-such-model"], "folder ./no-such-model does not exist"),
        (["train", "--data", str(data), "--base", "Qwen/Qwen2.5-0.5B-Instruct"], "HF_HUB_OFFLINE is set"),
    ]:
        out = subprocess.run([sys.executable, "-c", script, *args], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=60)
        assert out.stdout.split() == ["2", "False", "False"], (args, out.stdout, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1 and needle in out.stderr, out.stderr


def test_no_terminal_prints_help_and_exits_2(tmp_path):
    out = subprocess.run([sys.executable, "-m", "clonekit"], cwd=tmp_path, stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 2 and out.stdout == ""
    assert "usage: clonekit" in out.stderr and "no terminal" in out.stderr
    explicit = subprocess.run([sys.executable, "-m", "clonekit", "tui"], cwd=tmp_path, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert explicit.returncode == 2 and "needs a terminal" in explicit.stderr
    assert not (tmp_path / "clonekit.toml").exists()
