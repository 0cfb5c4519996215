"""The store is idempotent (a version equal to its parent or the latest one is not
written unless forced) and writes owner-only files whatever the umask."""

from __future__ import annotations

import os

import pytest

from builder.curate.store import NothingChanged, write_version

REC = {"messages": [{"role": "user", "content": "hi", "name": "A"}, {"role": "assistant", "content": "yo"}]}


@pytest.fixture
def open_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_unchanged_versions_are_not_written(tmp_path, open_umask):
    v1 = write_version("me", [REC], [], {"config": {}}, root=tmp_path)
    with pytest.raises(NothingChanged) as err:
        write_version("me", [REC], [], {"config": {"other": 1}}, root=tmp_path)
    assert err.value.path == v1 and str(err.value).startswith("nothing changed since me/v0001")
    # against the named parent (synth keeping nothing, a review rejecting nothing)
    with pytest.raises(NothingChanged):
        write_version("me", [REC], [], {}, root=tmp_path, parent="me/v0001")
    v2 = write_version("me", [REC], [], {}, root=tmp_path, force=True)
    assert v2.name == "v0002"
    v3 = write_version("me", [REC, REC], [], {}, root=tmp_path, parent="me/v0001")
    assert v3.name == "v0003"
    assert sorted(p.name for p in (tmp_path / "me").iterdir()) == ["v0001", "v0002", "v0003"]


def test_versions_are_owner_only_under_an_open_umask(tmp_path, open_umask):
    v = write_version("me", [REC], [REC], {}, root=tmp_path / "datasets")
    assert {f.name: f.stat().st_mode & 0o777 for f in v.iterdir()} == {
        "train.jsonl": 0o600, "val.jsonl": 0o600, "manifest.json": 0o600}
    for folder in (v, v.parent, v.parent.parent):
        assert folder.stat().st_mode & 0o777 == 0o700, folder
