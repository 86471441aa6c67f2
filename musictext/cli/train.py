"""`musictext train --name NAME (--pairs FILE | --from-library)`"""

from __future__ import annotations

from pathlib import Path

import typer

from musictext.cli.options import check_device
from musictext.cli.output import emit_json, emit_line, err, note, visible, warn


def _fmt(val: dict | None) -> str:
    return f"val R@10 {val['r@10']:.3f} mAP@10 {val['map@10']:.3f}" if val else "no held-out files"


def _before_after(before: dict | None, after: dict | None) -> str:
    if before and after and before["r@10"] == after["r@10"] == 1.0:
        return "held-out R@10 1.000 before and after: too few validation files to tell"
    return f"held-out {_fmt(before)} with the base model's scoring, {_fmt(after)} with this model's"


def _share(rule) -> str:
    return "the base model's scores" if rule == "base" else f"{rule:.0%} joint space + {1 - rule:.0%} concepts"


def blend_lines(report) -> list[str]:
    """What the validation files chose, in words: per word, and for whole captions."""
    words = report.words
    judged = [w for w in words if w["base_auc"] is not None]
    better = [w for w in judged if w["rule"] != "base"]
    kept = [w for w in judged if w["rule"] == "base"]
    lines = [f"captions and other queries: {_share(report.blend.get('default', 'base'))}"]
    if better:
        shown = ", ".join(f"{w['word']} {w['base_auc']:.2f}→{w['auc']:.2f}" for w in better[:10])
        lines.append(f"{len(better)} word(s) better than the base on the validation files (ROC-AUC): {shown}")
    if kept:
        shown = ", ".join(w["word"] for w in kept[:12]) + (", …" if len(kept) > 12 else "")
        lines.append(f"{len(kept)} word(s) where training did not help: they keep the base model's scores ({shown})")
    untold = len(words) - len(judged)
    if untold:
        lines.append(
            f"{untold} word(s) on too few validation files to judge: scored as the base does (new words: by their"
            " new concept)"
        )
    if report.new_concepts:
        lines.append(f"new learned concepts (--explain names them): {', '.join(report.new_concepts)}")
    if report.refined_concepts:
        lines.append(f"base concepts refined by your captions: {', '.join(report.refined_concepts)}")
    return lines


class RichTrainProgress:
    """An epoch bar with loss and validation metrics on a TTY; one line per epoch otherwise."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar = None
        self.task = None

    def start(self, epochs: int, done: int) -> None:
        if self.quiet or not err.is_terminal:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("training"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=err.real(),
            transient=True,
        )
        self.bar.start()
        self.task = self.bar.add_task("train", total=epochs, completed=done, info="")

    def epoch(self, stats) -> None:
        info = f"loss {stats.loss:.4f}  {_fmt(stats.val)}  best epoch {stats.best_epoch}"
        if self.bar is not None:
            self.bar.update(self.task, advance=1, info=info)
        elif not self.quiet:
            note(f"epoch {stats.epoch}: {info}")

    def skip(self, path: str, reason: str) -> None:
        note(f"skipping {path}: {reason}")

    def note(self, message: str) -> None:
        if not self.quiet:
            if self.bar is not None:
                self.bar.console.print(visible(message), markup=False, highlight=False)
            else:
                note(message)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def train_command(
    name: str = typer.Option(..., "--name", help="Name of the new model bundle (in the data folder)."),
    pairs: Path = typer.Option(None, "--pairs", help="JSONL or CSV: `audio` path + `text` caption or `tags` list."),
    from_library: bool = typer.Option(
        False, "--from-library", help="Learn from the genre, mood, grouping and comment tags in your files."
    ),
    loss: str = typer.Option("infonce", "--loss", help="infonce (symmetric, learnable temperature) or triplet."),
    margin: float = typer.Option(0.2, "--margin", min=0.0, help="Triplet margin δ."),
    epochs: int = typer.Option(30, "--epochs", min=1, help="Most epochs to train (early stopping may end sooner)."),
    batch_size: int = typer.Option(64, "--batch-size", min=2, help="Pairs per batch (all in-batch negatives)."),
    lr: float = typer.Option(1e-3, "--lr", min=0.0, help="Learning rate (AdamW)."),
    weight_decay: float = typer.Option(1e-2, "--weight-decay", min=0.0, help="AdamW weight decay."),
    seed: int = typer.Option(
        0, "--seed", help="Seed of the split, caption variants and training (deterministic on CPU)."
    ),
    device: str = typer.Option("auto", "--device", callback=check_device, help="auto, cpu or cuda."),
    val_fraction: float = typer.Option(0.2, "--val-fraction", min=0.0, max=0.9, help="Share of files held out."),
    patience: int = typer.Option(
        10, "--patience", min=1, help="Stop after this many epochs without a better val R@10."
    ),
    hidden: int = typer.Option(
        0, "--hidden", min=0, help="Add a residual MLP with this many hidden units (0: linear)."
    ),
    text_dropout: float = typer.Option(
        0.3, "--text-dropout", min=0.0, max=0.9, help="Chance of dropping each tag or word from a caption variant."
    ),
    train_text_adapter: bool = typer.Option(
        False, "--train-text-adapter", help="Also train a small residual adapter on the text side."
    ),
    base: str = typer.Option(
        None, "--base", help="Built-in bundle whose features to project (default: musicnn-minilm)."
    ),
    resume: bool = typer.Option(False, "--resume", help="Carry on from the last checkpoint of --name."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or notes."),
) -> None:
    """Fine-tune the joint audio-text space on your own captions or tags (needs PyTorch)."""
    from musictext.train.trainer import TrainConfig, train

    config = TrainConfig(
        name=name,
        pairs=str(pairs) if pairs else None,
        from_library=from_library,
        base=base,
        loss=loss,
        margin=margin,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        seed=seed,
        device=device,
        val_fraction=val_fraction,
        patience=patience,
        hidden=hidden,
        text_dropout=text_dropout,
        text_adapter=train_text_adapter,
        resume=resume,
    )
    progress = RichTrainProgress(quiet)
    try:
        report = train(config, progress)
    finally:
        progress.stop()
    for line in report.notes:
        note(line)
    for line in report.warnings:
        warn(line)
    if as_json:
        emit_json(report.as_json())
        return
    r = report
    note(
        f"trained {r.name} ({r.model_id}) on {r.pairs} pairs in {r.seconds:.1f} s: best epoch {r.best_epoch}"
        f" of {r.epochs_run}; {_before_after(r.zero_shot, r.trained)}"
    )
    for line in blend_lines(r):
        note(line)
    if r.projected is not None:
        note(f'library re-projected ({r.projected} tracks): musictext search --model {r.name} "..."')
    else:
        note(f"next: musictext index --model {r.name} PATH")
    emit_line(visible(r.path))
