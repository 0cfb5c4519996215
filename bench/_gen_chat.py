"""A WhatsApp Android export shaped like real chats, for bench/build.py --shape short.

bench/ingest.py's generator writes one endless session of word salad (messages <= 15 min
apart, a 40-word vocabulary), so the build sees a few thousand huge conversations. Real
exports are many short sessions separated by hours, with a long-tailed vocabulary, emoji,
the same short replies over and over, and the odd chain message forwarded into several
chats (exact and near duplicates). This generator writes that shape, deterministically.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

SHORT = ["ok", "haha", "lol", "yes", "no", "ok 👍", "thanks!", "see you", "😂😂", "love you x", "on my way",
         "sounds good", "what time?", "nice", "omg", "can't wait", "I'm here", "wdyt?", "sure", "👍"]
EMOJI = ["😂", "❤️", "👍", "🎉", "😅", "🙈", "🔥", "😭"]
SYLLABLES = ["ka", "lo", "mi", "ne", "ra", "to", "su", "vi", "de", "po", "an", "el", "is", "or", "un", "be"]


def _vocabulary(rng: random.Random, n: int = 6000) -> list[str]:
    words = {"the", "a", "to", "and", "you", "I", "it's", "don't", "we're", "that", "is", "at", "on", "for"}
    while len(words) < n:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4))))
    return sorted(words)


def generate_chat(path: Path, n: int, me: str, others: list[str], seed: int) -> int:
    """Write an n-message export: sessions of 2-60 messages, 20 s-8 min apart inside a
    session, 2-30 h between sessions. Returns the size in bytes."""
    rng = random.Random(seed)
    vocab = _vocabulary(random.Random(1))
    weights = [1 / (i + 1) for i in range(len(vocab))]  # Zipf-like word frequencies
    chain = ("Forward this to 10 friends: " + " ".join(rng.choices(vocab, weights, k=40)),
             "FW: " + " ".join(rng.choices(vocab, weights, k=35)))
    t = dt.datetime(2018, 6, 1, 9, 0)
    out: list[str] = []
    written = 0
    while written < n:
        t += dt.timedelta(hours=rng.uniform(2, 30))
        speaker = rng.choice([me] + others)
        for _ in range(min(rng.randint(2, 60), n - written)):
            t += dt.timedelta(seconds=rng.randint(20, 480))
            if rng.random() < 0.45:
                speaker = rng.choice([me] + others) if rng.random() < 0.5 else me
            r = rng.random()
            if r < 0.30:
                body = rng.choice(SHORT)
            elif r < 0.33:
                body = "<Media omitted>"
            elif r < 0.334:
                body = rng.choice(chain) + (" " + rng.choice(vocab) if rng.random() < 0.5 else "")
            else:
                words = rng.choices(vocab, weights, k=rng.randint(3, 25))
                if rng.random() < 0.2:
                    words.append(rng.choice(EMOJI))
                body = " ".join(words).capitalize() + rng.choice(["", ".", "!", "?", " :)"])
                if rng.random() < 0.05:
                    body += "\n" + " ".join(rng.choices(vocab, weights, k=rng.randint(2, 10)))
            out.append(f"{t:%d/%m/%Y, %H:%M} - {speaker}: {body}\n")
            written += 1
    path.write_text("".join(out), encoding="utf-8")
    return path.stat().st_size
