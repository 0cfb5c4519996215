from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

PERSONA = {"name": "Sam", "facts": ["lives in Lyon"], "style": "short, lowercase", "template": "default"}
CONTACTS = ["Alex", "Mia", "Jo"]
OPENERS = ["hey are you free tonight", "did you see the match", "what are you cooking", "how was work",
           "can you send me the photos", "are we still on for sunday", "lol look at this", "wanna grab coffee"]
REPLIES = ["yes! around 8?", "haha no, who won", "pasta again obviously", "long day, tell you later",
           "sure, sending now", "yep sunday works", "that's hilarious", "always, usual place?"]


def make_record(rng: random.Random, group: bool = False) -> dict:
    contact = rng.choice(CONTACTS)
    msgs = [{"role": "system", "content": f"You are Sam, texting with {contact}. Keep it short."}]
    for _ in range(rng.randint(1, 3)):
        who = rng.choice(CONTACTS) if group else contact
        msgs.append({"role": "user", "content": rng.choice(OPENERS), "name": who})
        msgs.append({"role": "assistant", "content": rng.choice(REPLIES)})
    return {"messages": msgs, "meta": {"contact": contact, "role_tag": "friend", "source": "test", "start": "",
                                       "end": "", "n_tokens": 0, "synthetic": False}}


def write_dataset(root: Path, n_train: int = 48, n_val: int = 8, seed: int = 0, name: str = "sam") -> Path:
    rng = random.Random(seed)
    vdir = root / name / "v0001"
    vdir.mkdir(parents=True)
    for split, n in (("train", n_train), ("val", n_val)):
        with open(vdir / f"{split}.jsonl", "w") as fh:
            for _ in range(n):
                fh.write(json.dumps(make_record(rng)) + "\n")
    manifest = {"version": "v0001", "name": name, "parent": None, "config": {"persona": PERSONA},
                "counts": {"conversations": n_train + n_val}}
    (vdir / "manifest.json").write_text(json.dumps(manifest))
    return vdir


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "datasets")
