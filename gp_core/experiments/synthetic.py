"""GANs on 2-D targets (Figures 2, 5 and 6): targets, runs over seeds, and their measures.

A figure lists its runs as ``RunSpec`` objects (a method and a setting),
and ``train_runs`` trains every run with every seed. Runs that can share an
ensemble (see ``gp_core.ensemble``) are trained together, which is several
times faster on a CPU than one run after another. ``batched=False`` trains
them one by one with ``train_gan`` and gives the same results up to float
rounding. Every snapshot of every run is then measured against real points
drawn from a seed of its own, so all runs of one seed face the same points.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import torch
from matplotlib.axes import Axes

from .. import data, run_cache
from ..ensemble import SHARED_FIELDS, Member, train_gan_ensemble
from ..metrics import ModeCoverage, mode_coverage, sliced_wasserstein
from ..models import make_discriminator, make_generator
from ..plots import Limits, plot_gradient_field
from ..train import NonFiniteError, TrainConfig, TrainResult, resolve_device, seeded, train_gan
from .common import mean_std, sample_std

__all__ = [
    "Target",
    "RunSpec",
    "RunRecord",
    "DistanceNoise",
    "distance_noise",
    "train_runs",
    "train_one",
    "train_specs",
    "ModelShape",
    "summarise",
    "evaluate",
    "records_of",
    "plot_record",
]

_TARGET_LABELS = {"8gaussians": "8 Gaussians", "25gaussians": "25 Gaussians", "swissroll": "swiss roll"}
# Evaluation points come from seeds far from the training seeds, so they are
# never the training draws themselves.
_EVAL_SEED_OFFSET = 10_000
_NOISE_SEED_OFFSET = 20_000


@dataclass(frozen=True)
class Target:
    """A 2-D target distribution of ``gp_core.data``.

    Attributes:
        name: a key of ``data.TARGETS``: ``"8gaussians"``, ``"25gaussians"`` or ``"swissroll"``.
        scale: the sampler's ``scale`` (the circle's radius before the 1.414
            divisor for 8 Gaussians, a multiplier otherwise).
    """

    name: str
    scale: float

    def __post_init__(self) -> None:
        if self.name not in data.TARGETS:
            raise ValueError(f"unknown target {self.name!r}; choose one of {sorted(data.TARGETS)}")
        if isinstance(self.scale, bool) or not isinstance(self.scale, (int, float)) or not 0 < self.scale < math.inf:
            raise ValueError(f"target scale must be a positive finite number, got {self.scale!r}")

    @property
    def label(self) -> str:
        return f"{_TARGET_LABELS[self.name]}, scale {self.scale:g}"

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Draw ``(n, 2)`` points."""
        return data.sample_target(self.name, n, generator, scale=self.scale)

    @property
    def centers(self) -> torch.Tensor | None:
        """Return the ``(k, 2)`` mode centres of a mixture, or None for the swiss roll."""
        if self.name == "8gaussians":
            return data.eight_gaussians_centers(self.scale)
        if self.name == "25gaussians":
            return data.twenty_five_gaussians_centers(self.scale)
        return None

    @property
    def mode_std(self) -> float | None:
        """Return the per-coordinate std of one mode in the samples' units, or None for the swiss roll."""
        if self.name == "8gaussians":
            # The noise is added before the division by 1.414 and is not scaled.
            return data.EIGHT_GAUSSIANS_STD / data.EIGHT_GAUSSIANS_DIVISOR
        if self.name == "25gaussians":
            return data.TWENTY_FIVE_GAUSSIANS_STD / data.TWENTY_FIVE_GAUSSIANS_DIVISOR * self.scale
        return None

    def coverage(self, samples: torch.Tensor) -> ModeCoverage | None:
        """Return the mode coverage of ``samples``, or None for a target without modes."""
        centers = self.centers
        return None if centers is None else mode_coverage(samples, centers, self.mode_std)


@dataclass(frozen=True)
class DistanceNoise:
    """The sliced W1 distance between independent real samples: what a perfect generator scores.

    Attributes:
        mean, std: over ``repeats`` pairs of independent real samples.
        n: points per sample.
        repeats: pairs drawn.
    """

    mean: float
    std: float
    n: int
    repeats: int

    def __str__(self) -> str:
        return f"{self.mean:.3f} ± {self.std:.3f}"


def distance_noise(target: Target, n: int, repeats: int = 5, seed: int = 0) -> DistanceNoise:
    """Measure the sliced W1 estimator's floor and noise: pairs of ``n`` real points each."""
    rng = torch.Generator().manual_seed(_NOISE_SEED_OFFSET + seed)
    values = [sliced_wasserstein(target.sample(n, rng), target.sample(n, rng)) for _ in range(repeats)]
    return DistanceNoise(float(sum(values) / len(values)), sample_std(values), n, repeats)


@dataclass(frozen=True)
class RunSpec:
    """One method in one setting of a figure, to be trained with several seeds.

    Attributes:
        label: the method and setting as the page names them, e.g. ``"0-GP, λ = 10"``.
        config: the training settings; its ``seed`` is replaced by each run's seed.
        target: the distribution G learns.
        method: the method's name alone, for tables that group by method.
        setting: the setting's name alone, for tables that group by setting.
    """

    label: str
    config: TrainConfig
    target: Target
    method: str = ""
    setting: str = ""


@dataclass
class RunRecord:
    """One trained run (a spec and a seed) and the measures of its snapshots.

    Attributes:
        spec, seed: what was trained.
        train: the TrainResult, partial when the run diverged.
        diverged: the NonFiniteError's message, or None.
        x_real: real points the snapshots are measured against.
        samples: generated points per snapshot iteration, from z fixed by the seed.
        distance: sliced W1 from ``samples`` to ``x_real`` per snapshot iteration.
        coverage: mode coverage per snapshot iteration (mixtures only).
    """

    spec: RunSpec
    seed: int
    train: TrainResult
    diverged: str | None
    x_real: torch.Tensor
    samples: dict[int, torch.Tensor] = field(default_factory=dict)
    distance: dict[int, float] = field(default_factory=dict)
    coverage: dict[int, ModeCoverage] = field(default_factory=dict)

    def distance_at(self, iteration: int) -> float:
        """Return the distance at ``iteration``, or NaN when the run diverged before it."""
        return self.distance.get(iteration, float("nan"))


def evaluate(spec: RunSpec, seed: int, train: TrainResult, diverged: str | None, n_eval: int) -> RunRecord:
    """Measure every snapshot of a trained run on ``n_eval`` points of its target."""
    rng = torch.Generator().manual_seed(_EVAL_SEED_OFFSET + seed)
    x_real = spec.target.sample(n_eval, rng)
    z = torch.randn(n_eval, 2, generator=rng)
    record = RunRecord(spec, seed, train, diverged, x_real)
    for iteration, snapshot in sorted(train.snapshots.items()):
        with torch.no_grad():
            samples = snapshot.generator(z)
        record.samples[iteration] = samples
        record.distance[iteration] = sliced_wasserstein(samples, x_real)
        coverage = spec.target.coverage(samples)
        if coverage is not None:
            record.coverage[iteration] = coverage
    return record


def _group_key(config: TrainConfig) -> tuple:
    return tuple(getattr(config, name) for name in SHARED_FIELDS)


@dataclass(frozen=True)
class ModelShape:
    """Sizes of the MLPs G and D of a figure.

    Attributes:
        width: hidden units per layer.
        depth: hidden layers.
        noise_dim: size of z ~ N(0, I).
        data_dim: size of one sample (2 for the synthetic targets, 784 for MNIST digits).
    """

    width: int
    depth: int = 2
    noise_dim: int = 2
    data_dim: int = 2


def _run_key(spec: RunSpec, seed: int, shape: ModelShape) -> str:
    config = spec.config.replace(seed=seed)
    # The label names the run on the page and does not change its numbers.
    return run_cache.run_key("train_gan", config=config, target=spec.target, shape=shape, device=resolve_device(config.device).type)


def train_one(spec: RunSpec, seed: int, shape: ModelShape, progress: bool = True) -> tuple[TrainResult, str | None]:
    """Train one run with ``train_gan``, or load it from the run cache; return its TrainResult and the divergence message, or None."""
    key = _run_key(spec, seed, shape)
    stored = run_cache.load("train_gan", key)
    if stored is not None:
        return stored
    trained = _train_one(spec, seed, shape, progress)
    run_cache.store("train_gan", key, trained)
    return trained


def _train_one(spec: RunSpec, seed: int, shape: ModelShape, progress: bool) -> tuple[TrainResult, str | None]:
    config = spec.config.replace(seed=seed)
    with seeded(seed):
        generator_net = make_generator(shape.noise_dim, shape.data_dim, shape.width, shape.depth)
        discriminator = make_discriminator(shape.data_dim, shape.width, shape.depth)
    try:
        return train_gan(generator_net, discriminator, spec.target.sample, config, shape.noise_dim, progress, spec.label), None
    except NonFiniteError as error:
        return error.result, str(error)


def train_specs(
    specs: Sequence[RunSpec], seeds: Sequence[int], shape: ModelShape, batched: bool = True, progress: bool = False
) -> list[tuple[TrainResult, str | None]]:
    """Train every spec with every seed; return (TrainResult, divergence message or None) per pair.

    The pairs are ordered specs first, then seeds within each spec. Runs
    found in the run cache (``gp_core.run_cache``) are loaded, and the others
    are trained and stored. Runs whose configs agree on
    ``gp_core.ensemble.SHARED_FIELDS`` are trained as one ensemble when
    ``batched``. A cached run may have been trained alone or in an ensemble
    of other runs; both give the same numbers up to float rounding. One line per ensemble (or per run) is
    printed when it finishes.
    """
    pairs = [(spec, seed) for spec in specs for seed in seeds]
    keys = [_run_key(spec, seed, shape) for spec, seed in pairs]
    trained: dict[int, tuple[TrainResult, str | None]] = {}
    for index, key in enumerate(keys):
        stored = run_cache.load("train_gan", key)
        if stored is not None:
            trained[index] = stored
    if trained:
        seconds = sum(train.wall_time_s for train, _ in trained.values())
        print(f"{len(trained)} of {len(pairs)} runs loaded from the run cache (they took {seconds:.1f} s to train)")
    missing = [index for index in range(len(pairs)) if index not in trained]

    if not batched:
        for index in missing:
            spec, seed = pairs[index]
            start = time.perf_counter()
            trained[index] = _train_one(spec, seed, shape, progress)
            run_cache.store("train_gan", keys[index], trained[index])
            print(f"{spec.label}, seed {seed}: {time.perf_counter() - start:.1f} s")
            if trained[index][1] is not None:
                print(f"  {trained[index][1]}")
        return [trained[i] for i in range(len(pairs))]

    groups: dict[tuple, list[int]] = {}
    for index in missing:
        groups.setdefault(_group_key(pairs[index][0].config), []).append(index)
    for indices in groups.values():
        members = [Member(pairs[i][0].config.replace(seed=pairs[i][1]), pairs[i][0].target.sample, pairs[i][0].label) for i in indices]
        ensemble = train_gan_ensemble(
            members, shape.noise_dim, shape.data_dim, shape.width, shape.depth, progress=progress
        )
        labels = sorted({pairs[i][0].label for i in indices}, key=[p[0].label for p in pairs].index)
        iterations = members[0].config.iterations
        rate = iterations * len(members) / ensemble.wall_time_s
        print(
            f"{len(members)} runs at once ({' | '.join(labels)}; seeds {', '.join(map(str, seeds))}): "
            f"{iterations:,} iterations in {ensemble.wall_time_s:.1f} s, {rate:,.0f} run-iterations/s"
        )
        for i, train, error in zip(indices, ensemble.results, ensemble.errors):
            trained[i] = (train, None if error is None else str(error))
            run_cache.store("train_gan", keys[i], trained[i])
            if error is not None:
                print(f"  {pairs[i][0].label}, seed {pairs[i][1]}: {error}")
    return [trained[i] for i in range(len(pairs))]


def train_runs(
    specs: Sequence[RunSpec],
    seeds: Sequence[int],
    width: int,
    depth: int = 2,
    n_eval: int = 2_000,
    batched: bool = True,
    progress: bool = False,
) -> list[RunRecord]:
    """Train every 2-D spec with every seed (see ``train_specs``) and measure the snapshots.

    Returns:
        One RunRecord per (spec, seed), specs in order and seeds within each.
    """
    pairs = [(spec, seed) for spec in specs for seed in seeds]
    trained = train_specs(specs, seeds, ModelShape(width, depth), batched, progress)
    return [evaluate(spec, seed, train, diverged, n_eval) for (spec, seed), (train, diverged) in zip(pairs, trained)]


def records_of(records: Sequence[RunRecord], label: str) -> list[RunRecord]:
    """Return the records of the spec labelled ``label`` in seed order; raise ValueError if there are none."""
    found = [r for r in records if r.spec.label == label]
    if not found:
        raise ValueError(f"no run labelled {label!r}; the runs are {sorted({r.spec.label for r in records})}")
    return found


def plot_record(ax: Axes, record: RunRecord, iteration: int, limits: Limits, title: str, n_points: int = 500) -> None:
    """Draw the gradient field of ∇ log D at ``iteration`` with real and generated points, or a note that the run diverged before it."""
    snapshot = record.train.snapshots.get(iteration)
    if snapshot is None:
        ax.set_title(title, fontsize=9)
        ax.text(0.5, 0.5, f"diverged before\niteration {iteration:,}", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    plot_gradient_field(
        ax, snapshot.discriminator, limits, x_real=record.x_real[:n_points], x_fake=record.samples[iteration][:n_points], title=title
    )
    ax.title.set_fontsize(9)


def summarise(records: Sequence[RunRecord], iteration: int) -> dict[str, str]:
    """Return the mean ± std over the records' seeds of each measure at ``iteration``, formatted for a table."""
    summary = {"distance": mean_std(r.distance_at(iteration) for r in records)}
    coverages = [r.coverage.get(iteration) for r in records]
    if records and records[0].spec.target.centers is not None:
        summary["modes"] = ", ".join("–" if c is None else str(c.modes_covered) for c in coverages)
        summary["high_quality"] = mean_std((float("nan") if c is None else c.high_quality_share for c in coverages), 2)
        summary["largest_share"] = mean_std((float("nan") if c is None else c.largest_mode_share for c in coverages), 2)
    return summary
