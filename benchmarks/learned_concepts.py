"""The shipped learned concepts: how they were chosen, and what they cost when the space is built.

    python models/train_probes.py --prepare      # (re)trains them; writes probes_report.json
    python benchmarks/learned_concepts.py        # this table

Validation numbers come from models/musicnn-minilm/probes_report.json (renders from other
synthesisers and other compositions than the training renders). The cost is measured here: the
probe columns of n tracks, computed once per library change when the cached space is rebuilt.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, table, write_section  # noqa: E402

REPORT = Path(__file__).resolve().parents[1] / "models" / "musicnn-minilm" / "probes_report.json"


def main() -> None:
    from musictext.model.bundle import get_bundle
    from musictext.model.probes import learned_concepts, probe_columns

    report = json.loads(REPORT.read_text())
    learned = learned_concepts(get_bundle("musicnn-minilm"))
    rng = np.random.default_rng(0)
    cost = []
    for n in (10_000, 100_000, 1_000_000):
        probs = rng.random((n, 100), dtype=np.float32)
        pooled = rng.random((n, 400), dtype=np.float32)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            probe_columns(learned, probs, pooled)
            times.append(time.perf_counter() - t0)
        cost.append([f"{n:,}", statistics.median(times) * 1000, n * len(learned) * 4 / 2**20])
    kept = [c for c in report["concepts"] if c["kept"]]
    dropped = [c for c in report["concepts"] if not c["kept"]]
    rows = [
        [c["name"], ", ".join(c["phrases"]) or "-", c["train_clips"], c["validation_clips"], c["validation_auc"]]
        for c in sorted(kept, key=lambda c: -c["validation_auc"])
    ]
    tried = [[k, v] for k, v in report["tried"].items()]
    text = "\n".join(
        [
            "## Learned concepts (`python benchmarks/learned_concepts.py`)",
            "",
            f"Probes trained by `models/train_probes.py` on "
            f"{report['training_set']['clips_indexed']} numpy-synthesised "
            f"clips, chosen on {report['validation_set']['clips_indexed']} soundfont renders of other compositions "
            f"(TimGM6mb, OPL3; never FluidR3, never the evaluation corpus). Inputs and L2 chosen by mean validation "
            f"ROC-AUC: **{report['inputs']}, lambda {report['lambda']:g}**. A probe ships when its validation ROC-AUC "
            f"is at least {report['rule']['keep_validation_auc']}: {len(kept)} of {len(kept) + len(dropped)} did. "
            f"Machine: {machine()}.",
            "",
            table(["inputs, L2", "mean validation ROC-AUC"], tried),
            "",
            table(
                ["learned concept", "also matches", "training clips", "validation clips", "validation ROC-AUC"], rows
            ),
            "",
            "Not shipped (validation ROC-AUC below the bar): "
            + ", ".join(f"{c['name']} {c['validation_auc']:.3f}" for c in dropped)
            + ".",
            "",
            "Cost: the probe columns of every track, computed when the cached space is rebuilt (after an index run),"
            " median of 3:",
            "",
            table(["tracks", "ms", "extra concept-matrix MiB"], cost),
        ]
    )
    print(text)
    write_section("learned-concepts", text)


if __name__ == "__main__":
    main()
