"""The lexicon: descriptive words people type, mapped to weighted concepts the model has.

"sunny", "night drive", "studying", "spooky", "underwater" name no tag, descriptor or probe, and
the text tower alone places them near whatever happens to be close ("sunny" ~ "bright" 0.52). The
lexicon (``lexicon.toml`` in the bundle, written and reviewed by hand) says what such a word means
in music: ``sunny = { happy = 1.0, "major key" = 0.7, bright = 0.4, valence = 1.0 }``. The query
planner uses an entry only where no concept matches the word itself (musictext.query), and
``--explain`` shows the entry ("sunny → happy +, major key +, bright +").

A concept named in the file's ``optional`` list may be absent from a bundle (the mood axes of the
opt-in extra, probes a later bundle adds); it is skipped, and an entry keeps the concepts present.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from musictext.atomic import atomic_write
from musictext.errors import ModelError

ROLE = "lexicon"


@dataclass(frozen=True)
class LexiconEntry:
    phrase: str
    weights: tuple[tuple[str, float], ...]  # (concept name, weight) as written, signed


@dataclass(frozen=True)
class Lexicon:
    entries: dict[str, LexiconEntry]  # normalised phrase -> entry
    optional: frozenset[str]

    def __len__(self) -> int:
        return len(self.entries)

    def lookup(self, text: str) -> LexiconEntry | None:
        """The entry for ``text`` (case, spacing, hyphens and a plural -s do not matter)."""
        key = normalise(text)
        for candidate in (key, key.replace("-", " "), key.replace(" ", "-"), key.replace(" ", "")):
            if candidate in self.entries:
                return self.entries[candidate]
        if key.endswith("s") and len(key) > 3:
            return self.entries.get(key[:-1])
        return None

    def unknown_names(self, known: set[str]) -> dict[str, list[str]]:
        """Entry -> the concept names it gives that are neither in ``known`` nor optional (typos)."""
        out = {}
        for entry in self.entries.values():
            bad = [n for n, _ in entry.weights if n not in known and n not in self.optional]
            if bad:
                out[entry.phrase] = bad
        return out


_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    return _SPACE.sub(" ", text.strip().lower())


def parse_lexicon(text: str, source: str = "lexicon") -> Lexicon:
    """Read a lexicon file: ``optional = [...]`` and a ``[words]`` table of inline tables."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"{source}: not a valid lexicon ({exc})") from None
    words = data.get("words")
    if not isinstance(words, dict):
        raise ModelError(f"{source}: no [words] table")
    entries: dict[str, LexiconEntry] = {}
    for phrase, weights in words.items():
        if not isinstance(weights, dict) or not weights:
            raise ModelError(f"{source}: {phrase!r} gives no concepts")
        pairs = []
        for name, w in weights.items():
            if not isinstance(w, (int, float)) or isinstance(w, bool) or w == 0:
                raise ModelError(f"{source}: {phrase!r} → {name!r} needs a non-zero number, not {w!r}")
            pairs.append((normalise(name), float(w)))
        entries[normalise(phrase)] = LexiconEntry(normalise(phrase), tuple(pairs))
    return Lexicon(entries, frozenset(normalise(n) for n in data.get("optional", [])))


def lexicon_owner(bundle):
    """The bundle whose lexicon applies: its own, or (for a trained head) its base's."""
    from musictext.model.bundle import get_bundle

    if ROLE in bundle.manifest.get("files", {}) or not bundle.base:
        return bundle
    return get_bundle(bundle.base_name)


def bundle_lexicon(bundle) -> Lexicon | None:
    """The lexicon shipped with ``bundle`` (None for a bundle without one)."""
    owner = lexicon_owner(bundle)
    entry = owner.manifest.get("files", {}).get(ROLE)
    if entry is None:
        return None
    return _load(owner.file(ROLE), entry["sha256"])


CACHE_VERSION = 1  # of the parsed form cached in the data folder


@cache
def _load(path: Path, sha: str) -> Lexicon:
    """The lexicon at ``path``, checked against ``sha``. Parsing 800 TOML inline tables takes
    ~70 ms, most of a repeated search's own work, so the parsed form is cached in the data folder
    under the file's checksum (the stamp-checked one: an edited file is a new checksum)."""
    from musictext.model.bundle import verify_file

    verify_file(path, sha)
    cached = _cache_path(sha)
    if cached is not None:
        try:
            return _from_plain(json.loads(cached.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # missing or damaged: parse and write it again
    lexicon = parse_lexicon(path.read_text(encoding="utf-8"), path.name)
    if cached is not None:
        try:
            atomic_write(cached, json.dumps(_to_plain(lexicon)))
        except OSError:
            pass  # a read-only data folder: parse again next time
    return lexicon


def _cache_path(sha: str) -> Path | None:
    from musictext.config import cache_dir

    folder = cache_dir()
    return None if folder is None else folder / f"lexicon-{sha[:32]}.v{CACHE_VERSION}.json"


def _to_plain(lexicon: Lexicon) -> dict:
    return {
        "words": {e.phrase: [[n, w] for n, w in e.weights] for e in lexicon.entries.values()},
        "optional": sorted(lexicon.optional),
    }


def _from_plain(data: dict) -> Lexicon:
    entries = {
        phrase: LexiconEntry(phrase, tuple((str(n), float(w)) for n, w in weights))
        for phrase, weights in data["words"].items()
    }
    return Lexicon(entries, frozenset(data["optional"]))


def resolve(entry: LexiconEntry, index: dict[str, int]) -> dict[int, float]:
    """An entry's weights over the concepts present (``index``: name -> concept number), scaled so
    their absolute values sum to 1: an entry counts as much as one matched concept."""
    present = [(index[n], w) for n, w in entry.weights if n in index]
    total = sum(abs(w) for _, w in present)
    out: dict[int, float] = {}
    for ci, w in present:
        out[ci] = out.get(ci, 0.0) + w / total
    return out


def describe(entry: LexiconEntry, index: dict[str, int]) -> str:
    """``sunny → happy +, major key +, bright +`` (present concepts only, by weight)."""
    present = sorted(((n, w) for n, w in entry.weights if n in index), key=lambda p: -abs(p[1]))
    return f"{entry.phrase} → " + ", ".join(f"{n} {'+' if w > 0 else '−'}" for n, w in present)
