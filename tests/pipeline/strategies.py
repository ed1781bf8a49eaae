"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


def scalars(*, int_bound: int, non_finite: bool) -> st.SearchStrategy[Any]:
    """None, booleans, ints within ``±int_bound``, floats (NaN and infinities
    when ``non_finite``) and short text."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-int_bound, max_value=int_bound),
        st.floats(allow_nan=non_finite, allow_infinity=non_finite),
        st.text(max_size=20),
    )


def json_values(
    *, int_bound: int, non_finite: bool, key_size: int, max_leaves: int
) -> st.SearchStrategy[Any]:
    """Nested JSON-like data: :func:`scalars`, lists and string-keyed mappings."""
    return st.recursive(
        scalars(int_bound=int_bound, non_finite=non_finite),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.text(max_size=key_size), inner, max_size=4),
        ),
        max_leaves=max_leaves,
    )
