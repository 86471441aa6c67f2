"""Durations as people write and read them: "90m" or "1h30m" in, "1:30:00" or "4:05" out."""

from __future__ import annotations

import re

from musictext.errors import MusictextError

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?:in)?)?(?:(\d+(?:\.\d+)?)s)?$")


def format_duration(seconds: float | None) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour on; ``?`` when the length is unknown."""
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def parse_duration(text: str) -> float:
    """Seconds in "90m", "1h30m", "45m", "3600s", "1:30:00" or "45:00"; a bare number is minutes."""
    s = text.strip().lower().replace(" ", "")
    try:
        if re.fullmatch(r"\d+(?:\.\d+)?", s):
            seconds = float(s) * 60
        elif re.fullmatch(r"\d+(?::\d{1,2}){1,2}", s):
            seconds = 0.0
            for part in s.split(":"):
                seconds = seconds * 60 + int(part)
        else:
            m = _DURATION.match(s)
            if not s or not m or not any(m.groups()):
                raise ValueError
            h, mins, secs = (float(g) if g else 0.0 for g in m.groups())
            seconds = h * 3600 + mins * 60 + secs
    except ValueError:
        raise MusictextError(f"cannot read duration {text!r} (try 90m, 1h30m, 45m or 3600s)") from None
    if seconds <= 0:
        raise MusictextError(f"duration {text!r} is not positive")
    return seconds
