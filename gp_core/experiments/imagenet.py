"""Figures 4 and 10: residual GANs scored along training, and GAN-0-GP's samples.

The paper trains GAN-0-GP, GAN-0-GP-sample and WGAN-GP on 128 px ImageNet
with the code of Mescheder et al. (2018) and plots the Inception score
against generator iterations (Figure 4). Figure 10 shows GAN-0-GP's samples.

* ``paper``: 128 px colour images from ``data_folder`` (one sub-folder per
  class), the ImageNet networks of Mescheder et al. and the Inception-v3
  score from the weights file ``inception_weights``. Meant for GPUs; several
  GPUs through ``torchrun`` and this module's command line.
* ``quick`` and ``smoke``: the embedded 28 px MNIST digits, small networks of
  the same layout, and the Inception score computed with the book's digit
  classifier in place of Inception-v3, for a CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from .. import run_cache
from ..classifier import class_probabilities, load_or_train_classifier
from ..image_gan import (
    METHODS,
    ImageData,
    ImageGanConfig,
    ImageGanDiverged,
    ImageGanRun,
    TensorImages,
    generate,
    train_image_gan,
)
from ..mnist import load_subset
from ..resnet import ResnetShape
from ..scores import inception_score
from ..train import resolve_device
from .common import check_scale, check_seeds, mean_std, sample_std, seed_verdict

__all__ = [
    "FIGURE4_METHODS",
    "ImageSettings",
    "image_settings",
    "Scorer",
    "ImageRecord",
    "ImageResult",
    "load_image_data",
    "run_image_gans",
    "rerun_image_gan",
    "plot_score_curves",
    "score_table",
    "score_findings",
    "plot_sample_grid",
    "main",
]

FIGURE4_METHODS = ("GAN-0-GP", "GAN-0-GP-sample", "WGAN-GP")
IMAGE_FIGURES = (4, 10)


@dataclass(frozen=True)
class ImageSettings:
    """Settings of Figure 4 or 10 at one scale.

    Attributes:
        scale: ``"smoke"``, ``"quick"`` or ``"paper"``.
        figure: 4 or 10.
        methods: the methods trained, keys of ``gp_core.image_gan.METHODS``.
        size, channels: image size in pixels and colour channels.
        nf, nf_max: filters at full resolution and at most (64 and 1,024 for ImageNet).
        z_dim, embed_size: lengths of z and of G's class embedding (256 and 256).
        batch_size: images per D step (128).
        iterations: generator steps per run (300,000 at ``paper``, our choice,
            because neither the caption nor Mescheder et al.'s ImageNet
            configuration sets a length).
        eval_every: generator steps between scores (10,000 in Mescheder et al.'s ImageNet setup).
        eval_samples: images generated per score.
        score_splits: parts the scored images are cut into, whose scores are averaged.
        seeds: seeds per method.
        lam, lr_g, lr_d, betas: λ (10 for every method), the TTUR learning
            rates (1e-4 for G, 3e-4 for D) and Adam's betas (0, 0.99).
        ema_beta: weight of the old average in G's moving average (0.999).
        grid: Figure 10 shows ``grid × grid`` samples.
        data_folder: a class-labelled image folder; None uses the embedded
            digits, which only ``smoke`` and ``quick`` accept.
        inception_weights: an Inception-v3 file for ``gp_core.inception.load_inception``;
            needed when the data are not the embedded digits.
        checkpoint_dir: a folder for each run's checkpoint, or None.
    """

    scale: str
    figure: int
    methods: tuple[str, ...] = FIGURE4_METHODS
    size: int = 128
    channels: int = 3
    nf: int = 64
    nf_max: int = 1024
    z_dim: int = 256
    embed_size: int = 256
    batch_size: int = 128
    iterations: int = 300_000
    eval_every: int = 10_000
    eval_samples: int = 50_000
    score_splits: int = 10
    seeds: int = 1
    lam: float = 10.0
    lr_g: float = 1e-4
    lr_d: float = 3e-4
    betas: tuple[float, float] = (0.0, 0.99)
    ema_beta: float = 0.999
    grid: int = 8
    data_folder: str | None = None
    inception_weights: str | None = None
    checkpoint_dir: str | None = None

    def __post_init__(self) -> None:
        check_scale(self.scale)
        check_seeds(self.seeds)
        if self.figure not in IMAGE_FIGURES:
            raise ValueError(f"unknown figure {self.figure!r}; choose one of {list(IMAGE_FIGURES)}")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise ValueError(f"unknown methods {unknown}; choose from {list(METHODS)}")

    def shape(self, n_classes: int) -> ResnetShape:
        return ResnetShape(
            size=self.size, channels=self.channels, nf=self.nf, nf_max=self.nf_max,
            z_dim=self.z_dim, n_classes=n_classes, embed_size=self.embed_size,
        )

    def config(self, method: str, seed: int, n_classes: int, device: str) -> ImageGanConfig:
        return ImageGanConfig(
            method=method, shape=self.shape(n_classes), batch_size=self.batch_size, iterations=self.iterations,
            lam=self.lam, lr_g=self.lr_g, lr_d=self.lr_d, betas=self.betas, ema_beta=self.ema_beta,
            eval_every=self.eval_every, eval_samples=self.eval_samples, seed=seed, device=device,
            checkpoint_every=self.eval_every if self.checkpoint_dir else 0,
        )


def image_settings(
    figure: int,
    scale: str,
    data_folder: str | None = None,
    inception_weights: str | None = None,
    checkpoint_dir: str | None = None,
) -> ImageSettings:
    """Return the settings of Figure 4 or 10 at ``scale``.

    ``quick`` is sized to finish each notebook in under 10 minutes on 2 CPU
    cores. Figure 4 trains two seeds of the three methods for 800 generator
    steps with batches of 16. In a one-off comparison on 2 CPU cores (not in
    the tests), a GAN-0-GP run with batches of 16 reached a digit score of
    4.6 after 1,000 steps in 41 s, and one with batches of 32 reached 4.8 in
    81 s. Figure 10 trains one GAN-0-GP run for 2,500 steps with batches of
    32. The moving average uses β = 0.99, because with 0.999 a run this
    short would still carry 45% of its initial weights (0.999⁸⁰⁰ ≈ 0.45).
    """
    check_scale(scale)
    if figure not in IMAGE_FIGURES:
        raise ValueError(f"unknown figure {figure!r}; choose one of {list(IMAGE_FIGURES)}")
    methods = FIGURE4_METHODS if figure == 4 else ("GAN-0-GP",)
    common = dict(
        scale=scale, figure=figure, methods=methods, data_folder=data_folder,
        inception_weights=inception_weights, checkpoint_dir=checkpoint_dir,
    )
    digits = dict(size=28, channels=1, score_splits=1)
    if scale == "smoke":
        return ImageSettings(
            **common, **digits, nf=4, nf_max=8, z_dim=16, embed_size=8, batch_size=8,
            iterations=4, eval_every=2, eval_samples=100, seeds=2, ema_beta=0.9,
        )
    if scale == "quick":
        if figure == 4:
            length = dict(batch_size=16, iterations=800, eval_every=100, seeds=2)
        else:
            length = dict(batch_size=32, iterations=2_500, eval_every=250, seeds=1)
        return ImageSettings(
            **common, **digits, nf=8, nf_max=32, z_dim=64, embed_size=32, eval_samples=1_000, ema_beta=0.99, **length,
        )
    return ImageSettings(**common, seeds=1)


@dataclass(frozen=True)
class Scorer:
    """The Inception score of the book's chosen classifier.

    Attributes:
        name: what the score is called on the page.
        probabilities: images ``(n, channels, size, size)`` in [−1, 1] to class probabilities.
        splits: parts whose scores are averaged.
        note: one sentence about the classifier, for the page.
    """

    name: str
    probabilities: Callable[[torch.Tensor], torch.Tensor]
    splits: int
    note: str

    def __call__(self, images: torch.Tensor) -> float:
        return inception_score(self.probabilities(images), splits=min(self.splits, len(images)))


def _digit_scorer() -> tuple[TensorImages, Scorer]:
    split = load_subset()
    classifier = load_or_train_classifier(split)
    images = split.train_images.view(-1, 1, 28, 28) * 2 - 1

    def probabilities(generated: torch.Tensor) -> torch.Tensor:
        pixels = ((generated.clamp(-1, 1) + 1) / 2).reshape(len(generated), 784)
        return class_probabilities(classifier.model, pixels)

    note = (
        f"The digit classifier, trained on the {len(images):,} training digits, classifies "
        f"{classifier.heldout_accuracy:.1%} of the held-out digits correctly."
    )
    return TensorImages(images, split.train_labels), Scorer("digit classifier score", probabilities, 1, note)


def load_image_data(settings: ImageSettings, device: str = "cpu") -> tuple[ImageData, int, Scorer]:
    """Return the real images, their class count and the scorer of ``settings``.

    Raises:
        ValueError: ``paper`` scale without ``data_folder``, an image folder
            with ``channels`` other than 3 or without ``inception_weights``,
            or a size other than the embedded digits' without ``data_folder``.
    """
    if settings.data_folder is None:
        if settings.scale == "paper":
            raise ValueError(
                "scale 'paper' trains on ImageNet, but data_folder is None; set data_folder to an image folder "
                "with one sub-folder per class (e.g. ImageNet's train folder), or use scale 'quick' for the embedded digits"
            )
        if (settings.size, settings.channels) != (28, 1):
            raise ValueError(
                f"the embedded digits are 28 × 28 × 1, but the settings ask for {settings.size} × {settings.size} × "
                f"{settings.channels}; set data_folder to an image folder for other sizes"
            )
        data, scorer = _digit_scorer()
        return data, 10, scorer

    from ..images import ImageFolder
    from ..inception import load_inception

    folder = ImageFolder(settings.data_folder, settings.size, settings.channels, workers=os.cpu_count() or 1)
    if settings.channels != 3:
        raise ValueError("the Inception network scores colour images; set channels to 3 with an image folder")
    inception = load_inception(settings.inception_weights, device=device)
    note = f"Inception-v3 from {settings.inception_weights} ({inception.source})."
    return folder, len(folder.classes), Scorer("Inception score", inception, settings.score_splits, note)


@dataclass
class ImageRecord:
    """One trained run of Figure 4 or 10.

    Attributes:
        method: a key of ``METHODS``.
        seed: the run's seed.
        run: the run, finished or stopped by divergence.
        diverged: the divergence message, or None.
    """

    method: str
    seed: int
    run: ImageGanRun
    diverged: str | None = None


@dataclass
class ImageResult:
    """Every run of a figure, with the score of real images as the reference.

    Attributes:
        settings: the figure's settings.
        records: one per method and seed, in the order trained.
        scorer: the score used.
        real_score: the score of ``eval_samples`` real training images.
        wall_time_s: seconds for the whole figure, loading included.
        n_classes: the data's class count, the score's maximum.
    """

    settings: ImageSettings
    records: list[ImageRecord]
    scorer: Scorer
    real_score: float
    wall_time_s: float = 0.0
    n_classes: int = 10

    def of(self, method: str) -> list[ImageRecord]:
        return [r for r in self.records if r.method == method]


def _real_score(data: ImageData, scorer: Scorer, n: int, seed: int) -> float:
    rng = torch.Generator().manual_seed(seed)
    indices = torch.randperm(len(data), generator=rng)[:n]
    images, _ = data.batch(indices)
    return scorer(images)


def _checkpoint_folder(settings: ImageSettings, method: str, seed: int) -> Path | None:
    if settings.checkpoint_dir is None:
        return None
    return Path(settings.checkpoint_dir) / f"figure{settings.figure}-{settings.scale}-{method}-seed{seed}"


def _data_key(data: ImageData) -> object:
    if isinstance(data, TensorImages):
        return {"images": data.images, "labels": data.labels}
    return {"folder": str(getattr(data, "root", "")), "images": len(data), "classes": list(getattr(data, "classes", []))}


def _train(config: ImageGanConfig, data: ImageData, scorer: Scorer, folder: Path | None, progress: bool) -> ImageRecord:
    """Train one run; without a checkpoint folder, load it from the run cache or store it there."""
    if folder is not None:
        return _train_now(config, data, scorer, folder, progress)
    record, _ = run_cache.cached(
        "train_image_gan", lambda: _train_now(config, data, scorer, None, progress),
        config=config, data=_data_key(data), scorer=[scorer.name, scorer.note, scorer.splits],
        device=resolve_device(config.device).type,
    )
    return record


def _train_now(config: ImageGanConfig, data: ImageData, scorer: Scorer, folder: Path | None, progress: bool) -> ImageRecord:
    try:
        run = train_image_gan(config, data, score=scorer, checkpoint_dir=folder, progress=progress)
        return ImageRecord(config.method, config.seed, run)
    except ImageGanDiverged as error:
        return ImageRecord(config.method, config.seed, error.run, diverged=str(error))


def run_image_gans(settings: ImageSettings, seed: int = 0, device: str = "auto", progress: bool = False) -> ImageResult:
    """Train every method of ``settings`` with seeds ``seed``, ``seed + 1``, …, scoring each along the way.

    A run that diverges keeps the scores it reached and the others go on.
    Prints one line per run.
    """
    started = time.perf_counter()
    data, n_classes, scorer = load_image_data(settings, device=str(resolve_device(device)))
    records = []
    for method in settings.methods:
        for s in range(seed, seed + settings.seeds):
            config = settings.config(method, s, n_classes, device)
            record = _train(config, data, scorer, _checkpoint_folder(settings, method, s), progress)
            run = record.run
            last = f"{run.evaluations[-1].score:.2f}" if run.evaluations else "none"
            resumed = f", resumed from step {run.resumed_from:,}" if run.resumed_from is not None else ""
            print(
                f"{method}, seed {s}: {run.iterations_done:,} G steps in {run.wall_time_s:.1f} s{resumed}; "
                f"last {scorer.name} {last}" + (" (diverged)" if record.diverged else "")
            )
            records.append(record)
    real = _real_score(data, scorer, settings.eval_samples, seed)
    return ImageResult(settings, records, scorer, real, time.perf_counter() - started, n_classes)


def rerun_image_gan(settings: ImageSettings, method: str, seed: int = 0, device: str = "auto", **changes: object) -> tuple[ImageRecord, Scorer]:
    """Train one run of ``method`` with ``changes`` to its ImageGanConfig fields (the widgets' entry point)."""
    data, n_classes, scorer = load_image_data(settings, device=str(resolve_device(device)))
    config = settings.config(method, seed, n_classes, device).replace(checkpoint_every=0, **changes)
    return _train(config, data, scorer, None, progress=False), scorer


# -- figures and tables


def _curves(records: Sequence[ImageRecord]) -> tuple[np.ndarray, np.ndarray]:
    """Return the evaluation iterations shared by every run and a (runs, iterations) score array, NaN where missing."""
    iterations = sorted({e.iteration for r in records for e in r.run.evaluations})
    scores = np.full((len(records), len(iterations)), np.nan)
    for row, record in enumerate(records):
        for e in record.run.evaluations:
            scores[row, iterations.index(e.iteration)] = e.score
    return np.array(iterations), scores


def plot_score_curves(result: ImageResult) -> Figure:
    """Draw each method's score against generator steps: the mean over seeds, each seed thin, and real images dashed."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    colours = {"GAN-0-GP": "tab:blue", "GAN-0-GP-sample": "tab:orange", "WGAN-GP": "tab:green", "GAN": "tab:gray"}
    for method in result.settings.methods:
        iterations, scores = _curves(result.of(method))
        colour = colours.get(method)
        for row in scores:
            ax.plot(iterations, row, color=colour, alpha=0.3, linewidth=0.8)
        with np.errstate(all="ignore"):
            mean = np.nanmean(scores, axis=0)
        ax.plot(iterations, mean, color=colour, linewidth=2, marker="o", markersize=3, label=f"{method} (mean of {len(scores)})")
    ax.axhline(result.real_score, color="black", linestyle="--", linewidth=1, label="real images")
    ax.set_xlabel("generator iterations")
    ax.set_ylabel(result.scorer.name)
    ax.set_title(f"Figure {result.settings.figure} at scale {result.settings.scale}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def _final_scores(records: Sequence[ImageRecord]) -> np.ndarray:
    """Return each run's last score, NaN for a run that diverged."""
    return np.array([r.run.evaluations[-1].score if r.run.evaluations and not r.diverged else np.nan for r in records])


def score_table(result: ImageResult) -> str:
    """Return a Markdown table of each method's final and best scores over seeds, with its training time."""
    settings = result.settings
    rows = [
        f"| method | {result.scorer.name} at {settings.iterations:,} (mean ± std) | per seed | best along the run | training time per run (s) |",
        "|---|---|---|---|---|",
    ]
    for method in settings.methods:
        records = result.of(method)
        final = _final_scores(records)
        best = [max(e.score for e in r.run.evaluations) for r in records if r.run.evaluations]
        per_seed = ", ".join("diverged" if np.isnan(v) else f"{v:.2f}" for v in final)
        times = [r.run.wall_time_s for r in records]
        rows.append(
            f"| {method} | {mean_std(final, 2)} | {per_seed} | {mean_std(best, 2)} | {mean_std(times, 1)} |"
        )
    rows.append(f"| real training images | {result.real_score:.2f} | – | – | – |")
    return "\n".join(rows) + (
        f"\n\nScores of {settings.eval_samples:,} images from G's moving average, generated from fixed z with the "
        f"classes in turn. {result.scorer.note} A score of 1 means every image gets the same class distribution; "
        f"the maximum is the class count, {result.n_classes}."
    )


def score_findings(result: ImageResult) -> str:
    """Compare GAN-0-GP's final score with each other method's, seed by seed, at two decimals (a tie does not count)."""
    ours = np.round(_final_scores(result.of("GAN-0-GP")), 2)
    lines = []
    for other in result.settings.methods:
        if other == "GAN-0-GP":
            continue
        theirs = np.round(_final_scores(result.of(other)), 2)
        n = min(len(ours), len(theirs))
        wins = int(sum(1 for a, b in zip(ours[:n], theirs[:n]) if np.isfinite(a) and (np.isnan(b) or a > b)))
        gap = float(np.nanmean(ours[:n]) - np.nanmean(theirs[:n])) if n else float("nan")
        lines.append(
            f"- GAN-0-GP ends with a higher {result.scorer.name} than {other} "
            f"(mean difference {gap:+.2f}): {seed_verdict(wins, n)}."
        )
    for method in result.settings.methods:
        iterations, scores = _curves(result.of(method))
        if scores.shape[1] >= 2:
            rises = int(np.sum(scores[:, -1] > scores[:, 0]))
            lines.append(
                f"- {method}'s score rises from step 0 to step {iterations[-1]:,} "
                f"({np.nanmean(scores[:, 0]):.2f} to {np.nanmean(scores[:, -1]):.2f} on average): {seed_verdict(rises, len(scores))}."
            )
    diverged = [f"{r.method} (seed {r.seed})" for r in result.records if r.diverged]
    if diverged:
        lines.append(f"- Diverged: {', '.join(diverged)}; their curves stop at the last finite step.")
    spread = [sample_std(_final_scores(result.of(m))) for m in result.settings.methods]
    if all(np.isfinite(spread)):
        lines.append(f"- The seed-to-seed standard deviation of the final score is {min(spread):.2f} to {max(spread):.2f}.")
    return "\n".join(lines)


def plot_sample_grid(record: ImageRecord, settings: ImageSettings, n_classes: int, title: str) -> Figure:
    """Draw a ``grid × grid`` array of G's moving-average samples: one class per row when G is conditional, one z per column."""
    generator = record.run.generator
    grid = settings.grid
    rng = torch.Generator().manual_seed(record.seed)
    z = torch.randn(grid, generator.shape.z_dim, generator=rng).repeat(grid, 1)
    labels = None
    if generator.shape.conditional:
        rows = torch.arange(grid) % n_classes
        labels = rows.repeat_interleave(grid)
    device = next(generator.parameters()).device
    with torch.no_grad():
        images = generator(z.to(device), None if labels is None else labels.to(device)).cpu()
    images = ((images.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy()
    size, channels = settings.size, settings.channels
    tiled = images.reshape(grid, grid, size, size, channels).transpose(0, 2, 1, 3, 4).reshape(grid * size, grid * size, channels)
    fig, ax = plt.subplots(figsize=(6.0, 6.3))
    ax.imshow(tiled[..., 0] if channels == 1 else tiled, cmap="gray" if channels == 1 else None, vmin=0, vmax=1)
    ax.set_xticks([])
    if labels is not None:
        ax.set_yticks([size * (r + 0.5) for r in range(grid)], [f"class {int(c)}" for c in torch.arange(grid) % n_classes])
    else:
        ax.set_yticks([])
    ax.set_title(title)
    return fig


# -- command line, for torchrun


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gp_core.experiments.imagenet",
        description=(
            "Train one run of Figure 4 or 10 and write its checkpoint, which the notebook with the same "
            "checkpoint_dir then reads instead of training. Start it with torchrun for several processes, e.g. "
            "torchrun --nproc_per_node 8 -m gp_core.experiments.imagenet --data-folder /data/imagenet/train ..."
        ),
    )
    parser.add_argument("--figure", type=int, default=4, choices=IMAGE_FIGURES, help="figure whose settings to use")
    parser.add_argument("--scale", default="paper", help="smoke, quick or paper")
    parser.add_argument("--method", default="GAN-0-GP", choices=list(METHODS), help="the GAN to train")
    parser.add_argument("--seed", type=int, default=0, help="seed of the run")
    parser.add_argument("--data-folder", default=None, help="image folder with one sub-folder per class")
    parser.add_argument("--inception-weights", default=None, help="Inception-v3 file (see gp_core.inception)")
    parser.add_argument(
        "--checkpoint-dir", required=True,
        help="parent folder; the run's checkpoint goes in its sub-folder figureF-SCALE-METHOD-seedN, which the "
        "notebook with the same checkpoint_dir, figure, scale and seed reads",
    )
    parser.add_argument("--iterations", type=int, default=None, help="generator steps; default: the scale's")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    return parser


def _process_device(device: str) -> torch.device:
    """Return this process's device: under torchrun, the GPU numbered LOCAL_RANK when CUDA is chosen."""
    resolved = resolve_device(device)
    if resolved.type == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return resolved


def main(argv: Sequence[str] | None = None) -> ImageRecord:
    """Train one run from the command line, in one process or in each process that torchrun starts."""
    import torch.distributed as dist

    args = _parser().parse_args(argv)
    settings = image_settings(args.figure, args.scale, args.data_folder, args.inception_weights, args.checkpoint_dir)
    if args.iterations is not None:
        settings = dataclasses.replace(settings, iterations=args.iterations)
    distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
    if distributed:
        use_cuda = _process_device(args.device).type == "cuda"
        if use_cuda:
            # NOTE: no test runs the NCCL backend, because the tests have no GPU;
            # tests/test_image_gan.py runs two gloo processes on the CPU.
            torch.cuda.set_device(_process_device(args.device))
        dist.init_process_group("nccl" if use_cuda else "gloo")
    try:
        data, n_classes, scorer = load_image_data(settings, device=str(_process_device(args.device)))
        config = settings.config(args.method, args.seed, n_classes, args.device)
        record = _train(config, data, scorer, _checkpoint_folder(settings, args.method, args.seed), progress=True)
        if not distributed or dist.get_rank() == 0:
            scores = ", ".join(f"{e.iteration}: {e.score:.2f}" for e in record.run.evaluations)
            print(f"{args.method}, seed {args.seed}: {record.run.iterations_done} G steps; {scorer.name} {scores}")
            if record.diverged:
                print(record.diverged)
        return record
    finally:
        if distributed:
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
