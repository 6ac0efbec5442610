"""Hostile inputs for the security suite: hypothesis strategies and the count of cases made.

`CASES` counts every generated case by target; tests/security/conftest.py prints the sum at
the end of the run (and writes var/artifacts/hostile_cases.json).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

CASES: Counter[str] = Counter()

# Property tests share one app per test on purpose (state must not change between cases).
SUITE = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
    database=None,
)  # fmt: skip

OPERATOR_KEYS = ("$where", "$gt", "$ne", "$regex", "$in", "$expr", "$set", "__proto__",
                 "constructor", "prototype")  # fmt: skip
ODD_TEXT = (
    "\u202e\u0000\ufeff", "𝄞😀", "e\u0301", "ǅ", "\u2028\u2029", "<script>alert(1)</script>",
    "'\"><img src=x onerror=alert(1)>", "{{7*7}}", "${7*7}", "../../etc/passwd", "%00",
    "\\u0000", "a\tb\nc", "Ω≈ç√∫", "ＡＢＣ", "\U0010ffff",
)  # fmt: skip
# JSON texts a strict parser must refuse, or that are valid but pathological.
RAW_BODIES = st.one_of(
    st.sampled_from([
        b"NaN", b"Infinity", b"-Infinity", b'{"a": NaN}', b'{"quantity": Infinity}',
        b'{"a": 1e999}', b'{"a": "\\ud800"}', b"{", b"}", b"[", b"", b"null", b"\xff\xfe",
        b'{"a":1,}', b"{'a': 1}", b'{"a" 1}', b"\x00", b'"just a string"', b"[]", b"12",
        b'{"__proto__": {"admin": true}}', b'{"constructor": {"prototype": {"x": 1}}}',
    ]),
    st.integers(50, 5000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.integers(50, 5000).map(lambda depth: b'{"a":' * depth + b"1" + b"}" * depth),
    st.binary(max_size=200),
)  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=50),
    st.sampled_from(ODD_TEXT),
    st.builds(lambda piece, n: piece * n, st.sampled_from(["a", "é", "𝄞", "<", "$"]),
              st.integers(1000, 40_000)),
)  # fmt: skip
keys = st.one_of(st.sampled_from(OPERATOR_KEYS), st.text(max_size=20))
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(keys, children, max_size=5)
    ),
    max_leaves=15,
)
operator_objects = st.dictionaries(st.sampled_from(OPERATOR_KEYS), json_values, min_size=1,
                                   max_size=3)  # fmt: skip
# A value put in place of a field a valid body has: anything but what the field wants
# (tests reject the cases that happen to be valid).
field_values = st.one_of(json_values, operator_objects, st.lists(json_values, max_size=3))


def encode(value: Any) -> bytes:
    """JSON text for any value, NaN and Infinity included (Python writes them bare)."""
    return json.dumps(value, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass")


def bodies(valid: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """Hostile bodies for an endpoint whose valid body looks like `valid`."""
    mutated = st.builds(
        lambda name, value: encode({**valid, name: value}),
        st.sampled_from(sorted(valid)),
        field_values,
    )
    return st.one_of(
        RAW_BODIES,
        json_values.map(encode),
        operator_objects.map(encode),
        mutated,
        mutated,  # twice: mutations of a valid body reach the deepest checks
    )
