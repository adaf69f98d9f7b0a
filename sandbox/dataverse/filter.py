"""$filter -> predicate, for the subset Dataverse callers use: eq ne gt ge lt le, and/or/not,
parentheses, contains/startswith/endswith, and string/number/bool/null/guid/datetime literals.
String comparisons ignore case, as Dataverse's SQL collation does.
https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/filter-rows
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sandbox.dataverse.values import GUID_RE, parse_datetime, typed

Row = dict[str, Any]
Predicate = Callable[[Row], bool]
# name -> kind; raises KeyError for an unknown column
Resolver = Callable[[str], str]
# `lookup/column` -> a getter reading that column of the row the lookup points at
Related = Callable[[str], Callable[[Row], Any]]


class FilterError(ValueError):
    pass


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^']|'')*')
      | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})
      | (?P<dt>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)
      | (?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)[mMdDfFlL]?
      | (?P<name>[A-Za-z_][A-Za-z0-9_.]*(?:/[A-Za-z_][A-Za-z0-9_.]*)?)
      | (?P<punct>[(),=])
    )""",
    re.X,
)

_COMPARE = {"eq", "ne", "gt", "ge", "lt", "le"}
_FUNCS = {"contains", "startswith", "endswith"}
_KEYWORDS = {"and", "or", "not", "true", "false", "null"} | _COMPARE


def tokenize(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise FilterError(f"Syntax error at position {pos} in '{text}'.")
        pos = m.end()
        kind = m.lastgroup
        value = m.group(kind)  # type: ignore[arg-type]
        if kind == "str":
            tokens.append(("lit", value[1:-1].replace("''", "'")))
        elif kind == "guid":
            tokens.append(("lit", value.lower()))
        elif kind == "dt":
            tokens.append(("lit", parse_datetime(value)))
        elif kind == "num":
            tokens.append(("lit", Decimal(value) if any(c in value for c in ".eE") else int(value)))
        elif kind == "name":
            low = value.lower()
            if low == "true":
                tokens.append(("lit", True))
            elif low == "false":
                tokens.append(("lit", False))
            elif low == "null":
                tokens.append(("lit", None))
            elif low in _KEYWORDS:
                tokens.append(("kw", low))
            else:
                tokens.append(("name", value))
        else:
            tokens.append(("punct", value))
    return tokens


def _norm(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "eq":
        return _norm(left) == _norm(right)
    if op == "ne":
        return _norm(left) != _norm(right)
    if left is None or right is None:
        return False
    left, right = _norm(left), _norm(right)
    try:
        if op == "gt":
            return left > right
        if op == "ge":
            return left >= right
        if op == "lt":
            return left < right
        return left <= right
    except TypeError as exc:
        raise FilterError(f"cannot compare {left!r} with {right!r}") from exc


class _Parser:
    def __init__(self, text: str, resolve: Resolver, related: Related | None = None) -> None:
        self.tokens = tokenize(text)
        self.pos = 0
        self.resolve = resolve
        self.related = related

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, kind: str | None = None, value: Any = None) -> tuple[str, Any]:
        tok = self.peek()
        if tok is None or (kind and tok[0] != kind) or (value is not None and tok[1] != value):
            raise FilterError(f"Syntax error: expected {value or kind}, found {tok[1] if tok else 'end of filter'}.")
        self.pos += 1
        return tok

    def parse(self) -> Predicate:
        pred = self.or_expr()
        if self.peek() is not None:
            raise FilterError(f"Syntax error: unexpected '{self.peek()[1]}'.")  # type: ignore[index]
        return pred

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.peek() == ("kw", "or"):
            self.take()
            parts.append(self.and_expr())
        if len(parts) == 1:
            return parts[0]
        # `col eq a or col eq b or ...` (how clients ask for "any of these ids") as one set lookup,
        # so a 50-id filter over a big table costs one comparison per row, not 50.
        eqs = [getattr(p, "eq_literal", None) for p in parts]
        if all(e is not None for e in eqs) and len({e[0] for e in eqs}) == 1:  # type: ignore[index]
            getter = eqs[0][1]  # type: ignore[index]
            try:
                wanted = {_norm(e[2]) for e in eqs}  # type: ignore[index]
            except TypeError:
                wanted = None
            if wanted is not None:
                return lambda row: _norm(getter(row)) in wanted
        return lambda row: any(p(row) for p in parts)

    def and_expr(self) -> Predicate:
        parts = [self.not_expr()]
        while self.peek() == ("kw", "and"):
            self.take()
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else (lambda row: all(p(row) for p in parts))

    def not_expr(self) -> Predicate:
        if self.peek() == ("kw", "not"):
            self.take()
            inner = self.not_expr()
            return lambda row: not inner(row)
        return self.primary()

    def operand(self) -> tuple[Callable[[Row], Any], str | None]:
        kind, value = self.take()
        if kind == "lit":
            return (lambda row: value), None
        if kind == "name":
            try:
                col_kind = self.resolve(value)
            except KeyError as exc:
                raise FilterError(str(exc.args[0])) from exc
            if "/" in value:
                # A single-valued navigation property's column: `cspb_billingcontract/_cspb_account_value`.
                if self.related is None:
                    raise FilterError(f"Navigation paths are not supported here: '{value}'.")
                try:
                    getter = self.related(value)
                except KeyError as exc:
                    raise FilterError(str(exc.args[0])) from exc
                return (lambda row: typed(col_kind, getter(row))), col_kind
            name = value.lower()
            return (lambda row: typed(col_kind, row.get(name))), col_kind
        raise FilterError(f"Syntax error: unexpected '{value}'.")

    def primary(self) -> Predicate:
        tok = self.peek()
        if tok == ("punct", "("):
            self.take()
            inner = self.or_expr()
            self.take("punct", ")")
            return inner
        if tok and tok[0] == "name" and tok[1].lower() in _FUNCS:
            func = tok[1].lower()
            self.take()
            self.take("punct", "(")
            left, _ = self.operand()
            self.take("punct", ",")
            right, _ = self.operand()
            self.take("punct", ")")

            def call(row: Row) -> bool:
                a, b = left(row), right(row)
                if a is None or b is None:
                    return False
                a, b = str(a).lower(), str(b).lower()
                return b in a if func == "contains" else a.startswith(b) if func == "startswith" else a.endswith(b)

            return call
        name_tok = self.peek()
        name_of_left = str(name_tok[1]).lower() if name_tok and name_tok[0] == "name" else None
        left, lkind = self.operand()
        op_tok = self.take("kw")
        if op_tok[1] not in _COMPARE:
            raise FilterError(f"Syntax error: expected a comparison, found '{op_tok[1]}'.")
        right, rkind = self.operand()
        op = op_tok[1]
        col_kind = lkind or rkind

        def literal_for(getter: Callable[[Row], Any]) -> Callable[[Row], Any]:
            # Literals are read in the column's terms: '2024-01-01' against a date, 5 against money.
            if col_kind in ("decimal", "money"):
                return lambda row: None if getter(row) is None else Decimal(str(getter(row)))
            if col_kind in ("datetime", "date"):
                def as_dt(row: Row) -> Any:
                    v = getter(row)
                    return parse_datetime(v) if isinstance(v, str) else v
                return as_dt
            if col_kind in ("guid", "lookup") :
                def as_guid(row: Row) -> Any:
                    v = getter(row)
                    if isinstance(v, str) and not GUID_RE.fullmatch(v):
                        raise FilterError(f"'{v}' is not a valid GUID.")
                    return v
                return as_guid
            return getter

        if lkind is None:
            left = literal_for(left)
        if rkind is None:
            right = literal_for(right)

        def compare(row: Row) -> bool:
            return _compare(op, left(row), right(row))

        if op == "eq" and lkind is not None and rkind is None:
            try:
                value = right({})
            except FilterError:
                pass  # a bad literal keeps failing where it did: when a row is compared
            else:
                if value is not None:
                    compare.eq_literal = (name_of_left, left, value)  # type: ignore[attr-defined]
        return compare


def compile_filter(text: str, resolve: Resolver, related: Related | None = None) -> Predicate:
    return _Parser(text, resolve, related).parse()
