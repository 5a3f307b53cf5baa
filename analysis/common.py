"""Small helpers every analysis module shares: one wording for what a sweep did not measure,
one test for a missing value, one order for parameter levels, one way to print a level."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

# The verdict of a claim the sweep has no data for, and the phrase figures and tables use
# for anything the sweep did not measure (both from this one word).
NOT_MEASURED = "not measured"
NOT_MEASURED_TEXT = f"{NOT_MEASURED} by this sweep"


def isnan(v: Any) -> bool:
    """True for None, NaN and pandas' NA (a missing value, whatever its type)."""
    if v is None:
        return True
    try:
        return bool(v != v)  # NaN and pd.NA compare unequal to themselves
    except (TypeError, ValueError):
        return False


def isnum(v: Any) -> bool:
    """A number, or text that reads as one (90, 90.0, "90"); booleans are not numbers."""
    if isinstance(v, bool) or isnan(v):
        return False
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def sort_key(v: Any) -> tuple[int, Any]:
    """Numbers first, in numeric order, then text in alphabetical order."""
    return (0, float(v)) if isnum(v) else (1, str(v))


def order(values: Iterable[Any], preferred: Sequence[Any] = ()) -> list[Any]:
    """Distinct non-missing values: the preferred ones first (in that order), then sort_key."""
    vals = list(dict.fromkeys(v for v in values if not isnan(v)))
    first = [p for p in preferred if any(same(p, v) for v in vals)]
    first = [next(v for v in vals if same(p, v)) for p in first]
    rest = sorted((v for v in vals if v not in first), key=sort_key)
    return first + rest


def same(a: Any, b: Any) -> bool:
    """Equality that treats 90, 90.0 and "90" as the same parameter value."""
    if isnum(a) and isnum(b):
        return float(a) == float(b)
    return str(a) == str(b)


def fmt_level(v: Any) -> str:
    """A parameter level as text: 90.0 -> "90", 0.25 -> "0.25", "taco" -> "taco"."""
    if isnum(v):
        f = float(v)
        return str(int(f)) if f.is_integer() else f"{f:g}"
    return "" if isnan(v) else str(v)


def fmt_levels(values: Iterable[Any]) -> str:
    """Levels as "10, 100, 500" in sort_key order."""
    return ", ".join(fmt_level(v) for v in order(values))


def nan_to(v: Any, default: Any = "") -> Any:
    return default if isnan(v) else v


def finite(v: Any) -> bool:
    return isnum(v) and math.isfinite(float(v))
