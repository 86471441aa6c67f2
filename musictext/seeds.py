"""Similarity phrases in a query: "like Hotel California", "sounds like early Beatles but calmer".

A phrase ("like X", "similar to X", "sounds like X", "in the style of X", "X-style") names a seed
from the library's own tags: a track title, an artist (or album artist), an album, or
"ARTIST – TITLE" / "TITLE by ARTIST". Names are compared case-, accent- and punctuation-blind,
fuzzily (character trigrams to find candidates, a sequence ratio for the confidence). A title
seeds with that track's joint vector; an artist or album with the centroid of its tracks, and
"early ARTIST" with the tracks of its earliest years. What the rest of the query says ("but
calmer", "without vocals", "+ piano") is scored as words, as in a plain search, and added; a
comparative ("calmer") is also measured against the seed, so tracks calmer than it come first.

The names are indexed once per change of the tracks table and cached beside the space, so a
phrase resolves in milliseconds on a large library.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from musictext.atomic import atomic_path
from musictext.errors import NotFoundError, UsageError
from musictext.query import parse_terms, spans

KINDS = ("title", "artist", "album")  # also the order of preference between equally good matches
ACCEPT = 0.8  # the lowest confidence at which a name counts as named
AMBIGUOUS_WITHIN = 0.05  # candidates this close to the best one are said, not silently passed over
MAX_CANDIDATES = 5
RELATIVE_MARGIN = 0.5  # "calmer than the seed": by at least half a standard deviation of the library
MAX_NAME_WORDS = 8
MIN_DICE = 0.25  # fewer shared trigrams than this and no spelling of a name is close enough to check
EARLY_SHARE = 1 / 3  # "early ARTIST": the tracks of the first third of the years the artist has tracks from
NAMES_CACHE = "names.bin"
NAMES_CACHE_VERSION = 1

_TRIGGER = re.compile(
    r"(?<![\w-])(?:sounds?\s+like|sounding\s+like|similar\s+to|in\s+the\s+style\s+of|like)\s+", re.IGNORECASE
)
_STYLE = re.compile(r"(?<=[\w.'’!?)])-style(?![\w-])", re.IGNORECASE)
# Where the name ends at the latest: a conjunction or operator that starts a modifier. A spaced
# minus is not one ("Eagles - Hotel California"): a name that does not use it leaves it a minus.
_STOP = re.compile(r"\s+(?:but|without|minus|plus|except|only)\s+|\s*[,;]\s*|\s+\+\s*|\s+(?:less|more)\s+", re.I)
_ARTIST_TITLE = re.compile(r"^(.+?)\s+[-–—]\s+(.+)$")
_TITLE_BY = re.compile(r"^(.+?)\s+by\s+(.+)$", re.IGNORECASE)
_EARLY = re.compile(r"^(early|late)\s+(.+)$", re.IGNORECASE)
_NOT_A_NAME = re.compile(r"^(?:a|an|some)(?:\s|$)", re.IGNORECASE)  # "like a rainy day" describes; it names nothing
_PUNCT = re.compile(r"[\W_]+", re.UNICODE)
# "but calmer": the comparative means "more calm than the seed", which ranks as "calm" does.
COMPARATIVES = {
    "calmer": "calm",
    "faster": "fast",
    "slower": "slow",
    "softer": "soft",
    "louder": "loud",
    "quieter": "quiet",
    "darker": "dark",
    "brighter": "bright",
    "happier": "happy",
    "sadder": "sad",
    "heavier": "heavy",
    "lighter": "light",
    "gentler": "gentle",
    "harder": "hard",
    "mellower": "mellow",
    "noisier": "noisy",
    "livelier": "lively",
    "groovier": "groovy",
    "dreamier": "dreamy",
    "warmer": "warm",
    "older": "old",
    "newer": "new",
}


def normalise(text: str | None) -> str:
    """Lower case, accents and punctuation gone, "&" read as "and", a leading "the" dropped."""
    if not text:
        return ""
    text = text.replace("&", " and ")
    if not text.isascii():
        text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    words = _PUNCT.sub(" ", text.casefold()).split()
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    return " ".join(words)


# --------------------------------------------------------------------------- the name index


def _trigram_codes(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(codes, owners): each distinct character trigram of each space-padded name, as one integer."""
    padded = [f" {n} " for n in names]
    lengths = np.array([len(p) for p in padded], dtype=np.int64)
    if not len(padded):
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    chars = np.frombuffer("".join(padded).encode("utf-32-le"), dtype="<u4").astype(np.uint64)
    owner = np.repeat(np.arange(len(padded)), lengths)
    if len(chars) < 3:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    codes = (chars[:-2] << np.uint64(42)) | (chars[1:-1] << np.uint64(21)) | chars[2:]
    valid = owner[:-2] == owner[2:]
    codes, owner = codes[valid], owner[:-2][valid]
    order = np.lexsort((owner, codes))
    codes, owner = codes[order], owner[order]
    keep = np.ones(len(codes), dtype=bool)
    keep[1:] = (codes[1:] != codes[:-1]) | (owner[1:] != owner[:-1])
    return codes[keep], owner[keep]


def _query_codes(name: str) -> np.ndarray:
    return np.unique(_trigram_codes([name])[0])


class _Strings:
    """Many strings as one UTF-8 blob and offsets: loaded without decoding, read one at a time."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray):
        self.blob, self.offsets = blob, offsets

    @classmethod
    def of(cls, texts: list[str]) -> _Strings:
        encoded = [t.encode("utf-8") for t in texts]
        offsets = np.zeros(len(encoded) + 1, np.int64)
        offsets[1:] = np.cumsum([len(e) for e in encoded])
        return cls(np.frombuffer(b"".join(encoded) or b"\0", np.uint8), offsets)

    def __getitem__(self, i: int) -> str:
        return self.blob[self.offsets[i] : self.offsets[i + 1]].tobytes().decode("utf-8")

    def __len__(self) -> int:
        return len(self.offsets) - 1


_MAGIC = b"MTNAMES\n"


@dataclass
class NameIndex:
    """Every distinct name in the library (titles per artist, artists, albums per album artist),
    with the tracks each one names and a trigram index over them."""

    keys: _Strings  # normalised name
    shown: _Strings  # how it is shown: "Artist – Title", "Artist", "Album (Artist)"
    secondary: _Strings  # a title's normalised artist ("" for the other kinds)
    kinds: np.ndarray  # [n] index into KINDS
    id_ptr: np.ndarray  # [n + 1] CSR over ids
    ids: np.ndarray
    track_ids: np.ndarray  # [m] every track id, sorted
    track_years: np.ndarray  # [m] its year tag (0: none)
    track_album: np.ndarray  # [m] index of its album entry (-1: none)
    tri_codes: np.ndarray  # sorted distinct trigram codes
    tri_ptr: np.ndarray  # CSR over tri_names
    tri_names: np.ndarray
    tri_count: np.ndarray  # [n] trigrams per name
    signature: str = ""

    def __len__(self) -> int:
        return len(self.kinds)

    def entry_ids(self, entry: int) -> np.ndarray:
        return self.ids[self.id_ptr[entry] : self.id_ptr[entry + 1]]

    @classmethod
    def build(cls, rows: list[tuple], signature: str = "") -> NameIndex:
        memo: dict[str | None, str] = {None: ""}

        def norm(text):
            got = memo.get(text)
            if got is None:
                got = memo[text] = normalise(text)
            return got

        entries: dict[tuple[int, str, str], int] = {}
        shown: list[str] = []
        owner: list[int] = []  # entry of each (entry, track) pair
        member: list[int] = []

        def add(kind: int, key: str, secondary: str, label: str, track_id: int) -> int:
            e = entries.setdefault((kind, key, secondary), len(entries))
            if e == len(shown):
                shown.append(label)
            owner.append(e)
            member.append(track_id)
            return e

        rows = sorted(rows)
        years = np.array([r[5] or 0 for r in rows], np.int64)
        albums = np.full(len(rows), -1, np.int64)
        for i, (tid, title, artist, album, albumartist, _) in enumerate(rows):
            artist_key, albumartist_key = norm(artist), norm(albumartist)
            if artist_key:
                add(1, artist_key, "", artist.strip(), tid)
            if albumartist_key and albumartist_key != artist_key:
                add(1, albumartist_key, "", albumartist.strip(), tid)
            title_key = norm(title)
            if title_key:
                label = f"{artist.strip()} – {title.strip()}" if artist_key else title.strip()
                add(0, title_key, artist_key, label, tid)
            album_key = norm(album)
            if album_key:
                by = albumartist_key or artist_key
                label = f"{album.strip()} ({(albumartist or artist).strip()})" if by else album.strip()
                albums[i] = add(2, album_key, by, label, tid)
        keys = [k[1] for k in entries]
        kinds = np.array([k[0] for k in entries], dtype=np.int8)
        owner_a = np.array(owner, dtype=np.int64)
        order = np.argsort(owner_a, kind="stable")
        ids = np.array(member, dtype=np.int64)[order]
        id_ptr = np.zeros(len(keys) + 1, np.int64)
        id_ptr[1:] = np.cumsum(np.bincount(owner_a, minlength=len(keys)))
        codes, owners = _trigram_codes(keys)
        tri_codes, starts = np.unique(codes, return_index=True)
        tri_ptr = np.concatenate([starts, [len(codes)]]).astype(np.int64)
        tri_count = np.bincount(owners, minlength=len(keys)).astype(np.int64)
        track_ids = np.array([r[0] for r in rows], dtype=np.int64)
        secondary = _Strings.of([k[2] if k[0] == 0 else "" for k in entries])
        return cls(
            _Strings.of(keys), _Strings.of(shown), secondary, kinds, id_ptr, ids, track_ids, years, albums,
            tri_codes, tri_ptr, owners.astype(np.int64), tri_count, signature,
        )  # fmt: skip

    # cache: one file, a JSON header then the arrays, memory-mapped on load ---------------------
    _ARRAYS = (
        "kinds", "id_ptr", "ids", "track_ids", "track_years", "track_album",
        "tri_codes", "tri_ptr", "tri_names", "tri_count",
    )  # fmt: skip
    _TEXTS = ("keys", "shown", "secondary")

    def _parts(self) -> dict[str, np.ndarray]:
        parts = {k: np.ascontiguousarray(getattr(self, k)) for k in self._ARRAYS}
        for k in self._TEXTS:
            parts[f"{k}.blob"], parts[f"{k}.offsets"] = getattr(self, k).blob, getattr(self, k).offsets
        return parts

    def save(self, path: Path) -> None:
        parts = self._parts()
        layout, at = {}, 0
        for k, a in parts.items():
            layout[k] = [a.dtype.str, at, list(a.shape)]
            at += -(-a.nbytes // 8) * 8
        header = json.dumps({"version": NAMES_CACHE_VERSION, "signature": self.signature, "arrays": layout}).encode()
        header += b" " * (-(len(_MAGIC) + 8 + len(header)) % 8)
        try:
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                fh.write(_MAGIC + len(header).to_bytes(8, "little") + header)
                for a in parts.values():
                    fh.write(a.tobytes())
                    fh.write(b"\0" * (-a.nbytes % 8))
        except OSError:
            pass  # a read-only data folder still resolves names, just without the cache

    @classmethod
    def load(cls, path: Path, signature: str) -> NameIndex | None:
        try:
            with open(path, "rb") as fh:
                if fh.read(len(_MAGIC)) != _MAGIC:
                    return None
                size = int.from_bytes(fh.read(8), "little")
                header = json.loads(fh.read(size))
            if header.get("version") != NAMES_CACHE_VERSION or header.get("signature") != signature:
                return None
            data = np.memmap(path, dtype=np.uint8, mode="r", offset=len(_MAGIC) + 8 + size)
            parts = {}
            for k, (dtype, at, shape) in header["arrays"].items():
                dt = np.dtype(dtype)
                count = int(np.prod(shape)) if shape else 1
                parts[k] = data[at : at + count * dt.itemsize].view(dt).reshape(shape)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        texts = {k: _Strings(parts[f"{k}.blob"], parts[f"{k}.offsets"]) for k in cls._TEXTS}
        return cls(**texts, **{k: parts[k] for k in cls._ARRAYS}, signature=signature)

    # matching ---------------------------------------------------------------------------------
    def lookup(self, text: str, kinds: tuple[int, ...] | None = None, top: int = 15) -> list[tuple[int, float]]:
        """The entries most like ``text`` (normalised), best first, as (entry, confidence)."""
        if not text or not len(self):
            return []
        q = _query_codes(text)
        at = np.searchsorted(self.tri_codes, q)
        found = at < len(self.tri_codes)
        found[found] = self.tri_codes[at[found]] == q[found]
        if not found.any():
            return []
        hits = np.concatenate([self.tri_names[self.tri_ptr[a] : self.tri_ptr[a + 1]] for a in at[found]])
        if kinds is not None and len(kinds) < len(KINDS):
            hits = hits[np.isin(self.kinds[hits], kinds)]
        entries, overlap = np.unique(hits, return_counts=True)
        dice = 2 * overlap / (len(q) + self.tri_count[entries])
        keep = dice >= MIN_DICE
        entries, dice = entries[keep], dice[keep]
        if not len(entries):
            return []
        best = entries[np.argsort(-dice, kind="stable")[:top]]
        out = []
        for e in best:
            key = self.keys[int(e)]
            conf = 1.0 if key == text else difflib.SequenceMatcher(None, text, key, autojunk=False).ratio()
            out.append((int(e), round(conf, 3)))
        return sorted(out, key=lambda p: (-p[1], int(self.kinds[p[0]]), p[0]))

    def years_of(self, ids: np.ndarray) -> np.ndarray:
        at = np.searchsorted(self.track_ids, ids)
        return self.track_years[np.minimum(at, len(self.track_ids) - 1)]

    def albums_of(self, ids: np.ndarray) -> set[int]:
        at = np.searchsorted(self.track_ids, ids)
        found = self.track_album[np.minimum(at, len(self.track_ids) - 1)]
        return {int(a) for a in found if a >= 0}


def name_index(store, index_dir: Path) -> NameIndex:
    """The library's names, from the cache when the tracks table has not changed since."""
    signature = store.names_signature()
    path = index_dir / NAMES_CACHE
    cached = NameIndex.load(path, signature)
    if cached is not None:
        return cached
    index = NameIndex.build(store.name_rows(), signature)
    index.save(path)
    return index


def rows_of(space, track_ids) -> np.ndarray:
    """The space rows of ``track_ids`` (-1 where a track has no vector for this model), found by
    bisection: the space's ids are sorted, and a dict over 100k ids costs more than a search."""
    ids = np.asarray(space.ids)
    wanted = np.asarray(list(track_ids), dtype=np.int64)
    if not len(ids) or not len(wanted):
        return np.full(len(wanted), -1, np.int64)
    at = np.minimum(np.searchsorted(ids, wanted), len(ids) - 1)
    return np.where(ids[at] == wanted, at, -1)


# --------------------------------------------------------------------------- phrases


@dataclass(frozen=True)
class Candidate:
    kind: str  # "title", "artist" or "album"
    name: str  # as shown: "Eagles – Hotel California", "Eagles", "Hotel California (Eagles)"
    entry: int
    confidence: float
    tracks: int  # how many indexed tracks it rests on
    early: str = ""  # "early" / "late" for an artist seeded by its first / last years


@dataclass
class Seed:
    """A resolved similarity phrase: what it named, the other candidates, and what to score."""

    phrase: str  # the words as typed: "like hotel califronia"
    words: str  # the name part: "hotel califronia"
    chosen: Candidate
    candidates: list[Candidate]  # best first, the chosen one among them
    vector: np.ndarray  # unit joint vector (a track's, or the centroid of the seed tracks)
    seed_ids: set[int]
    exclude: set[int]  # the seed's tracks, their copies and (unless asked) their albums
    rest: str  # the query without the phrase, in term syntax ("calm - vocals"); "" if nothing is left
    relative: str = ""  # what comparatives ask for ("calmer" -> "calm"), measured against the seed

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) > 1

    def as_json(self, store=None) -> dict:
        c = self.chosen
        track = None
        if c.kind == "title" and store is not None:
            row = store.track(next(iter(sorted(self.seed_ids))))
            track = {"path": row.path, "artist": row.artist, "title": row.title}
        return {
            "kind": c.kind,
            "name": c.name,
            "track": track,
            "tracks": len(self.seed_ids),  # what the seed rests on ("early X": the early ones only)
            "early": c.early or None,
            "confidence": c.confidence,
            "words": self.words,
            "rest": self.rest or None,
            "candidates": [{"kind": o.kind, "name": o.name, "confidence": o.confidence} for o in self.candidates],
        }


def describe_seed(seed: dict) -> str:
    """One line for --explain: what a phrase resolved to, and what else it may have meant."""
    what = f"{seed['early']} {seed['kind']}" if seed.get("early") else seed["kind"]
    n = seed["tracks"]
    line = f"seed: {what} {seed['name']!r} (confidence {seed['confidence']:.2f}, {n} track{'s' * (n != 1)})"
    others = seed["candidates"][1:]
    if others:
        line += "; also: " + ", ".join(
            f"{i}) {o['kind']} {o['name']!r} {o['confidence']:.2f}" for i, o in enumerate(others, 2)
        )
    if seed.get("rest"):
        line += f"; and the words {seed['rest']!r}"
    return line


@dataclass(frozen=True)
class _Phrase:
    start: int  # where the phrase starts in the query
    end: int  # where the name region ends
    region: str  # the words that may hold the name (and, after it, modifiers)
    style: bool  # "X-style": the name is the end of the region, not its start


def find_phrases(query: str) -> list[_Phrase]:
    """Where a similarity phrase may be, first to last (nothing resolved yet)."""
    out = []
    for m in _TRIGGER.finditer(query):
        stop = _STOP.search(query, m.end())
        end = stop.start() if stop else len(query)
        if end > m.end():
            out.append(_Phrase(m.start(), end, query[m.end() : end], False))
    for m in _STYLE.finditer(query):
        before = max((s.end() for s in _STOP.finditer(query, 0, m.start())), default=0)
        out.append(_Phrase(before, m.end(), query[before : m.start()], True))
    return sorted(out, key=lambda p: p.start)


def _word_cuts(region: str, style: bool) -> list[tuple[str, int, int]]:
    """The candidate names of a region, as (text, start, end): its word prefixes (or suffixes for
    "X-style"), shortest first, at most MAX_NAME_WORDS words."""
    words = list(re.finditer(r"\S+", region))
    cuts = []
    for k in range(1, min(len(words), MAX_NAME_WORDS) + 1):
        if style:
            a, b = words[-k].start(), words[-1].end()
        else:
            a, b = words[0].start(), words[k - 1].end()
        text = region[a:b].strip(" -–—")
        if text:
            cuts.append((text, a, b))
    return cuts


class Resolver:
    """Resolves similarity phrases against one library (a ``musictext.library.view.Library``)."""

    def __init__(self, lib, index_dir: Path):
        self.lib = lib
        self.names = name_index(lib.store, index_dir)
        self._indexed_cache: dict[int, np.ndarray] = {}

    def indexed_ids(self, entry: int) -> np.ndarray:
        """An entry's tracks that this model has vectors for."""
        if entry not in self._indexed_cache:
            ids = np.asarray(self.names.entry_ids(entry))
            self._indexed_cache[entry] = ids[rows_of(self.lib.space, ids) >= 0]
        return self._indexed_cache[entry]

    def candidates(self, words: str, kinds: tuple[str, ...] = KINDS) -> list[Candidate]:
        """Every name ``words`` may mean, best first (confidence, then title > artist > album)."""
        text = normalise(words)
        if not text:
            return []
        wanted = tuple(KINDS.index(k) for k in kinds)
        found: dict[int, Candidate] = {}

        def offer(entry: int, conf: float, early: str = "") -> None:
            if conf < ACCEPT or (entry in found and found[entry].confidence >= conf):
                return
            n = len(self.indexed_ids(entry))
            if n:
                kind = KINDS[int(self.names.kinds[entry])]
                found[entry] = Candidate(kind, self.names.shown[entry], entry, conf, n, early)

        for entry, conf in self.names.lookup(text, wanted):
            offer(entry, conf)
        if "title" in kinds:  # "ARTIST – TITLE" and "TITLE by ARTIST"
            for pattern, artist_first in ((_ARTIST_TITLE, True), (_TITLE_BY, False)):
                m = pattern.match(words.strip())
                if not m:
                    continue
                artist, title = (m.group(1), m.group(2)) if artist_first else (m.group(2), m.group(1))
                artists = dict(self.names.lookup(normalise(artist), (1,)))
                for entry, conf in self.names.lookup(normalise(title), (0,)):
                    by = [c for a, c in artists.items() if self.names.keys[a] == self.names.secondary[entry]]
                    if by:
                        offer(entry, round(min(conf, max(by)), 3))
        m = _EARLY.match(words.strip())
        if m and "artist" in kinds:  # "early Beatles": the artist's first years
            for entry, conf in self.names.lookup(normalise(m.group(2)), (1,)):
                offer(entry, conf, m.group(1).lower())
        return sorted(
            found.values(), key=lambda c: (-round(c.confidence, 2), KINDS.index(c.kind), bool(c.early), c.name)
        )

    def resolve(self, query: str, pick: int | None = None, same_album: bool = False) -> tuple[Seed | None, list[str]]:
        """The similarity phrase of ``query`` resolved to a seed (or None), and what to warn about."""
        warnings: list[str] = []
        for phrase in find_phrases(query):
            best: tuple[float, int, list[Candidate], tuple[str, int, int]] | None = None
            # Longest first: the best confidence wins, the longer name on a tie, so the first exact
            # match ends the search ("like beatles with piano": "beatles with piano", "beatles with",
            # then "beatles").
            for cut in reversed(_word_cuts(phrase.region, phrase.style)):
                cands = self.candidates(cut[0])
                if _NOT_A_NAME.match(cut[0]):  # "like a rainy day" names a track only if one is called so
                    cands = [c for c in cands if c.confidence >= 1.0]
                if cands and (best is None or round(cands[0].confidence, 2) > best[0]):
                    best = (round(cands[0].confidence, 2), len(cut[0]), cands, cut)
                if best is not None and best[0] >= 1.0:
                    break
            if best is None:
                words = phrase.region.strip()
                if not phrase.style and not _NOT_A_NAME.match(words):
                    warnings.append(
                        f"no title, artist or album in the library is like {words!r}: the words count as a description"
                    )
                continue
            return self._seed(query, phrase, best[2], best[3], pick, same_album, warnings), warnings
        if pick is not None:
            raise NotFoundError("--pick chooses between the names a similarity phrase may mean; this query has none")
        return None, warnings

    def _seed(self, query, phrase, cands, cut, pick, same_album, warnings) -> Seed:
        words, a, b = cut
        shown = [c for c in cands if c.confidence >= cands[0].confidence - AMBIGUOUS_WITHIN][:MAX_CANDIDATES]
        chosen = shown[0]
        if pick is not None:
            if not 1 <= pick <= len(shown):
                raise UsageError(f"--pick {pick}: {words!r} may mean {len(shown)} name(s) here (see --explain)")
            chosen = shown[pick - 1]
        # A title's own album under the same name ("Hotel California" the song and the album) is
        # the same answer, not an ambiguity.
        ids = self.indexed_ids(chosen.entry)
        seed_ids = self._early(ids, chosen, warnings) if chosen.early else ids
        albums = self.names.albums_of(seed_ids)
        others = [c for c in shown if c is not chosen and not (c.kind == "album" and c.entry in albums)]
        shown = [chosen, *others]
        if others:
            listed = "; ".join(f"{i}) {c.kind} {c.name!r} {c.confidence:.2f}" for i, c in enumerate(shown, 1))
            warnings.append(f"{words!r} may mean several things here: {listed}; using 1 (choose with --pick N)")
        rows = rows_of(self.lib.space, seed_ids)
        vec = np.asarray(self.lib.space.joint[np.sort(rows)], np.float64).mean(axis=0)
        vec = (vec / max(float(np.linalg.norm(vec)), 1e-12)).astype(np.float32)
        exclude = self.lib.store.copies_of(int(t) for t in seed_ids) | {int(t) for t in seed_ids}
        if not same_album:
            for album in albums:
                exclude |= {int(t) for t in self.names.entry_ids(album)}
        if phrase.style:
            leftover = phrase.region[:a] + " " + query[phrase.end :]
        else:
            leftover = phrase.region[b:] + query[phrase.end :]
        rest, relative = rest_query(query[: phrase.start], leftover)
        spoken = query[phrase.start : phrase.end].strip() if phrase.style else query[phrase.start : phrase.end]
        return Seed(spoken.strip(), words, chosen, shown, vec, {int(t) for t in seed_ids}, exclude, rest, relative)

    def _early(self, ids: np.ndarray, chosen: Candidate, warnings: list[str]) -> np.ndarray:
        years = self.names.years_of(ids)
        dated = np.unique(years[years > 0])
        if not len(dated):
            warnings.append(f"no year tags on {chosen.name!r}: {chosen.early!r} is ignored, all its tracks count")
            return ids
        k = max(1, int(np.ceil(len(dated) * EARLY_SHARE)))
        if chosen.early == "early":
            return ids[(years > 0) & (years <= dated[k - 1])]
        return ids[years >= dated[-k]]


_MINUS_WORDS = re.compile(r"\b(?:but\s+)?(?:without|minus|except|less|no)\s+", re.IGNORECASE)
_PLUS_WORDS = re.compile(r"\b(?:but|with|plus|and|more|also)\s+", re.IGNORECASE)


def rest_query(before: str, after: str) -> tuple[str, str]:
    """What the query says besides the phrase, in term syntax: "but calmer without vocals" becomes
    "calm - vocals". Terms of stop words only ("songs", "music that") are dropped. Also returns
    what its comparatives ask for ("calm"), which is measured against the seed."""
    after = _MINUS_WORDS.sub(" - ", " " + after + " ")
    after = _PLUS_WORDS.sub(" + ", after)
    tokens, op = [], None
    for tok in re.sub(r"[,;]", " + ", f"{before} + {after}").split():
        if tok in "+-":  # runs of operators ("+ -", "+ +") are one; a minus wins
            op = "-" if "-" in (op, tok) else "+"
            continue
        if op is not None and (tokens or op == "-"):
            tokens.append(op)
        tokens.append(tok)
        op = None
    text = " ".join(tokens)
    terms, relative = [], []
    for term in parse_terms(text):
        words = [COMPARATIVES.get(w.lower(), w) for w in term.text.split()]
        phrase = " ".join(words)
        if spans(phrase):
            terms.append((term.weight, phrase))
        if term.weight > 0:
            relative += [COMPARATIVES[w.lower()] for w in term.text.split() if w.lower() in COMPARATIVES]
    out = ""
    for weight, phrase in terms:
        size = "" if abs(weight) == 1 else f"{abs(weight):g}:"
        op = ("-" if weight < 0 else "") if not out else (" - " if weight < 0 else " + ")
        out += f"{op}{size}{phrase}"
    return out, " ".join(dict.fromkeys(relative))


# --------------------------------------------------------------------------- scoring


def seeded_scores(lib, seed: Seed, rows: np.ndarray | None, explain: bool = False):
    """Scores for a seeded query: the seed's similarity, standardised over the library, plus the
    words' scores (as search has them) on the same scale when the query says more.

    A comparative ("but calmer") is relative to the seed: tracks that are clearly more so than
    the seed (by RELATIVE_MARGIN standard deviations) rank before those that are not."""
    from musictext.library.view import Explanation, Part, SearchOutcome

    sims = lib.space.joint_scores(seed.vector)
    like = Part(f"sounds like {seed.chosen.kind} {seed.chosen.name!r} (joint space)", vector=seed.vector)
    if not seed.rest:
        return (sims if rows is None else sims[rows]), SearchOutcome([]), Explanation([like]) if explain else {}
    z = (sims - sims.mean()) / max(float(sims.std()), 1e-6)
    words, outcome, weights = lib.text_scores(seed.rest, rows)
    words = np.asarray(words, np.float64)
    spread = max(float(words.std()), 1e-9)
    scores = (z if rows is None else z[rows]) + (words - words.mean()) / spread
    if not explain:
        return relative_order(lib, seed, rows, scores), outcome, {}
    # The words' parts on the seed's scale: their sum is the words' score over its spread.
    for part in weights.parts:
        part.factor /= spread * weights.scale
    return relative_order(lib, seed, rows, scores), outcome, Explanation([like, *weights.parts])


def relative_order(lib, seed: Seed, rows: np.ndarray | None, scores: np.ndarray) -> np.ndarray:
    """``scores`` with the tracks that are not clearly more what the comparatives ask than the seed
    ("but calmer": calmer than the seed by RELATIVE_MARGIN sd) moved below those that are."""
    if not seed.relative:
        return scores
    level, _, _ = lib.text_scores(seed.relative, None)
    level = (level - level.mean()) / max(float(level.std()), 1e-9)
    at_seed = float(level[rows_of(lib.space, seed.seed_ids)].mean())
    more = (level if rows is None else level[rows]) >= at_seed + RELATIVE_MARGIN
    if not more.any() or more.all():
        return scores
    return np.where(more, scores, scores - (float(np.ptp(scores)) + 1e-3))


def resolve(lib, query: str, pick: int | None = None, same_album: bool = False) -> tuple[Seed | None, list[str]]:
    """``query``'s similarity phrase resolved in ``lib`` (None when it has none that names a thing)."""
    from musictext.config import index_dir

    if not find_phrases(query):
        if pick is not None:
            raise NotFoundError("--pick chooses between the names a similarity phrase may mean; this query has none")
        return None, []
    return Resolver(lib, index_dir()).resolve(query, pick, same_album)


# --------------------------------------------------------------------------- similar artists


@dataclass(frozen=True)
class ArtistMatch:
    rank: int
    score: float
    artist: str
    tracks: int


@dataclass
class ArtistOutcome:
    seed: Candidate
    candidates: list[Candidate]
    results: list[ArtistMatch]
    warnings: list[str] = field(default_factory=list)


def similar_artists(
    lib, name: str, n: int = 20, rows: np.ndarray | None = None, pick: int | None = None
) -> ArtistOutcome:
    """Artists whose centroid (mean joint vector of their tracks) is nearest the named artist's;
    ``rows`` (a --where filter) limits the tracks that count."""
    from musictext.config import index_dir

    resolver = Resolver(lib, index_dir())
    cands = [c for c in resolver.candidates(name, ("artist",)) if not c.early]
    if not cands:
        closest = resolver.names.lookup(normalise(name), (1,), top=1)
        hint = f" (closest: {resolver.names.shown[closest[0][0]]!r})" if closest else ""
        raise NotFoundError(f"no artist in the library is like {name!r}{hint}")
    shown = [c for c in cands if c.confidence >= cands[0].confidence - AMBIGUOUS_WITHIN][:MAX_CANDIDATES]
    if pick is not None and not 1 <= pick <= len(shown):
        raise UsageError(f"--pick {pick}: {name!r} may mean {len(shown)} artist(s) here")
    chosen = shown[(pick or 1) - 1]
    warnings = []
    if len(shown) > 1:
        listed = "; ".join(f"{i}) {c.name!r} {c.confidence:.2f}" for i, c in enumerate(shown, 1))
        warnings.append(f"{name!r} may mean several artists: {listed}; using {pick or 1} (choose with --pick N)")
    names = resolver.names
    artists = np.flatnonzero(names.kinds == KINDS.index("artist"))
    sizes = names.id_ptr[artists + 1] - names.id_ptr[artists]
    owners_a = np.repeat(np.arange(len(artists)), sizes)
    members = [names.entry_ids(int(e)) for e in artists]
    rows_a = rows_of(lib.space, np.concatenate(members) if members else [])
    keep = rows_a >= 0
    if rows is not None:  # a --where filter
        keep &= np.isin(rows_a, rows)
    owners_a, rows_a = owners_a[keep], rows_a[keep]  # owners ascending: artists are walked in order
    counts = np.bincount(owners_a, minlength=len(artists))
    sums = np.zeros((len(artists), lib.space.joint.shape[1]))
    if len(rows_a):
        starts = np.flatnonzero(np.r_[True, owners_a[1:] != owners_a[:-1]])
        vecs = np.asarray(lib.space.joint[rows_a], np.float64)
        sums[owners_a[starts]] = np.add.reduceat(vecs, starts, axis=0)
    centroids = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    me = int(np.flatnonzero(artists == chosen.entry)[0])
    if counts[me] == 0:
        raise NotFoundError(f"no track of {chosen.name!r} matches the --where filters")
    scores = centroids @ centroids[me]
    scores[counts == 0] = -np.inf
    scores[me] = -np.inf
    order = [int(i) for i in np.argsort(-scores, kind="stable") if np.isfinite(scores[i])][:n]
    results = [
        ArtistMatch(k, round(float(scores[i]), 4), names.shown[int(artists[i])], int(counts[i]))
        for k, i in enumerate(order, 1)
    ]
    return ArtistOutcome(chosen, [chosen, *[c for c in shown if c is not chosen]], results, warnings)
