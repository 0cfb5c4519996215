"""Shared checks for the parsers' fuzz tests: bad input may only end in our own error,
and that error is one line a person can read."""

from __future__ import annotations

from builder.errors import ParseError


def assert_one_line(err: ParseError) -> None:
    message = str(err)
    assert message and "\n" not in message, repr(message)


def mutated_json(base: object, odd_values: list):
    """A hypothesis strategy: ``base`` (a JSON tree) with 1–5 slots deleted or replaced by
    odd values, dumped to text and sometimes truncated."""
    import copy
    import json

    from hypothesis import strategies as st

    values = st.sampled_from(odd_values) | st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=12),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
        max_leaves=8,
    )

    def slots(node, out):
        """Every (container, key) in a JSON tree, depth-first."""
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in list(items):
            out.append((node, key))
            slots(child, out)
        return out

    @st.composite
    def mutated(draw):
        data = copy.deepcopy(base)
        for _ in range(draw(st.integers(1, 5))):
            found = slots(data, [])
            if not found:
                break
            node, key = found[draw(st.integers(0, len(found) - 1))]
            if isinstance(node, dict) and draw(st.booleans()):
                del node[key]
            else:
                node[key] = copy.deepcopy(draw(values))  # odd values hold shared lists/dicts
        text = json.dumps(data)
        return text if draw(st.integers(0, 3)) else text[: draw(st.integers(0, len(text)))]

    return mutated()
