"""Where output goes, and how it is made safe to show.

Results go to stdout, everything else (progress, notes, warnings) to stderr. Text that comes from
outside the program (file names, tag values, queries, model names) may hold terminal control
sequences or Rich markup; `visible` shows control characters as escapes (``\\x1b``, ``\\n``, as
``ls -b`` and ripgrep do) and `safe` also escapes markup, for text that Rich renders. Messages are
plain text: `warn`, `note` and `error` never read markup in them.
"""

from __future__ import annotations

import json
import os
import re
import sys

from musictext.units import format_duration as fmt_duration  # noqa: F401  (re-exported for the commands)


class _LazyConsole:
    """A rich Console made on first use: `--json` and `--paths` runs never import rich."""

    def __init__(self, **options):
        self._options = options
        self._console = None

    def real(self):
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name):
        return getattr(self.real(), name)


# emoji=False: a title like ":fire:" is a title, not an emoji code.
out = _LazyConsole(highlight=False, soft_wrap=True, emoji=False)
err = _LazyConsole(stderr=True, highlight=False, soft_wrap=True, emoji=False)

# C0 and C1 controls and DEL; bidirectional overrides and isolates (they reorder what follows);
# line and paragraph separators; lone surrogates (bytes of a file name that are not UTF-8).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(match: re.Match) -> str:
    c = match.group()
    code = ord(c)
    if c in _NAMED:
        return _NAMED[c]
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for an undecodable byte: show the byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text) -> str:
    """``text`` with every control character shown as an escape, for plain-text output."""
    return _UNSAFE.sub(_escape_char, "" if text is None else str(text))


def safe(text) -> str:
    """``text`` made inert for Rich: control characters shown as escapes, markup escaped."""
    from rich.markup import escape

    return escape(visible(text))


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()


_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def emit_json(obj) -> None:
    """One JSON object per line on stdout (never wrapped, never styled). json escapes C0 controls;
    the rest of what a terminal could act on is written as \\u escapes too (still the same JSON)."""
    text = _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(obj, ensure_ascii=False))
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def emit_line(text: str) -> None:
    """A line of the program's own making on stdout: callers pass user parts through `visible`."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def emit_path(path: str, nul: bool = False) -> bool:
    """One path of a ``--paths`` (one per line) or ``--paths0`` (NUL-terminated) listing.

    Piped, the path goes out as its bytes, for xargs and players; on a terminal its control
    characters are shown as escapes. A name with a line break cannot be one line: it is left out
    of a ``--paths`` listing with a reason on stderr (``--paths0`` lists it). False when left out.
    """
    if not nul and ("\n" in path or "\r" in path):
        note(f"skipping {visible(path)}: a line break in the name (--paths0 lists it)")
        return False
    if not nul and stdout_is_tty():
        emit_line(visible(path))
        return True
    sys.stdout.flush()
    sys.stdout.buffer.write(os.fsencode(path) + (b"\0" if nul else b"\n"))
    sys.stdout.buffer.flush()
    return True


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {safe(message)}", markup=True, highlight=False)


def error(message: str) -> None:
    """The one line a failed command ends with."""
    err.print(f"[red]musictext: error:[/] {safe(message)}", markup=True, highlight=False)


def note(message: str) -> None:
    err.print(visible(message), markup=False, highlight=False)
