"""Option checks shared by several commands: a bad value is a usage error (exit 2), found before any work."""

from __future__ import annotations

import typer

from musictext.model.runtime import DEVICES


def check_device(value: str) -> str:
    if value not in DEVICES:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(DEVICES)}")
    return value
