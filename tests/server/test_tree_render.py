"""tree.render lists an object's keys in key order, whichever path (plain or key_order sort) it takes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from focuscli.server import tree

KEYS = st.one_of(
    st.sampled_from(
        [
            "a",
            "B",
            "z",
            "_",
            "~",
            "0",
            "1",
            "10",
            "01",
            "-1",
            "-",
            "1a",
            "é",
            "\uffff",
            "\U0001f600",
        ]
    ),
    st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters=".$#[]/\x7f"),
        min_size=1,
        max_size=3,
    ),
).filter(tree.is_valid_key)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        KEYS,
        st.one_of(st.integers(), st.dictionaries(KEYS, st.booleans(), min_size=1, max_size=4)),
        min_size=1,
        max_size=12,
    )
)
def test_render_lists_keys_in_key_order(value: dict[str, object]) -> None:
    rendered = tree.render(tree.normalize(value))
    if isinstance(rendered, dict):
        assert list(rendered) == sorted(rendered, key=tree.key_order)
        for child in rendered.values():
            if isinstance(child, dict):
                assert list(child) == sorted(child, key=tree.key_order)
    assert rendered == tree.render(tree.normalize(value))
