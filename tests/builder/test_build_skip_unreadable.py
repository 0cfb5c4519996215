"""`clonekit build --skip-unreadable`: strict by default (one bad source file stops the
build), and with the flag the rest is built and each skipped file is named with its reason."""

from __future__ import annotations

import json

from tests.builder.test_build_cli import base_args, cli, exports  # noqa: F401  (fixture)

BROKEN = "32/13/2022, 25:99 - Kim: hi\n33/13/2022, 26:99 - Sam: yo\n"


def test_build_is_strict_by_default_and_skips_with_the_flag(exports, capsys):  # noqa: F811
    (exports / "exports" / "WhatsApp Chat with Broken.txt").write_text(BROKEN)
    rc, out, err = cli(capsys, "build", *base_args(exports), "--me", "Sam")
    assert rc != 0
    assert "WhatsApp Chat with Broken.txt" in err and "impossible date or time" in err

    args = [a for a in base_args(exports) if a != "-q"]
    rc, out, err = cli(capsys, "build", *args, "--me", "Sam", "--skip-unreadable")
    assert rc == 0, err
    assert "skipped unreadable source file" in err and "WhatsApp Chat with Broken.txt" in err
    version = exports / "datasets" / out.strip().splitlines()[-1].split("/datasets/")[-1]
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["counts"]["messages"] > 0


def test_build_year_end_reaches_exports_without_years(exports, capsys):  # noqa: F811
    folder = exports / "exports"
    for f in folder.iterdir():
        f.unlink()
    lines = [f"{d} Mar {10 + i % 10}:{i % 60:02d} - {'Ann' if i % 2 else 'Sam'}: message {i} about lunch today"
             for i, d in enumerate(sorted([1, 2, 3, 4, 5] * 12))]
    (folder / "WhatsApp Chat with Ann.txt").write_text("\n".join(lines) + "\n")
    args = [a for a in base_args(exports) if a != "-q"]
    rc, out, err = cli(capsys, "build", *args, "--me", "Sam", "--year-end", "2017")
    assert rc == 0, err
    version = exports / "datasets" / out.strip().splitlines()[-1].split("/datasets/")[-1]
    records = [json.loads(line) for name in ("train.jsonl", "val.jsonl")
               for line in (version / name).read_text().splitlines()]
    assert records and all(r["meta"]["start"].startswith("2017-03") for r in records)
    assert "counted back from the file's date" not in err
