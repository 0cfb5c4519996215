"""A small dataset version in the store layout, for synthesis tests and bench/synth.py."""

from __future__ import annotations

import random
from pathlib import Path

PERSONA = {"name": "Ana", "facts": ["lives in Lisbon", "works as a nurse", "has a cat called Miso",
                                    "plays the cello", "hates coriander"],
           "style": "short lowercase messages, lots of 'haha'"}
CONTACTS = {"Bob": ("friend", 30), "Carla": ("boss", 6), "Dad": ("family", 4)}

_SUBJECTS = ["the concert", "dinner", "the hospital shift", "Miso", "the weekend", "the train",
             "cello practice", "the rent", "your sister", "the beach", "that new cafe", "the match"]
_VERBS = ["moved", "cancelled", "booked", "forgot", "loved", "finished", "missed", "started"]
_TAILS = ["haha", "no way", "ok fine", "see you later", "tell me more", "so tired", "lol", "yes please"]


def _sentence(rng: random.Random) -> str:
    return (f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(['again', 'today', 'yesterday', 'early'])}"
            f" {rng.randint(1, 999)} {rng.choice(_TAILS)} {rng.choice(_SUBJECTS)}")


def make_tokenizer(path: Path) -> str:
    """Train a tiny byte-level BPE tokenizer.json locally (no downloads); return its spec."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if not path.is_file():
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      show_progress=False)
        rng = random.Random(0)
        tok.train_from_iterator([_sentence(rng) for _ in range(300)], trainer)
        path.parent.mkdir(parents=True, exist_ok=True)
        tok.save(str(path))
    return str(path)


def make_records(tokenizer: str, seed: int = 0) -> tuple[list[dict], list[dict]]:
    from builder.curate.persona import PersonaConfig, system_prompt
    from builder.tokens import load_counter

    rng = random.Random(seed)
    counter = load_counter(tokenizer)
    persona = PersonaConfig(**PERSONA)
    records = []
    for contact, (role, n) in CONTACTS.items():
        for i in range(n):
            turns = []
            for _ in range(rng.randint(2, 4)):
                turns.append({"role": "user", "content": _sentence(rng), "name": contact})
                turns.append({"role": "assistant", "content": _sentence(rng)})
            n_tokens = sum(counter.count([t["content"] for t in turns]))
            records.append({
                "messages": [{"role": "system", "content": system_prompt(persona, contact, role)}, *turns],
                "meta": {"contact": contact, "role_tag": role, "source": "sample.txt",
                         "start": f"2024-01-{i % 28 + 1:02d}T10:00:00", "end": f"2024-01-{i % 28 + 1:02d}T10:30:00",
                         "n_tokens": n_tokens, "synthetic": False},
            })
    rng.shuffle(records)
    n_val = max(1, len(records) // 10)
    return records[n_val:], records[:n_val]


def make_version(root: Path, name: str = "ana", seed: int = 0) -> Path:
    """Write ``root/name/v0001`` through the store (tokenizer.json beside ``root``)."""
    from builder.curate.store import write_version

    spec = make_tokenizer(root.parent / "tokenizer.json")
    train, val = make_records(spec, seed)
    manifest = {"config": {"build": {"name": name, "me": ["Ana"]}, "persona": PERSONA,
                           "tokenizer": {"spec": spec}},
                "counts": {"conversations": len(train) + len(val)}}
    return write_version(name, train, val, manifest, root=root)
