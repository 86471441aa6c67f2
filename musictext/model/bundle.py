"""Model bundles: a folder with manifest.json, ONNX files, a tokenizer and a model card.

The shipped bundle lives in the package (``musictext/bundles/`` in a wheel, ``models/`` in a
checkout); bundles made by ``musictext train`` live in the data folder. Every file's sha256 is
checked before it is loaded, so an altered or truncated file is refused, never half-used.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from musictext.atomic import atomic_write
from musictext.errors import ModelError, NotFoundError

MANIFEST = "manifest.json"
# Files a trained head does not hold itself: it uses its base bundle's (recorded by checksum in
# ``base_files``), so a head of a few hundred KB does not copy an 87 MB text tower.
BASE_ROLES = ("audio", "audio_int8", "text", "tokenizer")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_name(model_id: str) -> str:
    """The bundle name in a model id (``musicnn-minilm@1.0+p2`` -> ``musicnn-minilm``)."""
    return model_id.split("@")[0]


def model_filename(model_id: str) -> str:
    """A model id as a file name (no ``/``, ``@`` or ``+``), for per-model caches."""
    return model_id.replace("/", "_").replace("@", "_").replace("+", "_")


@dataclass(frozen=True)
class Bundle:
    """A model bundle as described by its manifest."""

    name: str
    path: Path
    manifest: dict = field(repr=False, compare=False, hash=False)

    @property
    def version(self) -> str:
        return str(self.manifest.get("version", "?"))

    @property
    def model_id(self) -> str:
        """What every stored vector is labelled with: name, version and pipeline version."""
        return f"{self.name}@{self.version}+p{self.manifest.get('pipeline_version', 1)}"

    @property
    def audio_role(self) -> str:
        """The audio graph this bundle's vectors come from: pipeline 2 runs the timbral-int8 graph
        (models/quantize_audio.py), pipeline 1 the float one, so old vectors keep their own graph."""
        return "audio_int8" if int(self.manifest.get("pipeline_version", 1)) >= 2 else "audio"

    @property
    def builtin(self) -> bool:
        return self.manifest.get("kind", "builtin") == "builtin"

    @property
    def base(self) -> str | None:
        """For a trained bundle, the bundle whose audio features it projects."""
        return self.manifest.get("base")

    @property
    def base_name(self) -> str | None:
        """The name of the bundle ``base`` refers to."""
        return model_name(self.base) if self.base else None

    def base_bundle(self) -> Bundle:
        """The installed bundle a trained head was made from (one-line ModelError when it is gone)."""
        try:
            return get_bundle(self.base_name)
        except NotFoundError:
            raise ModelError(
                f"model {self.name} was trained on {self.base_name}, which is not installed: reinstall it or"
                f" retrain with `musictext train --name {self.name}`",
                self.path,
            ) from None

    def _base_for(self, role: str) -> Bundle:
        """The base bundle whose ``role`` file this head uses, checked to be the one it was trained with."""
        base = self.base_bundle()
        want = self.manifest.get("base_files", {}).get(role)
        if want is not None and base.sha256(role) != want:
            raise ModelError(
                f"model {self.name} was trained with another {role} file of {base.name} than the one installed"
                f" (expected {want[:12]}…, found {base.sha256(role)[:12]}…): retrain it",
                self.path,
            )
        return base

    def file(self, role: str) -> Path:
        """The verified path of the file playing ``role`` (audio, text, tokenizer, head, ...)."""
        files = self.manifest.get("files", {})
        entry = files.get(role)
        if entry is None and self.base and role in BASE_ROLES:
            return self._base_for(role).file(role)  # a head shares its base's towers, by reference
        if entry is None:
            raise ModelError(f"bundle {self.name} has no {role} file")
        path = self.path / entry["path"]
        verify_file(path, entry["sha256"])
        return path

    def sha256(self, role: str) -> str:
        """The manifest's checksum of a role's file (a head's towers: its base's)."""
        entry = self.manifest.get("files", {}).get(role)
        if entry is None and self.base and role in BASE_ROLES:
            return self.manifest.get("base_files", {}).get(role) or self.base_bundle().sha256(role)
        if entry is None:
            raise ModelError(f"bundle {self.name} has no {role} file")
        return entry["sha256"]

    def has(self, role: str) -> bool:
        return role in self.manifest.get("files", {}) or bool(self.base and role in BASE_ROLES)


_verified: dict[str, str] = {}

# A stamp is only trusted for a file whose inode changed at least this long before it was hashed:
# a change made within the same timestamp tick as the one recorded would leave the stamp equal
# ("racy git"); 2 s covers the coarsest clocks the stamp relies on.
RACY_SECONDS = 2.0


def _stamp_file() -> Path | None:
    from musictext.config import cache_dir

    folder = cache_dir()
    return None if folder is None else folder / "verified.json"


def _load_stamps() -> None:
    """Checksums verified by earlier runs, keyed by path, size, mtime, ctime and inode (as git's
    index does): a 90 MB text tower is hashed once, not on every start. ctime is in the key because
    no system call can set it back: writing bytes in place and restoring the mtime with utime still
    moves ctime to the time of the change."""
    if _verified:
        return
    stamps = _stamp_file()
    if stamps is None:
        return
    try:
        _verified.update(json.loads(stamps.read_text()))
    except (OSError, ValueError):
        pass


def file_stamp(st: os.stat_result) -> str:
    """What identifies one state of a file on disk without reading it: size, mtime, ctime, inode, device."""
    return f"{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}|{st.st_ino}|{st.st_dev}"


def verify_file(path: Path, expected: str, *, force: bool = False) -> None:
    """Refuse a file whose sha256 differs from the manifest's. ``force`` hashes it whatever the
    stamp cache says (`models verify` does: it catches what a stamp cannot, see docs)."""
    try:
        st = path.stat()
    except OSError as exc:
        raise ModelError(f"missing model file ({exc.strerror})", path) from exc
    key = f"{path}|{file_stamp(st)}"
    _load_stamps()
    actual = None if force else _verified.get(key)
    if actual is None:
        actual = sha256_file(path)
        try:
            after = path.stat()
        except OSError:
            after = None
        stable = after is not None and file_stamp(after) == file_stamp(st)
        if actual == expected and stable and time.time() - st.st_ctime_ns / 1e9 >= RACY_SECONDS:
            _remember(key, actual)
    if actual != expected:
        raise ModelError(f"checksum mismatch (expected {expected[:12]}…, found {actual[:12]}…)", path)


def _remember(key: str, actual: str) -> None:
    # Drop stamps of earlier states of the same path: they can never match again.
    path = key.rsplit("|", 5)[0]
    for old in [k for k in _verified if k.rsplit("|", 5)[0] == path]:
        del _verified[old]
    _verified[key] = actual
    stamps = _stamp_file()
    if stamps is None:  # no data folder (read-only commands do not create one): verify again next time
        return
    try:
        stamps.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(stamps, json.dumps(_verified))
    except OSError:
        pass  # a read-only data folder: verify again next time


def builtin_dirs() -> list[Path]:
    """Folders holding the shipped bundles: inside the installed package, or the checkout's models/."""
    here = Path(__file__).resolve().parent.parent  # the musictext package
    return [p for p in (here / "bundles", here.parent / "models") if p.is_dir()]


def _load(path: Path) -> Bundle:
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"unreadable manifest ({exc})", path / MANIFEST) from exc
    return Bundle(name=manifest.get("name", path.name), path=path, manifest=manifest)


def list_bundles() -> list[Bundle]:
    from musictext.config import user_models_dir

    seen: dict[str, Bundle] = {}
    roots = builtin_dirs() + [user_models_dir()]
    for root in roots:
        try:
            subs = sorted(root.iterdir()) if root.is_dir() else []
        except OSError as exc:
            skipped_bundles.setdefault(str(root), f"cannot list models folder ({exc.strerror or exc})")
            continue
        for sub in subs:
            # dot folders are half-written or set-aside bundles of `musictext train` (.NAME.partial, .NAME.old)
            if not sub.name.startswith(".") and (sub / MANIFEST).is_file() and sub.name not in seen:
                try:
                    seen[sub.name] = _load(sub)
                except ModelError as exc:  # one broken bundle must not break every command
                    skipped_bundles.setdefault(str(sub), exc.message)
    return list(seen.values())


# Bundles list_bundles() passed over (path -> reason); the CLI shows each once as a warning.
skipped_bundles: dict[str, str] = {}


@cache
def _find(name: str, _key: str) -> Bundle:
    for bundle in list_bundles():
        if bundle.name == name:
            return bundle
    known = ", ".join(b.name for b in list_bundles()) or "none"
    raise NotFoundError(f"unknown model {name!r} (installed: {known})")


def get_bundle(name: str | None = None) -> Bundle:
    """The bundle called ``name``; by default $MUSICTEXT_MODEL, else the shipped default."""
    import os

    from musictext.config import DEFAULT_MODEL, home

    return _find(name or os.environ.get("MUSICTEXT_MODEL") or DEFAULT_MODEL, str(home()))
