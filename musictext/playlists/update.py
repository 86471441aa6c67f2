"""``--update``: playlists kept current after a re-index.

Each playlist musictext writes carries its *recipe* (the words, seeds, rules and target that made
it) in a ``#MUSICTEXT:`` comment line, which players skip. The data folder also keeps a register
(``playlists.json``) of every playlist written, with its recipe and the tracks written last, because
a server may rewrite the file without the line (MPD does, when a client edits a stored playlist).

An update re-runs the recipe and merges: tracks the fresh run still picks keep the order they
have in the file now (a reorder by hand included); new ones go in after the track they follow in
the fresh run; tracks that no longer match, or whose file is gone, drop out. A track added to the
file by hand stays while its file exists; one taken out by hand stays out. An ``--auto`` set is
re-clustered as a whole and each file follows the new group it shares most tracks with.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from musictext.errors import MusictextError, NotFoundError
from musictext.playlists.m3u import (
    PathStyle,
    m3u8_skips,
    output_paths,
    read_m3u,
    read_recipe_line,
    to_m3u8,
    write_playlists,
)
from musictext.playlists.records import Playlist, PlaylistEntry
from musictext.playlists.register import RECIPE_VERSION, load_register, save_register
from musictext.playlists.targets import Target

PLAYLIST_SUFFIXES = (".m3u", ".m3u8")


def _abs(path: str | None) -> str | None:
    return None if path is None else os.path.abspath(os.path.expanduser(path))


@dataclass
class Recipe:
    """What made a playlist: enough to make it again."""

    query: str | None = None
    like: list[str] = field(default_factory=list)
    start: str | None = None
    end: str | None = None
    n: int | None = None
    duration: float | None = None
    diversity: float = 0.0
    artist_gap: int = 0
    where: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    model: str | None = None
    pick: int | None = None  # which candidate a "like X" phrase resolved to (--pick)
    same_album: bool = False
    auto: int | None = None  # K of an --auto set
    set_id: str | None = None  # which --auto run the playlist came from

    def __post_init__(self) -> None:
        # Paths are kept absolute: an update may run from another folder.
        self.like = [_abs(p) for p in self.like]
        self.start, self.end = _abs(self.start), _abs(self.end)
        self.exclude = [_abs(p) for p in self.exclude]
        if self.auto is not None and self.set_id is None:
            self.set_id = uuid.uuid4().hex[:12]

    def run(self) -> list[Playlist]:
        from musictext.playlists.auto import auto_playlists
        from musictext.playlists.make import make_playlist

        if self.auto is not None:
            return auto_playlists(
                self.auto, artist_gap=self.artist_gap, where=self.where, exclude=self.exclude, model=self.model
            )
        playlist = make_playlist(
            self.query,
            self.like,
            self.start,
            self.end,
            n=self.n,
            duration=self.duration,
            diversity=self.diversity,
            artist_gap=self.artist_gap,
            where=self.where,
            exclude=self.exclude,
            model=self.model,
            pick=self.pick,
            same_album=self.same_album,
        )
        return [playlist]

    def as_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, [], 0.0, False) or k == "artist_gap"}

    @classmethod
    def from_json(cls, data: dict) -> Recipe:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def recipe_record(recipe: Recipe, target: Target) -> dict:
    """What a ``#MUSICTEXT:`` line holds (the path style is added by the writer)."""
    return {"v": RECIPE_VERSION, "recipe": recipe.as_json(), "target": target.as_json()}


def _listed(playlist: Playlist, dest: Path, style: PathStyle) -> list[str]:
    skipped = {p for p, _ in m3u8_skips(playlist, dest, style)}
    return [os.path.normpath(e.track.path) for e in playlist.entries if e.track.path not in skipped]


def save_playlists(
    items: Sequence[tuple[Playlist, Path]],
    recipe: Recipe,
    target: Target,
    force: bool = False,
    make_folders: bool = False,
    by_hand: dict[Path, tuple[list[str], list[str]]] | None = None,
) -> None:
    """Write each playlist for ``target`` with its recipe line, and note it in the register (with,
    from ``by_hand``, the tracks taken out of and put into each file by hand)."""
    record = recipe_record(recipe, target)
    write_playlists(
        items,
        force=force,
        make_folders=make_folders,
        render=lambda pl, dest: to_m3u8(pl, dest, style=target.style(dest), recipe=record),
    )
    register = {p: e for p, e in load_register().items() if os.path.exists(p)}  # forget deleted playlists
    for playlist, dest in items:
        style = target.style(dest)
        register[str(dest)] = {
            **record,
            "name": playlist.name,
            "paths": style.as_json(),
            "written": _listed(playlist, dest, style),
            "removed": (by_hand or {}).get(dest, ([], []))[0],
            "added": (by_hand or {}).get(dest, ([], []))[1],
        }
    save_register(register)


# Finding the playlists an --update names.


@dataclass
class Known:
    """A playlist file with its recipe (from its own line, else from the register)."""

    path: Path
    record: dict
    registered: dict | None

    @property
    def recipe(self) -> Recipe:
        return Recipe.from_json(self.record.get("recipe") or {})

    @property
    def target(self) -> Target:
        return Target.from_json(self.record.get("target") or {})

    @property
    def style(self) -> PathStyle:
        paths = self.record.get("paths") or (self.registered or {}).get("paths")
        return PathStyle.from_json(paths) if isinstance(paths, dict) else self.target.style(self.path)


def _known(path: Path, register: dict[str, dict]) -> Known | None:
    registered = register.get(str(path))
    record = read_recipe_line(path) or registered
    if not record or not isinstance(record.get("recipe"), dict):
        return None
    if record.get("v", RECIPE_VERSION) > RECIPE_VERSION:
        raise MusictextError("made by a newer musictext: update musictext to update it", path)
    return Known(path, record, registered)


def find_playlists(ref: str) -> list[Known]:
    """The playlists ``ref`` names: a file, a folder (each playlist in it musictext made), or a
    playlist's name (as written in it, or its file name without the extension)."""
    register = load_register()
    path = Path(os.path.abspath(os.path.expanduser(ref)))
    if path.is_dir():
        found = [
            k
            for p in sorted(path.iterdir())
            if p.suffix.lower() in PLAYLIST_SUFFIXES and p.is_file() and (k := _known(p, register))
        ]
        if not found:
            raise NotFoundError("no playlist made by musictext in this folder", path)
        return found
    if path.is_file():
        known = _known(path, register)
        if known is None:
            raise MusictextError(
                "no #MUSICTEXT line and not in the register: not made by musictext, nothing to remake", path
            )
        return [known]
    wanted = ref.casefold()
    named = [
        Path(p)
        for p, entry in register.items()
        if Path(p).is_file() and wanted in (str(entry.get("name", "")).casefold(), Path(p).stem.casefold())
    ]
    if not named:
        names = sorted({str(e.get("name")) for p, e in register.items() if Path(p).is_file()})
        hint = f" (musictext's playlists: {', '.join(names)})" if names else ""
        raise NotFoundError(f"no playlist file or name {ref!r}{hint}")
    if len(named) > 1:
        raise MusictextError(f"{ref!r} names {len(named)} playlists: give the file ({', '.join(map(str, named))})")
    return [k for p in named if (k := _known(p, register))]


# Merging a fresh run into the file as it is now.


@dataclass
class Updated:
    playlist: Playlist
    dest: Path
    target: Target
    added: int
    dropped: int
    new_file: bool = False


@dataclass
class Merged:
    playlist: Playlist
    added: int  # tracks new to the file
    dropped: int  # tracks the file had and has no more
    out_by_hand: list[str]  # taken out of the file by hand: kept out
    in_by_hand: list[str]  # put in the file by hand: kept while their files exist


def merge(
    current: Sequence[str],
    fresh: Playlist,
    written: Sequence[str] = (),
    removed: Sequence[str] = (),
    hand_added: Sequence[str] = (),
) -> Merged:
    """The fresh run laid over the file's order.

    ``current``: the paths the file lists now; ``written``: those musictext wrote last time (a path
    listed now but not written was added by hand; one written but not listed now was taken out by
    hand); ``removed`` and ``hand_added``: taken out and put in by hand before."""
    norm = os.path.normpath
    current = list(dict.fromkeys(norm(p) for p in current))
    written_set = {norm(p) for p in written}
    out_by_hand = ({norm(p) for p in removed} | (written_set - set(current))) - set(current)
    by_path = {norm(e.track.path): e for e in fresh.entries}
    order = [p for p in by_path if p not in out_by_hand]
    earlier = {norm(p) for p in hand_added}
    by_hand = [p for p in current if p not in by_path and (p in earlier or (written and p not in written_set))]
    hand_tracks = _tracks_at([p for p in by_hand if os.path.exists(p)])
    keep = set(order) | set(hand_tracks)
    result = [p for p in current if p in keep]
    for i, p in enumerate(order):
        if p in result:
            continue
        before = next((order[j] for j in range(i - 1, -1, -1) if order[j] in result), None)
        result.insert(0 if before is None else result.index(before) + 1, p)
    entries = []
    for k, p in enumerate(result, 1):
        e = by_path.get(p)
        entries.append(PlaylistEntry(k, e.track, e.score) if e else PlaylistEntry(k, hand_tracks[p], 0.0))
    return Merged(
        Playlist(fresh.name, entries, fresh.warnings),
        added=len([p for p in result if p not in current]),
        dropped=len([p for p in current if p not in keep]),
        out_by_hand=sorted(out_by_hand),
        in_by_hand=sorted(hand_tracks),
    )


def _tracks_at(paths: list[str]) -> dict:
    """Track rows for paths added by hand (indexed ones from the store, others from the file)."""
    if not paths:
        return {}
    from musictext.config import db_path
    from musictext.library.store import Store, TrackRow

    with Store(db_path(), readonly=True) as store:
        out = {}
        for p in paths:
            row = store.track_by_path(p)
            if row is None:
                st = os.stat(p)
                row = TrackRow(-1, p, st.st_size, st.st_mtime_ns, "", None, None, None, None, None, None, None)
            out[p] = row
    return out


def _overlap_matching(files: list[set[str]], groups: list[set[str]]) -> dict[int, int]:
    """file index -> group index, one to one, most shared tracks first (ties: lower indexes)."""
    pairs = sorted(((len(f & g), -i, -j) for i, f in enumerate(files) for j, g in enumerate(groups)), reverse=True)
    match: dict[int, int] = {}
    used: set[int] = set()
    for _, i, j in pairs:
        i, j = -i, -j
        if i not in match and j not in used:
            match[i] = j
            used.add(j)
    return match


def update_playlists(refs: Sequence[str], dry_run: bool = False) -> tuple[list[Updated], list[str]]:
    """Remake the playlists ``refs`` name; (what was (or would be) written, one-line failures)."""
    done: list[Updated] = []
    failures: list[str] = []
    seen: set[Path] = set()
    for ref in refs:
        try:
            found = find_playlists(ref)
        except MusictextError as exc:
            failures.append(str(exc))
            continue
        for known in found:
            if known.path in seen:
                continue
            try:
                group = _set_members(known) if known.recipe.auto is not None else [known]
                seen.update(k.path for k in group)
                done += _update_group(group, dry_run)
            except MusictextError as exc:
                failures.append(f"{known.path}: {exc.message}" if not exc.path else str(exc))
    return done, failures


def _set_members(known: Known) -> list[Known]:
    """The files of ``known``'s --auto set: in its folder or in the register, with its set id."""
    set_id = known.recipe.set_id
    register = load_register()
    paths = {known.path}
    paths |= {p for p in known.path.parent.iterdir() if p.suffix.lower() in PLAYLIST_SUFFIXES and p.is_file()}
    paths |= {Path(p) for p, e in register.items() if (e.get("recipe") or {}).get("set_id") == set_id}
    members = [k for p in sorted(paths) if p.is_file() and (k := _known(p, register)) and k.recipe.set_id == set_id]
    return members


def _update_group(group: list[Known], dry_run: bool) -> list[Updated]:
    first = group[0]
    recipe, target = first.recipe, first.target
    fresh = recipe.run()
    currents = [read_m3u(k.path, k.style) for k in group]
    if recipe.auto is None:
        pairs = [(group[0], fresh[0], currents[0])]
        extra: list[Playlist] = []
    else:
        match = _overlap_matching(
            [set(map(os.path.normpath, c)) for c in currents],
            [{os.path.normpath(e.track.path) for e in pl.entries} for pl in fresh],
        )
        pairs = [(group[i], fresh[j], currents[i]) for i, j in sorted(match.items())]
        extra = [pl for j, pl in enumerate(fresh) if j not in match.values()]
    out: list[Updated] = []
    items: list[tuple[Playlist, Path]] = []
    by_hand: dict[Path, tuple[list[str], list[str]]] = {}
    for known, pl, current in pairs:
        reg = known.registered or {}
        m = merge(current, pl, reg.get("written") or (), reg.get("removed") or (), reg.get("added") or ())
        if recipe.auto is not None:
            m.playlist.name = read_name(known.path) or m.playlist.name  # the file keeps its name
        items.append((m.playlist, known.path))
        by_hand[known.path] = (m.out_by_hand, m.in_by_hand)
        out.append(Updated(m.playlist, known.path, target, m.added, m.dropped))
    if extra:  # groups no file follows (one was deleted): written as new files beside the others
        folder = first.path.parent
        taken = [p.name for p in folder.iterdir()]
        for pl, dest in zip(extra, output_paths(extra, folder, True, target.ext, target.stem, taken)):
            items.append((pl, dest))
            out.append(Updated(pl, dest, target, len(pl), 0, new_file=True))
    for _, dest in items:
        target.check(dest)
    if not dry_run:
        save_playlists(items, recipe, target, force=True, by_hand=by_hand)
    return out


def read_name(path: Path) -> str | None:
    """A playlist's ``#PLAYLIST:`` name."""
    try:
        for line in path.read_text(encoding="utf-8", errors="replace").split("\n"):
            if line.startswith("#PLAYLIST:"):
                return line[len("#PLAYLIST:") :].strip() or None
    except OSError:
        return None
    return None
