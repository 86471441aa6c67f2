"""Similarity phrases ("like TITLE"): do they find what `similar PATH` finds, and how fast do they resolve?

    python benchmarks/similarity_phrases.py /tmp/mt-eval [--tracks 100000]

1. Agreement on the synthetic part of the evaluation corpus. The clips carry no tags, so the
   script copies them into a temporary folder and tags the copies (never the corpus): a generated
   title per clip and one generated artist per instrument, no album (so that no same-album rule
   removes a same-instrument neighbour). For every clip, ``search "like TITLE" -n 5`` and
   ``similar PATH -n 5`` are run (in-process, the functions the CLI calls); the table gives
   precision@5 of same-instrument tracks for both, and how many of the five they share.
2. Resolution time on a synthetic 100k-track library (titles, artists, albums, years written
   straight into a store): parsing the phrase, the name index (built once, then cached beside
   the space), fuzzy matching and the seed vector. Budget: 50 ms.

The corpus is a yardstick only: nothing here is tuned on it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, random_features, table, write_section  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WORDS = (
    "amber arrow autumn blue bright canyon cedar cinder cloud comet coral crimson dawn desert dust echo ember "
    "falcon feather fern field flint forest frost garden glass golden harbor hollow island ivory jade lantern "
    "linen maple marble meadow mirror mist moon night north ocean orchard paper pebble pine prairie quartz "
    "rain raven river road salt shadow silver sky smoke snow sparrow spring star stone storm summer sun "
    "thistle thunder tide timber velvet violet water willow winter wolf"
).split()


def title_for(k: int) -> str:
    """A distinct two-word title for clip ``k`` (deterministic, no relation to its audio)."""
    a, b = divmod(k * 7919 % (len(WORDS) ** 2), len(WORDS))
    return f"{WORDS[a].title()} {WORDS[b].title()}" if a != b else f"{WORDS[a].title()} Song"


def tagged_copy(corpus: Path, work: Path) -> list[dict]:
    """Copy the synthetic clips into ``work`` and tag the copies; returns manifest rows + title/artist."""
    import mutagen.wave
    from mutagen.id3 import TIT2, TPE1

    rows = [json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines() if line.strip()]
    synth = sorted((r for r in rows if r["part"] == "synth"), key=lambda r: r["id"])
    artists = {inst: f"Artist {chr(65 + i)}" for i, inst in enumerate(sorted({r["instrument"] for r in synth}))}
    out = []
    for k, r in enumerate(synth):
        dest = work / Path(r["path"]).name
        shutil.copy(corpus / r["path"], dest)
        f = mutagen.wave.WAVE(str(dest))
        if f.tags is None:
            f.add_tags()
        title, artist = title_for(k), artists[r["instrument"]]
        f.tags.add(TIT2(encoding=3, text=title))
        f.tags.add(TPE1(encoding=3, text=artist))
        f.save()
        out.append({**r, "file": str(dest), "title": title, "artist": artist})
    return out


def agreement(clips: list[dict], home: Path) -> tuple[str, dict]:
    os.environ["MUSICTEXT_HOME"] = str(home)
    exe = shutil.which("musictext") or str(Path(sys.executable).parent / "musictext")
    t0 = time.perf_counter()
    subprocess.run([exe, "index", str(Path(clips[0]["file"]).parent), "-q"], check=True, env=dict(os.environ))
    index_s = time.perf_counter() - t0
    from musictext.search import search, similar

    instrument = {c["file"]: c["instrument"] for c in clips}
    p_like, p_similar, shared, resolved, confident = [], [], [], 0, 0
    for c in clips:
        like = search(f"like {c['title']}", n=5)
        same = similar(c["file"], n=5)
        seed = like.seed or {}
        resolved += (seed.get("track") or {}).get("path") == c["file"]
        confident += bool(seed) and seed.get("confidence") == 1.0
        a = [r.track.path for r in like.results]
        b = [r.track.path for r in same.results]
        p_like.append(np.mean([instrument.get(p) == c["instrument"] for p in a]) if a else 0.0)
        p_similar.append(np.mean([instrument.get(p) == c["instrument"] for p in b]) if b else 0.0)
        shared.append(len(set(a) & set(b)))
    numbers = {
        "clips": len(clips),
        "resolved": resolved,
        "p5_like": float(np.mean(p_like)),
        "p5_similar": float(np.mean(p_similar)),
        "shared": float(np.mean(shared)),
        "index_s": index_s,
    }
    body = table(
        [
            "query",
            "seeds",
            "title resolved to its clip",
            "precision@5 (same instrument)",
            "top-5 shared with the other",
        ],
        [
            [
                '`search "like TITLE" -n 5`',
                len(clips),
                f"{resolved}/{len(clips)}",
                numbers["p5_like"],
                numbers["shared"],
            ],
            ["`similar PATH -n 5`", len(clips), "(path)", numbers["p5_similar"], numbers["shared"]],
        ],
    )
    return body, numbers


def _word(k: int) -> str:
    return WORDS[k % len(WORDS)]


def big_title(t: int) -> str:
    return f"{_word(t * 31).title()} {_word(t * 17 // 7)} {t}"


def big_artist(t: int) -> str:
    a = t // 20  # 20 tracks per artist
    return f"{_word(a * 13).title()} {_word(a * 7 + 3).title()} {a}"


def big_album(t: int) -> str:
    return f"{_word(t // 10).title()} {t // 10}"  # two albums per artist


def big_library(home: Path, n: int) -> None:
    """n tagged tracks with features and unit joint vectors written straight into a store."""
    os.environ["MUSICTEXT_HOME"] = str(home)
    from musictext.config import db_path, index_dir
    from musictext.library.space import load_space
    from musictext.library.store import Store
    from musictext.model.bundle import get_bundle

    bundle = get_bundle()
    rng = np.random.default_rng(0)
    dims = int(bundle.manifest["dims"]["joint"])
    with Store(db_path()) as store:
        if store.count_tracks() < n:
            with store.batch():
                for start in range(0, n, 5000):
                    k = min(5000, n - start)
                    vecs = rng.normal(size=(k, dims)).astype(np.float32)
                    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
                    probs = rng.beta(0.3, 2.0, size=(k, 100)).astype(np.float32)
                    for i in range(k):
                        t = start + i
                        tags = {
                            "title": [big_title(t)],
                            "artist": [big_artist(t)],
                            "album": [big_album(t)],
                            "year": [str(1960 + (t // 20) % 40 + (t % 20) // 10 * 3)],
                        }
                        tid = store.upsert_track(f"/music/{t // 20}/{t}.mp3", 5_000_000, 0, f"h{t}", 240.0, tags)
                        store.put_features(
                            tid,
                            bundle.model_id,
                            random_features(rng, probs[i]),
                        )
                        store.put_vector(tid, bundle.model_id, vecs[i])
                store.bump_generation(bundle.model_id)
        load_space(store, bundle, bundle.model_id, index_dir())


def resolution(home: Path, n: int, repeats: int) -> tuple[str, dict]:
    big_library(home, n)
    os.environ["MUSICTEXT_HOME"] = str(home)
    from musictext import seeds
    from musictext.config import index_dir
    from musictext.library.view import Library

    (index_dir() / seeds.NAMES_CACHE).unlink(missing_ok=True)
    t = n * 2 // 5 + 7
    title, artist = big_title(t), big_artist(t)
    queries = {
        "title, exact": f"like {title}",
        "title, misspelt": f"like {title[:3] + title[4] + title[3] + title[5:]}",
        "ARTIST – TITLE": f"like {artist} – {title}",
        "artist + modifiers": f"sounds like {artist} but calmer without vocals",
        "early ARTIST": f"sounds like early {artist}",
        "album": f"in the style of {big_album(t)}",
        "no match": "like zebra stampede quartet",
    }
    lib = Library()
    t0 = time.perf_counter()
    seeds.resolve(lib, queries["title, exact"])
    cold = time.perf_counter() - t0  # builds and caches the name index
    lib.close()
    rows, numbers = [], {"cold_s": cold}
    for name, q in queries.items():
        walls, cpus = [], []
        for _ in range(repeats):
            lib = Library()  # a fresh library each time, as each search is: nothing memoised between calls
            w0, c0 = time.perf_counter(), time.process_time()
            seed, _ = seeds.resolve(lib, q)
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
            lib.close()
        got = "—" if seed is None else f"{seed.chosen.kind} {seed.chosen.confidence:.2f}"
        rows.append([name, got, statistics.median(walls) * 1000, statistics.median(cpus) * 1000])
        numbers[name] = statistics.median(walls) * 1000
    return table(["phrase", "resolved to", "median wall ms", "median CPU ms"], rows), numbers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--tracks", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--work", type=Path, default=None, help="keep the copies and the big library here")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="mt-similarity-"))
    clips_dir = work / "clips"
    clips_dir.mkdir(parents=True, exist_ok=True)
    clips = tagged_copy(args.corpus, clips_dir)
    shutil.rmtree(work / "home-eval", ignore_errors=True)  # index afresh: the time is part of the report
    agree_table, agree = agreement(clips, work / "home-eval")
    speed_table, speed = resolution(work / f"home-{args.tracks}", args.tracks, args.repeats)
    cmd = f"python benchmarks/similarity_phrases.py {args.corpus} --tracks {args.tracks}"
    body = f"""## Similarity phrases ("like TITLE")

Command: `{cmd}`. Machine: {machine()}.

**Agreement with `similar PATH`** on the {agree["clips"]} synthetic clips of the evaluation corpus (set A;
copies tagged with a generated title each and one generated artist per instrument, no albums;
indexed at the default budget in {agree["index_s"]:.0f} s). Each clip is the seed once; precision@5 counts
results of the seed's instrument, so 0.8 is the most it can be (4 other clips per instrument).

{agree_table}

**Resolution time** on a synthetic library of {args.tracks:,} tagged tracks: phrase parsing, the name
index (loaded from its cache), fuzzy matching, the seed vector and the copies query, per call of
`musictext.seeds.resolve` (median of {args.repeats}, each on a freshly opened `Library` as a search
has, its opening not counted). The first call after a change of the tracks table builds the name
index and caches it:
{speed["cold_s"] * 1000:,.0f} ms here. Budget: 50 ms.

{speed_table}
"""
    write_section("similarity-phrases", body)
    print(body)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
