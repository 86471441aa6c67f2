"""musictext for beets: search, tag and build playlists from words, over a beets library.

Enable with ``plugins: musictext``. musictext keeps its own library (``MUSICTEXT_HOME``, or this
plugin's ``home`` option): ``beet mtindex`` analyses the selected items into it with musictext's
indexer; the other commands read it and print beets items with beets' own format options.

Tags go into typed flexible fields (``mt_mood``, ``mt_genre``, ...) in the beets database, and into
the files only through beets' own write path (``item.try_write()``), so ``-p/--pretend``, beets'
``write`` setting and its database stay in charge. Heavy imports (numpy, the ONNX runtime) wait
until a command runs: ``beet --help`` does not load them.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import mediafile
from beets import ui
from beets.dbcore import types
from beets.plugins import BeetsPlugin
from beets.ui import Subcommand
from beets.util import syspath

# Vocabulary fields kept in beets as mt_<field>; a vocabulary's [section] must be one of them.
DEFAULT_FIELDS = ["mood", "genre", "instrument", "era"]
# beets already owns the genre tags (its `genres` field); mt_genre stays in the database unless
# the `genres` option copies the terms there.
NOT_WRITTEN = frozenset({"genre"})


def _media_field(field: str) -> mediafile.ListMediaField:
    """Where mt_<field> lives in a file: the tags `musictext tag` writes (mood in the standard mood
    tags, any other field in a custom tag named after it), several values as mediafile lists them."""
    if field == "mood":
        return mediafile.ListMediaField(
            mediafile.MP3ListStorageStyle("TMOO"),
            mediafile.MP4ListStorageStyle("----:com.apple.iTunes:MOOD"),
            mediafile.ListStorageStyle("MOOD"),
            mediafile.ASFStorageStyle("WM/Mood"),
        )
    name = field.upper()
    return mediafile.ListMediaField(
        mediafile.MP3ListDescStorageStyle(desc=name),
        mediafile.MP4ListStorageStyle(f"----:com.apple.iTunes:{name}"),
        mediafile.ListStorageStyle(name),
        mediafile.ASFStorageStyle(name),
    )


def _path(item) -> str:
    return os.fsdecode(item.path)


def _user_errors(func):
    """musictext's one-line errors become beets' UserError (printed as `error: ...`, exit 1)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from musictext.errors import MusictextError

        try:
            return func(*args, **kwargs)
        except MusictextError as exc:
            raise ui.UserError(str(exc)) from None

    return wrapper


class _LogProgress:
    """musictext's index progress, through the plugin's logger (skips are warnings)."""

    def __init__(self, log):
        self._log = log

    def start(self, total: int) -> None:
        if total:
            self._log.info("analysing {} file(s)", total)

    def advance(self, path: str, audio_seconds: float) -> None:
        self._log.debug("analysed {}", path)

    def skip(self, path: str, reason: str) -> None:
        self._log.warning("skipping {}: {}", path, reason)

    def note(self, message: str) -> None:
        self._log.debug("{}", message)


class MusictextPlugin(BeetsPlugin):
    def __init__(self) -> None:
        super().__init__()
        self.config.add(
            {
                "home": None,  # musictext's data folder (default: MUSICTEXT_HOME or the platform's)
                "model": None,  # model bundle (default: musictext's)
                "auto": False,  # index imported items after each import (analysis takes time)
                "fields": list(DEFAULT_FIELDS),
                "genres": False,  # mttag also adds genre terms to beets' own `genres` field
                "limit": 20,
                "vocab": None,
                "top_k": 3,
            }
        )
        self.fields = [str(f).strip().lower() for f in self.config["fields"].as_str_seq()]
        self.item_types = {f"mt_{f}": types.MULTI_VALUE_DSV for f in self.fields}
        for field in self.fields:
            if field not in NOT_WRITTEN:
                self.add_media_field(f"mt_{field}", _media_field(field))
        self._imported: list[str] = []
        if self.config["auto"].get(bool):
            self.register_listener("import_task_files", self._collect_imported)
            self.register_listener("import", self._index_imported)

    # setup ------------------------------------------------------------------------------------
    def _setup(self) -> str | None:
        """Point musictext at the configured home; the model bundle to use."""
        home = self.config["home"].get()
        if home:
            os.environ["MUSICTEXT_HOME"] = os.path.expanduser(str(home))
        model = self.config["model"].get()
        return str(model) if model else None

    def commands(self) -> list[Subcommand]:
        index = Subcommand("mtindex", help="analyse the matching items into the musictext library")
        index.parser.usage += " [QUERY]"
        index.parser.add_option("--full", action="store_true", help="analyse whole tracks (slower)")
        index.parser.add_option("--device", default="auto", help="auto, cpu or cuda")
        index.func = self._index_command

        search = Subcommand("mtsearch", help="find matching items that fit a description")
        search.parser.usage += ' "WORDS" [QUERY]'
        search.parser.add_option("-n", "--limit", type=int, default=None, help="how many items (default 20)")
        search.parser.add_path_option()
        search.parser.add_format_option()
        search.func = self._search_command

        similar = Subcommand("mtsimilar", help="items that sound like the first matching item")
        similar.parser.usage += " [QUERY]"
        similar.parser.add_option("-n", "--limit", type=int, default=None, help="how many items (default 20)")
        similar.parser.add_path_option()
        similar.parser.add_format_option()
        similar.func = self._similar_command

        tag = Subcommand("mttag", help="tag matching items zero-shot into mt_<field> fields")
        tag.parser.usage += " [QUERY] --vocab VOCAB"
        tag.parser.add_option("-v", "--vocab", help="vocabulary file, or genres, moods, instruments, eras")
        tag.parser.add_option(
            "-k", "--top-k", type=int, default=None, help="at most K terms per item (default 3; a cap, not a quota)"
        )
        tag.parser.add_option("--threshold", type=float, default=None, help="evidence a term needs (0-1, default 0.5)")
        tag.parser.add_option(
            "--relative", action="store_true", default=False,
            help="rank terms within the library instead of needing evidence (the K best for every item)",
        )  # fmt: skip
        tag.parser.add_option("--field", default="genre", help="field for terms outside any [section]")
        tag.parser.add_option("-p", "--pretend", action="store_true", help="show the changes; change nothing")
        tag.parser.add_option("-w", "--write", action="store_true", default=None, help="write tags to the files")
        tag.parser.add_option("-W", "--nowrite", action="store_false", dest="write", help="don't write tags")
        tag.func = self._tag_command

        playlist = Subcommand("mtplaylist", help="write an M3U8 playlist that fits a description")
        playlist.parser.usage += ' "WORDS" [QUERY] -o FILE'
        playlist.parser.add_option("-o", "--output", help="the playlist file to write")
        playlist.parser.add_option("-n", "--limit", type=int, default=None, help="how many tracks (default 20)")
        playlist.parser.add_option("--absolute", action="store_true", help="absolute paths (default: relative)")
        playlist.parser.add_option("--force", action="store_true", help="overwrite an existing file")
        playlist.func = self._playlist_command
        return [index, search, similar, tag, playlist]

    # mtindex ----------------------------------------------------------------------------------
    @_user_errors
    def _index_command(self, lib, opts, args) -> None:
        items = list(lib.items(args))
        if not items:
            raise ui.UserError("no items match the query")
        report = self._index([_path(i) for i in items], full=opts.full, device=opts.device)
        ui.print_(
            f"indexed {report.indexed}, unchanged {report.unchanged}, moved {report.moved}, "
            f"failed {report.failed} ({report.audio_seconds:.0f} s of audio in {report.wall_seconds:.1f} s)"
        )

    def _index(self, paths: list[str], full: bool = False, device: str = "auto"):
        """Run musictext's indexer on exactly these files (missing ones are skipped with a warning)."""
        from musictext.library.index import DEFAULT_BUDGET, index_library

        model = self._setup()
        present = []
        for p in paths:
            if os.path.isfile(p):
                present.append(Path(p))
            else:
                self._log.warning("skipping {}: file not found", p)
        if not present:
            raise ui.UserError("none of the matching items' files exists")
        return index_library(
            present,
            budget=None if full else DEFAULT_BUDGET,
            device=device,
            model=model,
            progress=_LogProgress(self._log),
        )

    def _collect_imported(self, session, task) -> None:
        self._imported += [_path(i) for i in task.imported_items()]

    def _index_imported(self, lib, paths) -> None:
        from musictext.errors import MusictextError

        todo, self._imported = list(dict.fromkeys(self._imported)), []
        if not todo:
            return
        try:
            report = self._index(todo)
        except (MusictextError, ui.UserError) as exc:  # the import itself went well: say so, don't fail it
            self._log.warning("could not index the imported items: {}", exc)
            return
        self._log.info("musictext: indexed {} imported item(s), {} failed", report.indexed, report.failed)

    # mtsearch / mtsimilar ---------------------------------------------------------------------
    @_user_errors
    def _search_command(self, lib, opts, args) -> None:
        if not args or not args[0].strip():
            raise ui.UserError('give a description, e.g. beet mtsearch "calm piano" [QUERY]')
        from musictext.search import search

        model = self._setup()
        by_path = {_path(i): i for i in lib.items(args[1:])}
        if not by_path:
            raise ui.UserError("no items match the query")
        outcome = search(args[0], n=self._limit(opts), model=model, paths=list(by_path))
        self._print(outcome, by_path)

    @_user_errors
    def _similar_command(self, lib, opts, args) -> None:
        from musictext.search import similar

        model = self._setup()
        seed = lib.items(args).get()
        if seed is None:
            raise ui.UserError("no items match the query")
        by_path = {_path(i): i for i in lib.items()}
        outcome = similar(_path(seed), n=self._limit(opts), model=model, paths=list(by_path))
        self._print(outcome, by_path)

    def _limit(self, opts) -> int:
        n = opts.limit if opts.limit is not None else self.config["limit"].get(int)
        if n < 1:
            raise ui.UserError("-n/--limit is at least 1")
        return n

    def _print(self, outcome, by_path: dict) -> None:
        from musictext.search import NONE_INDEXED

        for w in outcome.warnings:
            if w == NONE_INDEXED:
                w = "none of the matching items is indexed: run `beet mtindex [QUERY]` first"
            self._log.warning("{}", w)
        for r in outcome.results:
            item = by_path.get(r.track.path)
            if item is not None:
                ui.print_(format(item))

    # mttag ------------------------------------------------------------------------------------
    @_user_errors
    def _tag_command(self, lib, opts, args) -> None:
        from musictext.tags import tagging

        model = self._setup()
        vocab = opts.vocab or self.config["vocab"].get()
        if not vocab:
            raise ui.UserError("give a vocabulary with --vocab FILE (or genres, moods, instruments, eras)")
        terms = tagging.load_vocab(str(vocab), default_field=opts.field.strip().lower())
        vocab_fields = list(dict.fromkeys(t.field for t in terms))
        unknown = [f for f in vocab_fields if f not in self.fields]
        if unknown:
            raise ui.UserError(
                f"vocabulary field(s) {', '.join(unknown)} are not declared: add them to "
                f"`musictext: fields:` in the beets config (now: {', '.join(self.fields)})"
            )
        items = list(lib.items(args))
        if not items:
            raise ui.UserError("no items match the query")
        top_k = opts.top_k
        if top_k is None and (opts.threshold is None or not opts.relative):
            top_k = self.config["top_k"].get(int)
        # Scores are calibrated against the whole musictext library whatever the selection, so the
        # library is scored once and the selection picked out of it.
        result = tagging.score_vocab(terms, model=model, top_k=top_k, threshold=opts.threshold, relative=opts.relative)
        for w in dict.fromkeys(result.warnings):
            self._log.warning("{}", w)
        if not opts.relative:
            self._log.info("{} of {} track(s) got no tag from this vocabulary (no evidence)",
                           result.untagged, len(result.tracks))  # fmt: skip
        chosen = {t.path: t.chosen for t in result.tracks}
        add_genres = self.config["genres"].get(bool) and "genre" in vocab_fields
        write = ui.should_write(opts.write)
        changed = unindexed = written = 0
        with lib.transaction():
            for item in items:
                picks = chosen.get(_path(item))
                if picks is None:
                    unindexed += 1
                    self._log.warning("skipping {}: not indexed (run `beet mtindex` first)", _path(item))
                    continue
                for field in vocab_fields:
                    values = [term for term, f, _ in picks if f == field]
                    if values or f"mt_{field}" in item:
                        item[f"mt_{field}"] = values
                if add_genres:
                    genres = list(item.get("genres") or [])
                    item["genres"] = genres + [g for g, f, _ in picks if f == "genre" and g not in genres]
                if not ui.show_model_changes(item):
                    # Tagged before without writing: --write still brings the file up to date.
                    if write and not opts.pretend and self._file_differs(item, vocab_fields):
                        written += item.try_write()
                    continue
                changed += 1
                if opts.pretend:
                    continue
                if write:
                    written += item.try_write()
                item.store()
        verb = "would change" if opts.pretend else "changed"
        summary = f"{verb} {changed} item(s)"
        if write and not opts.pretend:
            summary += f", wrote {written} file(s)"
        ui.print_(summary + (f"; {unindexed} not indexed" if unindexed else ""))

    def _file_differs(self, item, fields: list[str]) -> bool:
        """Whether the file's mt_<field> tags differ from the database's (unreadable: let beets say)."""
        try:
            media = mediafile.MediaFile(syspath(item.path))
        except mediafile.UnreadableFileError:
            return True
        return any(
            list(getattr(media, f"mt_{f}") or []) != list(item.get(f"mt_{f}") or [])
            for f in fields
            if f not in NOT_WRITTEN
        ) or (self.config["genres"].get(bool) and "genre" in fields and media.genres != item.get("genres"))

    # mtplaylist -------------------------------------------------------------------------------
    @_user_errors
    def _playlist_command(self, lib, opts, args) -> None:
        if not args or not args[0].strip():
            raise ui.UserError('give a description, e.g. beet mtplaylist "rainy sunday" [QUERY] -o rainy.m3u8')
        if not opts.output:
            raise ui.UserError("give the playlist file with -o FILE")
        from musictext.playlists import make_playlist, write_playlists

        model = self._setup()
        paths = None
        if args[1:]:  # as in mtsearch: the tracks come only from the items the beets query matches
            paths = [_path(i) for i in lib.items(args[1:])]
            if not paths:
                raise ui.UserError(
                    f"no items match the query {' '.join(args[1:])!r} "
                    f'(a description of several words goes in quotes: beet mtplaylist "{" ".join(args)}")'
                )
        playlist = make_playlist(args[0], n=self._limit(opts), model=model, paths=paths)
        for w in playlist.warnings:
            self._log.warning("{}", w)
        dest = Path(os.path.abspath(os.path.expanduser(opts.output)))
        write_playlists([(playlist, dest)], absolute=opts.absolute, force=opts.force)
        ui.print_(f"wrote {len(playlist)} track(s) to {dest}")
