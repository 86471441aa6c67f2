"""`--where` filters on stored metadata and measured descriptors, applied before ranking.

    year>=2000   genre:jazz   artist=Miles Davis   duration<300   bpm>120   mode=minor   path:live

``:`` means "contains" (case-insensitive), ``=`` equals (case-insensitive for text), and the
comparisons work on numbers. Several filters must all hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from musictext.errors import MusictextError

TEXT_FIELDS = {
    "artist": "t.artist",
    "title": "t.title",
    "album": "t.album",
    "genre": "t.genre",
    "path": "t.path",
}
NUMBER_FIELDS = {
    "year": "t.year",
    "duration": "t.duration",
    # Measured tempo, or the file's BPM tag where the track has no measurement.
    "bpm": "COALESCE(f.bpm, t.bpm_tag)",
    "loudness": "f.loudness",
    "brightness": "f.brightness",
}
_EXPR = re.compile(r"^\s*([a-z_]+)\s*(>=|<=|!=|==|=|>|<|:)\s*(.*?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Where:
    sql: str
    params: tuple

    @property
    def empty(self) -> bool:
        return not self.sql


def parse_where(exprs: list[str] | None) -> Where:
    clauses, params = [], []
    for expr in exprs or []:
        m = _EXPR.match(expr)
        if not m:
            raise MusictextError(f"cannot read filter {expr!r} (try e.g. 'year>=2000' or 'genre:jazz')")
        field, op, value = m.group(1).lower(), m.group(2), m.group(3).strip("'\"")
        if field == "mode":
            if op not in ("=", "==", ":") or value.lower() not in ("major", "minor"):
                raise MusictextError(f"filter {expr!r}: mode can be mode=major or mode=minor")
            clauses.append("f.major > 0" if value.lower() == "major" else "f.major <= 0")
        elif field in TEXT_FIELDS:
            col = TEXT_FIELDS[field]
            if op == ":":
                clauses.append(f"{col} LIKE ? ESCAPE '\\'")
                params.append("%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
            elif op in ("=", "=="):
                clauses.append(f"{col} = ? COLLATE NOCASE")
                params.append(value)
            elif op == "!=":
                clauses.append(f"({col} IS NULL OR {col} != ? COLLATE NOCASE)")
                params.append(value)
            else:
                raise MusictextError(f"filter {expr!r}: {field} is text; use ':' '=' or '!='")
        elif field in NUMBER_FIELDS:
            try:
                number = float(value)
            except ValueError:
                raise MusictextError(f"filter {expr!r}: {value!r} is not a number") from None
            sql_op = {"=": "=", "==": "=", ":": "="}.get(op, op)
            clauses.append(f"{NUMBER_FIELDS[field]} {sql_op} ?")
            params.append(number)
        else:
            known = ", ".join(sorted([*TEXT_FIELDS, *NUMBER_FIELDS, "mode"]))
            raise MusictextError(f"filter {expr!r}: unknown field {field!r} (known: {known})")
    return Where(" AND ".join(clauses), tuple(params))


def matching_ids(conn, where: Where, audio_model: str) -> set[int]:
    sql = (
        "SELECT t.id FROM tracks t LEFT JOIN audio_features f ON f.track_id = t.id AND f.audio_model = ?"
        f" WHERE {where.sql}"
    )
    return {r[0] for r in conn.execute(sql, (audio_model, *where.params))}
