"""Quoting for every value put into a LanceDB (DataFusion SQL) or MLflow filter, and name checks at the edge."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable


class UnsafeName(ValueError):
    """A name that cannot be stored, filtered on and tracked safely (control characters, ...)."""


def sql_str(value: str) -> str:
    """A DataFusion string literal: quotes doubled, so a value can never end the literal early."""
    value = str(value)
    if "\x00" in value:
        raise UnsafeName(f"{value!r}: NUL characters cannot be used in a filter")
    return "'" + value.replace("'", "''") + "'"


def sql_eq(column: str, value: str) -> str:
    return f"{column} = {sql_str(value)}"


def sql_in(column: str, values: Iterable[str]) -> str:
    """``column IN (...)``; an empty list matches nothing (rather than being a syntax error)."""
    quoted = [sql_str(v) for v in values]
    return f"{column} IN ({', '.join(quoted)})" if quoted else "false"


def mlflow_str(value: str) -> str:
    """An MLflow search-filter string literal, checked by MLflow's own parser to read back as exactly ``value``.

    MLflow has no escape sequences: a value is quoted with whichever quote it does not contain.
    """
    from mlflow.utils.search_utils import SearchUtils

    value = str(value)
    for quote in ("'", '"'):
        if quote in value:
            continue
        literal = quote + value + quote
        try:
            parsed = SearchUtils.parse_search_filter(f"params.x = {literal} and params.y = 'z'")
        except Exception:  # MLflow's parser raises its own types: a literal it cannot take is skipped
            continue
        if len(parsed) == 2 and parsed[0]["value"] == value:
            return literal
    raise UnsafeName(f"{value!r} cannot be written as an MLflow filter value (both quote kinds, or a backslash)")


def check_name(value: str, what: str = "dataset name") -> str:
    """Refuse names that would break keys, filters or tracking; allow ordinary folder names such as O'Brien."""
    if not isinstance(value, str) or not value.strip():
        raise UnsafeName(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > 255:
        raise UnsafeName(f"{what} {value[:40]!r}...: longer than 255 characters")
    bad = sorted({c for c in value if unicodedata.category(c).startswith("C")})
    if bad:
        raise UnsafeName(f"{what} {value!r} contains control characters {bad!r}: rename it (or pass --name)")
    if "\\" in value or ("'" in value and '"' in value):
        # MLflow filters have no escapes: a value is quoted with the quote it lacks, and a backslash escapes it
        raise UnsafeName(
            f"{what} {value!r}: a backslash, or both ' and \", cannot be tracked; rename it (or pass --name)"
        )
    return value
