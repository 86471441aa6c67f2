"""Model bundles: a folder with manifest.json, ONNX files, a tokenizer and a model card.

The shipped bundle lives in the package (``musictext/bundles/`` in a wheel, ``models/`` in a
checkout); bundles made by ``musictext train`` live in the data folder. Every file's sha256 is
checked before it is loaded, so an altered or truncated file is refused, never half-used.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from musictext.errors import ModelError, NotFoundError

MANIFEST = "manifest.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    def builtin(self) -> bool:
        return self.manifest.get("kind", "builtin") == "builtin"

    @property
    def base(self) -> str | None:
        """For a trained bundle, the bundle whose audio features it projects."""
        return self.manifest.get("base")

    def file(self, role: str) -> Path:
        """The verified path of the file playing ``role`` (audio, text, tokenizer, head, ...)."""
        files = self.manifest.get("files", {})
        entry = files.get(role)
        if entry is None and self.base and role in ("audio", "text", "tokenizer"):
            return get_bundle(self.base.split("@")[0]).file(role)  # a head shares its base's towers
        if entry is None:
            raise ModelError(f"bundle {self.name} has no {role} file")
        path = self.path / entry["path"]
        verify_file(path, entry["sha256"])
        return path

    def sha256(self, role: str) -> str:
        """The manifest's checksum of a role's file (a head's towers: its base's)."""
        entry = self.manifest.get("files", {}).get(role)
        if entry is None and self.base:
            return get_bundle(self.base.split("@")[0]).sha256(role)
        if entry is None:
            raise ModelError(f"bundle {self.name} has no {role} file")
        return entry["sha256"]

    def has(self, role: str) -> bool:
        return role in self.manifest.get("files", {}) or bool(self.base and role in ("audio", "text", "tokenizer"))


_verified: dict[str, str] = {}


def _stamp_file() -> Path:
    from musictext.config import home

    return home() / "cache" / "verified.json"


def _load_stamps() -> None:
    """Checksums verified by earlier runs, keyed by path, size, mtime and inode (as git's index
    does): a 90 MB text tower is hashed once, not on every start."""
    if _verified:
        return
    try:
        _verified.update(json.loads(_stamp_file().read_text()))
    except (OSError, ValueError):
        pass


def verify_file(path: Path, expected: str) -> None:
    """Refuse a file whose sha256 differs from the manifest's."""
    try:
        st = path.stat()
    except OSError as exc:
        raise ModelError(f"missing model file ({exc.strerror})", path) from exc
    key = f"{path}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"
    _load_stamps()
    actual = _verified.get(key)
    if actual is None:
        actual = sha256_file(path)
        if actual == expected:
            _verified[key] = actual
            try:
                _stamp_file().parent.mkdir(parents=True, exist_ok=True)
                tmp = _stamp_file().with_suffix(".tmp")
                tmp.write_text(json.dumps(_verified))
                os.replace(tmp, _stamp_file())
            except OSError:
                pass  # a read-only data folder: verify again next time
    if actual != expected:
        raise ModelError(f"checksum mismatch (expected {expected[:12]}…, found {actual[:12]}…)", path)


def builtin_dirs() -> list[Path]:
    """Folders holding the shipped bundles: inside the installed package, or the checkout's models/."""
    here = Path(__file__).resolve().parent
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
        if not root.is_dir():
            continue
        for sub in sorted(root.iterdir()):
            if (sub / MANIFEST).is_file() and sub.name not in seen:
                seen[sub.name] = _load(sub)
    return list(seen.values())


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
