"""Figure 2: GANs on 8 Gaussians, with and without penalties and TTUR, and the gradient fields of D."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from ..plots import Limits, new_figure
from ..train import TrainConfig
from .common import check_scale, check_seeds, seed_verdict
from .synthetic import (
    DistanceNoise,
    ModelShape,
    RunRecord,
    RunSpec,
    Target,
    distance_noise,
    evaluate,
    plot_record,
    records_of,
    summarise,
    train_one,
    train_runs,
)

__all__ = [
    "Figure2Settings",
    "Figure2Run",
    "FIGURE2_RUNS",
    "figure2_settings",
    "figure2_spec",
    "run_figure2",
    "run_figure2_run",
    "plot_figure2",
    "figure2_table",
    "figure2_findings",
    "figure2_noise",
]


# Seeds the real sample whose mode coverage is the table's reference row.
_REFERENCE_SEED = 30_000


@dataclass(frozen=True)
class Figure2Settings:
    """Settings of Figure 2.

    Attributes:
        scale: ``"smoke"``, ``"quick"`` or ``"paper"``.
        width: hidden units of G and D; the caption's 512 at paper scale,
            the authors' script default of 64 at quick scale.
        depth: hidden layers of G and D (2).
        marks: the caption's three snapshot iterations (1,000, 10,000, 20,000).
        batch_size: real and fake samples per step (128).
        lr: SGD learning rate of both players without TTUR (3e-3).
        ttur_lr_g: G's learning rate under TTUR; D keeps ``lr``. The paper
            gives no value, so the 1:3 ratio of Thanh-Tung et al.'s ImageNet
            runs (lr 1e-4 for G, 3e-4 for D) is used.
        lam: λ of the penalised runs (10).
        target_scale: radius of the 8-Gaussians circle before the 1.414 divisor (10).
        n_plot_samples: generated points drawn and measured per panel.
        limits: the plotted square.
        seeds: seeds every run is trained with; the figure shows the first.
    """

    scale: str
    width: int = 512
    depth: int = 2
    marks: tuple[int, int, int] = (1_000, 10_000, 20_000)
    batch_size: int = 128
    lr: float = 3e-3
    ttur_lr_g: float = 1e-3
    lam: float = 10.0
    target_scale: float = 10.0
    n_plot_samples: int = 2_000
    limits: tuple[float, float] = (-10.0, 10.0)
    seeds: int = 3

    def __post_init__(self) -> None:
        check_scale(self.scale)
        check_seeds(self.seeds)


def figure2_settings(scale: str) -> Figure2Settings:
    """Return Figure 2's settings at ``scale``."""
    check_scale(scale)
    if scale == "smoke":
        return Figure2Settings(scale=scale, width=64, marks=(10, 100, 200), n_plot_samples=500, seeds=2)
    if scale == "quick":
        return Figure2Settings(scale=scale, width=64)
    return Figure2Settings(scale=scale)


@dataclass(frozen=True)
class Figure2Run:
    """One training run of Figure 2 and the caption's panels it supplies.

    Attributes:
        name: the method as the caption names it.
        penalty: a key of ``PENALTIES``.
        ttur: D learns at ``lr`` and G at ``ttur_lr_g``.
        panels: (letter, index into ``Figure2Settings.marks``) pairs.
    """

    name: str
    penalty: str
    ttur: bool
    panels: tuple[tuple[str, int], ...]


FIGURE2_RUNS = (
    Figure2Run("No GP", "none", False, (("a", 0), ("b", 1))),
    Figure2Run("No GP, TTUR", "none", True, (("c", 0), ("d", 1))),
    Figure2Run("0-GP, λ = 10", "0-GP", False, (("e", 1),)),
    Figure2Run("0-GP, TTUR, λ = 10", "0-GP", True, (("f", 1), ("g", 2))),
    Figure2Run("1-GP, λ = 10", "1-GP", False, (("h", 1),)),
    Figure2Run("0-GP-sample, λ = 10", "0-GP-sample", False, (("i", 1),)),
)


def figure2_spec(settings: Figure2Settings, run: Figure2Run, device: str = "auto", **overrides: object) -> RunSpec:
    """Return the RunSpec of one Figure 2 run; ``overrides`` are TrainConfig fields (for the widgets)."""
    # A run without caption panels (a reader's rerun) stops at the middle mark, 10,000 at paper scale.
    marks = [settings.marks[i] for _, i in run.panels] or [settings.marks[1]]
    config = TrainConfig(
        loss="gan",
        penalty=run.penalty,
        lam=settings.lam,
        optimizer="sgd",
        lr_d=settings.lr,
        lr_g=settings.ttur_lr_g if run.ttur else settings.lr,
        d_steps=1,
        batch_size=settings.batch_size,
        iterations=max(marks),
        log_every=max(1, max(marks) // 200),
        snapshot_at=tuple(marks),
        device=device,
    )
    return RunSpec(run.name, config.replace(**overrides), Target("8gaussians", settings.target_scale), method=run.name)


def run_figure2(
    settings: Figure2Settings, seed: int = 0, device: str = "auto", progress: bool = False, batched: bool = True
) -> list[RunRecord]:
    """Train the six runs behind the nine panels of Figure 2 with seeds ``seed`` … ``seed + seeds − 1``.

    Returns one RunRecord per (run, seed), runs in ``FIGURE2_RUNS`` order.
    """
    specs = [figure2_spec(settings, run, device) for run in FIGURE2_RUNS]
    seeds = range(seed, seed + settings.seeds)
    return train_runs(specs, seeds, settings.width, settings.depth, settings.n_plot_samples, batched, progress)


def run_figure2_run(
    settings: Figure2Settings,
    run: Figure2Run,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
    **overrides: object,
) -> RunRecord:
    """Train one GAN of Figure 2 with one seed and measure its snapshots, for the widgets.

    ``overrides`` are TrainConfig fields that replace the figure's settings
    (e.g. ``penalty``, ``lam``, ``optimizer``, ``lr_d``, ``lr_g``, ``beta1``,
    ``iterations``, ``snapshot_at``). A run that diverges keeps the
    snapshots taken before it did.
    """
    spec = figure2_spec(settings, run, device, **overrides)
    train, diverged = train_one(spec, seed, ModelShape(settings.width, settings.depth), progress)
    return evaluate(spec, seed, train, diverged, settings.n_plot_samples)


def _panels(settings: Figure2Settings) -> Iterator[tuple[str, int, Figure2Run]]:
    for run in FIGURE2_RUNS:
        for letter, mark_index in run.panels:
            yield letter, settings.marks[mark_index], run


def plot_figure2(settings: Figure2Settings, records: Sequence[RunRecord], columns: int = 3) -> Figure:
    """Draw the gradient field of ∇ log D with real (orange) and generated (blue) points, one panel per caption letter.

    Every panel shows the first seed of ``records``.
    """
    limits = Limits.square(*settings.limits)
    first_seed = records[0].seed
    panels = sorted(_panels(settings), key=lambda p: p[0])
    fig, axes = new_figure(len(panels), columns=columns, panel_size=3.4)
    for ax, (letter, iteration, run) in zip(axes, panels):
        record = next(r for r in records_of(records, run.name) if r.seed == first_seed)
        plot_record(ax, record, iteration, limits, f"({letter}) {run.name}, iter. {iteration:,}")
    fig.tight_layout()
    return fig


def figure2_noise(settings: Figure2Settings) -> DistanceNoise:
    """Return the sliced W1 floor and noise for Figure 2's target and sample size."""
    return distance_noise(Target("8gaussians", settings.target_scale), settings.n_plot_samples)


def figure2_table(settings: Figure2Settings, records: Sequence[RunRecord]) -> str:
    """Return a Markdown table of each panel's measures, mean ± std over seeds (modes covered per seed)."""
    seeds = sorted({r.seed for r in records})
    rows = [
        "| panel | method | iteration | sliced W1 to real | modes covered (of 8), per seed | high-quality share "
        "| largest share with one nearest centre |",
        "|---|---|---|---|---|---|---|",
    ]
    for letter, iteration, run in sorted(_panels(settings), key=lambda p: p[0]):
        summary = summarise(records_of(records, run.name), iteration)
        rows.append(
            f"| ({letter}) | {run.name} | {iteration:,} | {summary['distance']} | {summary['modes']} | "
            f"{summary['high_quality']} | {summary['largest_share']} |"
        )
    target = Target("8gaussians", settings.target_scale)
    noise = figure2_noise(settings)
    reference = target.coverage(target.sample(settings.n_plot_samples, torch.Generator().manual_seed(_REFERENCE_SEED)))
    rows.append(
        f"| – | a second real sample | – | {noise} | {reference.modes_covered} | "
        f"{reference.high_quality_share:.2f} | {reference.largest_mode_share:.2f} |"
    )
    rows.append("")
    rows.append(
        f"Mean ± sample standard deviation over seeds {', '.join(map(str, seeds))}; a diverged run is counted, "
        f"not averaged. The last row measures real points against real points ({noise.repeats} pairs of "
        f"{noise.n:,}): the estimator's floor and noise."
    )
    return "\n".join(rows)


def figure2_findings(settings: Figure2Settings, records: Sequence[RunRecord]) -> str:
    """Return Markdown that checks Thanh-Tung et al.'s claims for Figure 2, seed by seed.

    The first line checks mode coverage, the claim of the paper's caption. The others
    compare 0-GP with each other method by the sliced W1 distance, which
    measures which generator ended closer to the target but not whether it
    found the modes.
    """
    panels = {letter: (iteration, run) for letter, iteration, run in _panels(settings)}
    seeds = sorted({r.seed for r in records})

    def per_seed(letter: str, measure) -> np.ndarray:
        iteration, run = panels[letter]
        return np.array([measure(r, iteration) for r in records_of(records, run.name)])

    def modes(record: RunRecord, iteration: int) -> int:
        coverage = record.coverage.get(iteration)
        return 0 if coverage is None else coverage.modes_covered

    def distance(record: RunRecord, iteration: int) -> float:
        return record.distance.get(iteration, float("inf"))

    middle, last = f"{settings.marks[1]:,}", f"{settings.marks[2]:,}"
    all_modes = (per_seed("e", modes) == 8) & (per_seed("g", modes) == 8)
    best = max(int(per_seed(letter, modes).max()) for letter in panels)
    lines = [
        f"- 0-GP finds all 8 modes (panel (e) at iteration {middle}, and panel (g) at {last} with TTUR): "
        f"{seed_verdict(int(all_modes.sum()), len(seeds))}. The best panel of any seed covers {best} of 8."
    ]
    comparisons = [
        ("e", "b", f"0-GP ends closer to the target than no penalty at iteration {middle}"),
        ("e", "h", f"0-GP ends closer to the target than 1-GP at iteration {middle}"),
        ("e", "i", f"0-GP ends closer to the target than 0-GP-sample at iteration {middle}"),
        ("g", "d", f"With TTUR, 0-GP at iteration {last} ends closer than no penalty at {middle}"),
    ]
    for ours, theirs, text in comparisons:
        a, b = per_seed(ours, distance), per_seed(theirs, distance)
        lines.append(
            f"- {text}, by sliced W1 (mean {_finite_mean(a)} against {_finite_mean(b)}): "
            f"{seed_verdict(int((a < b).sum()), len(seeds))}."
        )
    noise = figure2_noise(settings)
    lines.append(
        f"- A generator that matched the target exactly would score about {noise.mean:.3f} "
        f"(± {noise.std:.3f} between pairs of real samples of {noise.n:,} points)."
    )
    return "\n".join(lines)


def _finite_mean(values: np.ndarray) -> str:
    finite = values[np.isfinite(values)]
    return "diverged" if len(finite) == 0 else f"{finite.mean():.3f}"
