"""`musictext duplicates`"""

from __future__ import annotations

import typer

from musictext.cli.output import emit_json, emit_line, fmt_duration, note


def _describe(c) -> str:
    parts = [c.format.upper()]
    if c.lossless:
        parts += [f"{c.bits_per_sample}-bit"] if c.bits_per_sample else []
    elif c.bitrate:
        parts.append(f"{round(c.bitrate / 1000)} kbps")
    if c.sample_rate:
        parts.append(f"{c.sample_rate / 1000:g} kHz")
    return " ".join(parts)


def duplicates_command(
    as_json: bool = typer.Option(False, "--json", help="One JSON object per group: confidence and copies, best first."),
    paths: bool = typer.Option(False, "--paths", help="Paths only, best copy first, a blank line between groups."),
    model: str = typer.Option(None, "--model", help="Model bundle whose measurements to compare."),
) -> None:
    """Find the same recording kept more than once (other formats, bitrates, masters), best copy
    first: lossless before lossy, then higher bit depth, bitrate and sample rate. Deletes nothing."""
    from musictext.library.duplicates import find_duplicates

    groups = find_duplicates(model)
    for n, g in enumerate(groups, 1):
        if as_json:
            emit_json(
                {
                    "group": n,
                    "confidence": g.confidence,
                    "copies": [
                        {
                            "path": c.track.path,
                            "best": i == 0,
                            "similarity": c.similarity,
                            "format": c.format,
                            "lossless": c.lossless,
                            "sample_rate": c.sample_rate,
                            "bits_per_sample": c.bits_per_sample,
                            "bitrate": c.bitrate,
                            "duration": c.track.duration,
                        }
                        for i, c in enumerate(g.copies)
                    ],
                }
            )
        elif paths:
            if n > 1:
                emit_line("")
            for c in g.copies:
                emit_line(c.track.path)
        else:
            emit_line(f"recording {n}: {len(g.copies)} copies, confidence {g.confidence:.2f}")
            for i, c in enumerate(g.copies):
                mark = "best" if i == 0 else "    "
                emit_line(f"  {mark} {fmt_duration(c.track.duration):>6}  {_describe(c):<22} {c.track.path}")
    if not as_json and not paths:
        note(f"{len(groups)} recording(s) kept more than once; nothing was changed")
