"""The sandbox's $filter parser, on plain dicts."""

from __future__ import annotations

import pytest

from sandbox.dataverse.filter import FilterError, compile_filter

KINDS = {"name": "string", "qty": "int", "price": "money", "on": "datetime", "active": "bool",
         "_acct_value": "guid"}


def resolve(name: str) -> str:
    if name.lower() not in KINDS:
        raise KeyError(f"Could not find a property named '{name}'")
    return KINDS[name.lower()]


ROWS = [
    {"name": "Alpha", "qty": 1, "price": "10.50", "on": "2024-01-01T00:00:00Z", "active": True,
     "_acct_value": "00000000-0000-0000-0000-0000000000aa"},
    {"name": "beta", "qty": 5, "price": "3", "on": "2024-06-01T10:00:00Z", "active": False, "_acct_value": None},
    {"name": None, "qty": None, "price": None, "on": None, "active": None, "_acct_value": None},
]


def names(expr: str) -> list:
    pred = compile_filter(expr, resolve)
    return [r["name"] for r in ROWS if pred(r)]


@pytest.mark.parametrize("expr, expected", [
    ("name eq 'ALPHA'", ["Alpha"]),
    ("qty gt 1", ["beta"]),
    ("qty ge 1 and qty le 5", ["Alpha", "beta"]),
    ("price lt 10.5", ["beta"]),
    ("price eq 10.50", ["Alpha"]),
    ("on ge 2024-03-01", ["beta"]),
    ("on lt 2024-06-01T10:00:01Z", ["Alpha", "beta"]),
    ("active eq false or name eq null", ["beta", None]),
    ("not (active eq true)", ["beta", None]),
    ("contains(name,'ET')", ["beta"]),
    ("startswith(name, 'al') or endswith(name,'TA')", ["Alpha", "beta"]),
    ("_acct_value eq 00000000-0000-0000-0000-0000000000AA", ["Alpha"]),
    ("_acct_value ne null", ["Alpha"]),
    ("(qty eq 1 or qty eq 5) and not contains(name, 'x')", ["Alpha", "beta"]),
    ("name eq 'O''Neil'", []),
])
def test_filters(expr, expected):
    assert names(expr) == expected


@pytest.mark.parametrize("expr", ["qty eq", "qty xx 1", "(qty eq 1", "qty eq 1 and", "nosuch eq 1", "qty eq 1 )"])
def test_bad_filters(expr):
    with pytest.raises(FilterError):
        compile_filter(expr, resolve)


def test_any_of_one_column_answers_like_the_or_chain_it_is() -> None:
    # `col eq a or col eq b ...` is evaluated as one set lookup; the answers must not change.
    guid = "00000000-0000-0000-0000-0000000000AA"
    assert names(f"_acct_value eq {guid} or _acct_value eq 00000000-0000-0000-0000-0000000000bb") == ["Alpha"]
    assert names("name eq 'ALPHA' or name eq 'Beta' or name eq 'zeta'") == ["Alpha", "beta"]
    assert names("qty eq 5 or qty eq 1.0") == ["Alpha", "beta"]
    assert names("price eq 3 or price eq 10.5") == ["Alpha", "beta"]
    assert names("qty eq 5 or name eq 'Alpha'") == ["Alpha", "beta"]  # mixed columns: the plain path
    assert names("(qty eq 1 or qty eq 7) and active eq true") == ["Alpha"]
