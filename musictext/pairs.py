"""Training and evaluation pairs: (audio file, caption) or (audio file, tag list).

Read from a JSONL or CSV file, or built from the tags already in the library's files. Tags become
captions through several templates; text dropout and tag swaps make the caption variants and hard
negatives the trainer samples from. No torch here: `musictext eval` reads pairs too.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from musictext.errors import MusictextError

# Several phrasings of one tag set, so the head learns the tags rather than one sentence.
TEMPLATES = (
    "{tags} music",
    "a {tags} track",
    "music with {tags}",
    "{tags}",
    "a piece of {tags} music",
    "a recording that is {tags}",
    "this song is {tags}",
)
# Tags read from the files for --from-library (comment only when it is short enough to be a tag).
LIBRARY_FIELDS = ("genre", "mood", "grouping", "comment")
MAX_COMMENT_WORDS = 6
# Swapping a word for its opposite makes the hardest useful negative ("major" -> "minor").
OPPOSITES = {
    "major": "minor",
    "slow": "fast",
    "solo": "ensemble",
    "happy": "sad",
    "loud": "quiet",
    "calm": "energetic",
    "acoustic": "electronic",
    "instrumental": "vocal",
    "bright": "dark",
    "soft": "loud",
    "dark": "bright",
    "sad": "happy",
    "vocal": "instrumental",
}
OPPOSITES |= {v: k for k, v in OPPOSITES.items() if v not in OPPOSITES}


@dataclass(frozen=True)
class Pair:
    """One training or evaluation example: an audio file and what it sounds like."""

    audio: str  # absolute path
    text: str | None = None
    tags: tuple[str, ...] = ()

    @property
    def caption(self) -> str:
        """The canonical caption: the given text, else the tags in the first template."""
        return self.text if self.text else caption_from_tags(self.tags)

    @property
    def key(self) -> str:
        """Pairs with the same key describe their audio identically (positives of each other)."""
        return self.caption.strip().lower()


def join_tags(tags: Iterable[str]) -> str:
    tags = list(tags)
    if len(tags) <= 1:
        return "".join(tags)
    return ", ".join(tags[:-1]) + " and " + tags[-1]


def caption_from_tags(tags: Iterable[str], template: str = TEMPLATES[0]) -> str:
    return template.format(tags=join_tags(tags))


def _split_tags(value) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list | tuple) else re.split(r"[;|,]", str(value))
    out = []
    for item in items:
        tag = " ".join(str(item).split()).lower()
        if tag and tag not in out:
            out.append(tag)
    return tuple(out)


def _make_pair(row: dict, base_dir: Path, where: str, source: Path) -> Pair:
    audio = row.get("audio") or row.get("path") or row.get("file")
    if not audio or not isinstance(audio, str):
        raise MusictextError(f"{where}: no `audio` path", source)
    text = row.get("text") or row.get("caption")
    text = " ".join(str(text).split()) if text else None
    tags = _split_tags(row.get("tags"))
    if not text and not tags:
        raise MusictextError(f"{where}: needs `text` or `tags`", source)
    path = Path(os.path.expanduser(audio))
    if not path.is_absolute():
        path = base_dir / path
    return Pair(os.path.abspath(path), text, tags)


def read_pairs(path: str | Path) -> list[Pair]:
    """Pairs from a JSONL file (one object a line) or a CSV file with a header row.

    Each row has ``audio`` (a path; relative paths are relative to the pairs file) and ``text``
    (a caption) or ``tags`` (a list, or one string separated by ``;``, ``|`` or ``,``), or both.
    """
    from musictext.errors import read_user_text

    source = Path(path).expanduser()
    content = read_user_text(source, "pairs")
    base_dir = source.resolve().parent
    pairs: list[Pair] = []
    if content.lstrip().startswith("{"):
        for n, line in enumerate(content.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise MusictextError(f"line {n}: not JSON ({exc})", source) from None
            if not isinstance(row, dict):
                raise MusictextError(f"line {n}: not a JSON object", source)
            pairs.append(_make_pair(row, base_dir, f"line {n}", source))
    else:
        reader = csv.DictReader(io.StringIO(content))
        if not reader.fieldnames or "audio" not in [f.strip() for f in reader.fieldnames]:
            raise MusictextError("CSV pairs need a header row with `audio` and `text` or `tags`", source)
        for n, row in enumerate(reader, 2):
            row = {(k or "").strip(): v for k, v in row.items()}
            pairs.append(_make_pair(row, base_dir, f"line {n}", source))
    if not pairs:
        raise MusictextError("no pairs in the file", source)
    return pairs


def library_pairs(tags_by_path: dict[str, dict]) -> list[Pair]:
    """Pairs from the tags already in the files (genre, mood, grouping, short comments)."""
    pairs = []
    for path, tags in sorted(tags_by_path.items()):
        words: list[str] = []
        for field in LIBRARY_FIELDS:
            for value in tags.get(field) or []:
                if field == "comment" and (len(str(value).split()) > MAX_COMMENT_WORDS or "://" in str(value)):
                    continue
                words += _split_tags(value)
        words = list(dict.fromkeys(words))
        if words:
            pairs.append(Pair(path, None, tuple(words)))
    return pairs


def caption_variants(pair: Pair, n: int, rng: random.Random, dropout: float) -> list[str]:
    """``n`` captions for one pair: the canonical one first, then templated ones with text dropout
    (each tag, or each word of a free caption, dropped with probability ``dropout``)."""
    out = [pair.caption]
    for _ in range(max(0, n - 1)):
        if pair.tags and (not pair.text or rng.random() < 0.5):
            kept = [t for t in pair.tags if rng.random() >= dropout] or [rng.choice(pair.tags)]
            rng.shuffle(kept)
            out.append(caption_from_tags(kept, rng.choice(TEMPLATES)))
        else:
            words = pair.caption.split()
            kept = [w for w in words if rng.random() >= dropout] or words
            out.append(" ".join(kept))
    return out


def exclusive_tags(pairs: list[Pair]) -> dict[str, list[str]]:
    """For each tag, the tags never seen on the same file: safe replacements for a negative."""
    with_tag: dict[str, set[str]] = {}
    by_audio: dict[str, set[str]] = {}
    for p in pairs:
        by_audio.setdefault(p.audio, set()).update(p.tags)
    for tags in by_audio.values():
        for t in tags:
            with_tag.setdefault(t, set()).update(tags)
    vocab = sorted(with_tag)
    return {t: [u for u in vocab if u not in with_tag[t]] for t in vocab}


def swapped_negatives(pair: Pair, k: int, rng: random.Random, exclusive: dict[str, list[str]]) -> list[str]:
    """Up to ``k`` hard negatives by text swap: the pair's caption with one tag (or word) replaced
    by its opposite or by a tag never seen together with it."""
    out: list[str] = []
    words = pair.caption.split()
    spots = [i for i, w in enumerate(words) if w.lower().strip(",.") in OPPOSITES] if pair.text else []
    for _ in range(4 * k):
        if len(out) >= k:
            break
        if pair.tags and (not spots or rng.random() < 0.5):
            i = rng.randrange(len(pair.tags))
            old = pair.tags[i]
            choices = [OPPOSITES[old]] if old in OPPOSITES and rng.random() < 0.7 else exclusive.get(old, [])
            choices = [c for c in choices if c not in pair.tags]
            if not choices:
                continue
            tags = list(pair.tags)
            tags[i] = rng.choice(choices)
            neg = caption_from_tags(tags, rng.choice(TEMPLATES[:3]))
        elif spots:
            i = rng.choice(spots)
            swapped = list(words)
            swapped[i] = OPPOSITES[words[i].lower().strip(",.")]
            neg = " ".join(swapped)
        else:
            break
        if neg.lower() != pair.key and neg not in out:
            out.append(neg)
    return out
