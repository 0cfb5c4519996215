from __future__ import annotations

import polars as pl

from builder.curate import clean


def turns(texts):
    """One user + one assistant turn per conversation: (question, answer)."""
    rows = []
    for conv, (q, a) in enumerate(texts):
        rows += [{"conv": conv, "pos": 0, "role": "user", "name": "Ann", "content": q, "n_tokens": 1},
                 {"conv": conv, "pos": 1, "role": "assistant", "name": None, "content": a, "n_tokens": 1}]
    return pl.DataFrame(rows)


def words(n, prefix="w"):
    return " ".join(f"{prefix}{i}" for i in range(n))


def test_exact_duplicates_on_normalised_text_keep_the_first():
    t = turns([("Hello,  there!", "Hi"), ("hello there", "hi."), ("hello there", "bye"), ("HELLO THERE", "HI")])
    assert clean.exact_duplicates(t).to_list() == [1, 3]


def test_near_duplicates_found_at_threshold_and_not_below():
    base = words(40)
    # 3-word shingles of the whole conversation ("user: ..." / "assistant: ..."): replacing
    # the last k words of the answer changes exactly k shingles of the 44 in each set
    a = ("question text here", base)
    variants = []
    for k in range(0, 12):
        changed = " ".join(base.split()[: 40 - k] + [f"x{i}" for i in range(k)])
        variants.append(("question text here", changed))
    convs = [a] + variants[1:]
    t = turns(convs)
    sh = clean.shingles(t, 3)
    sets = {c: set(g["h"].to_list()) for (c,), g in sh.group_by("conv")}
    jac = {c: len(sets[0] & sets[c]) / len(sets[0] | sets[c]) for c in sets if c}
    threshold = 0.8
    expected = sorted(c for c, j in jac.items() if j >= threshold)
    assert 0 < len(expected) < len(jac)  # the series straddles the threshold
    found = clean.near_duplicates(turns([a] + variants[1:]), threshold, num_perm=64, n_words=3)
    # a later conversation similar to an earlier one is dropped; each variant is also close
    # to its neighbours, so compare with the pairwise truth over all earlier conversations
    truth = set()
    for c in sets:
        for e in sets:
            if e < c and len(sets[e] & sets[c]) / len(sets[e] | sets[c]) >= threshold:
                truth.add(c)
    assert set(found.to_list()) == truth
    assert set(expected) <= truth


def test_near_duplicates_ignore_unrelated_conversations():
    t = turns([(words(30, "a"), words(30, "b")), (words(30, "c"), words(30, "d")), (words(30, "e"), words(30, "f"))])
    assert clean.near_duplicates(t, 0.5).to_list() == []


def test_lsh_params_use_the_permutations():
    b, r = clean.lsh_params(32, 0.8)
    assert b * r <= 32 and (1 / b) ** (1 / r) < 0.8


def test_length_filter_and_long_messages():
    convs = pl.DataFrame({"conv": [0, 1, 2], "n_tokens": [5, 50, 500]})
    assert clean.length_filter(convs, 10, 100)["conv"].to_list() == [1]
    msgs = pl.DataFrame({"text": ["short", "x" * 101, "é" * 100]})
    kept, dropped = clean.drop_long_messages(msgs, 100)
    assert kept.collect()["text"].to_list() == ["short", "é" * 100] and dropped == 1  # characters, not bytes
    kept, dropped = clean.drop_long_messages(msgs.head(1), 100)
    assert kept.collect()["text"].to_list() == ["short"] and dropped == 0


def test_normalized_equals_the_plain_definition():
    import random
    import re

    rng = random.Random(0)
    alphabet = list("ab C.,!  \n\t<>é中😀'-_") + ["  ", "\u00a0", "..."]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 25))) for _ in range(3000)]
    got = pl.DataFrame({"c": texts}).select(clean.normalized(pl.col("c")))["c"].to_list()
    # lowercase, every run of non letters/digits/<> to one space, trimmed
    want = [re.sub(r"[^\w<>]+|_+", " ", t.lower()).strip() for t in texts]
    want = [re.sub(r"\s+", " ", w).strip() for w in want]
    assert got == want
