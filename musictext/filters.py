"""`--where` filters on stored metadata and measured descriptors, applied before ranking.

    year>=2000   genre:jazz   artist=Miles Davis   duration<300   bpm>120   mode=minor   path:live
    valence>0.6   energy<0.3   (mood axes, 0..1: only with vibenet installed, see audio/mood.py)

``:`` means "contains" (case-insensitive), ``=`` equals (case-insensitive for text), and the
comparisons work on numbers. Several filters must all hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from musictext.audio.mood import MOOD_AXES
from musictext.errors import MusictextError

TEXT_FIELDS = ("artist", "title", "album", "genre", "path")
# bpm: measured tempo, or the file's BPM tag where the track has no measurement (the store decides how).
NUMBER_FIELDS = ("year", "duration", "bpm", "loudness", "brightness", *MOOD_AXES)
_EXPR = re.compile(r"^\s*([a-z_]+)\s*(>=|<=|!=|==|=|>|<|:)\s*(.*?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Condition:
    """One filter: ``field`` ``op`` ``value``, with op one of contains, eq, ne, lt, le, gt, ge."""

    field: str
    op: str
    value: str | float


@dataclass(frozen=True)
class Where:
    conditions: tuple[Condition, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.conditions

    @property
    def mood_fields(self) -> list[str]:
        return [c.field for c in self.conditions if c.field in MOOD_AXES]


_NUMBER_OPS = {"=": "eq", "==": "eq", ":": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
_TEXT_OPS = {":": "contains", "=": "eq", "==": "eq", "!=": "ne"}


def parse_where(exprs: list[str] | None) -> Where:
    conditions = []
    for expr in exprs or []:
        m = _EXPR.match(expr)
        if not m:
            raise MusictextError(f"cannot read filter {expr!r} (try e.g. 'year>=2000' or 'genre:jazz')")
        field, op, value = m.group(1).lower(), m.group(2), m.group(3).strip("'\"")
        if field == "mode":
            if op not in ("=", "==", ":") or value.lower() not in ("major", "minor"):
                raise MusictextError(f"filter {expr!r}: mode can be mode=major or mode=minor")
            conditions.append(Condition("mode", "eq", value.lower()))
        elif field in TEXT_FIELDS:
            if op not in _TEXT_OPS:
                raise MusictextError(f"filter {expr!r}: {field} is text; use ':' '=' or '!='")
            conditions.append(Condition(field, _TEXT_OPS[op], value))
        elif field in NUMBER_FIELDS:
            try:
                number = float(value)
            except ValueError:
                raise MusictextError(f"filter {expr!r}: {value!r} is not a number") from None
            conditions.append(Condition(field, _NUMBER_OPS[op], number))
        else:
            known = ", ".join(sorted([*TEXT_FIELDS, *NUMBER_FIELDS, "mode"]))
            raise MusictextError(f"filter {expr!r}: unknown field {field!r} (known: {known})")
    return Where(tuple(conditions))
