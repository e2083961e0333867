"""Figure 5: how GAN-0-GP with λ = 100 evolves on 8 Gaussians, snapshot by snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from ..plots import Limits, new_figure
from ..train import TrainConfig
from .common import check_scale, check_seeds, mean_std, seed_verdict
from .synthetic import RunRecord, RunSpec, Target, distance_noise, plot_record, summarise, train_runs

__all__ = [
    "Figure5Settings",
    "figure5_settings",
    "figure5_spec",
    "run_figure5",
    "plot_figure5",
    "plot_figure5_curves",
    "figure5_table",
    "figure5_findings",
]


@dataclass(frozen=True)
class Figure5Settings:
    """Settings of Figure 5. The caption gives only λ = 100; the rest are Figure 2's script defaults.

    Attributes:
        scale: ``"smoke"``, ``"quick"`` or ``"paper"``.
        width: hidden units of G and D (512 at paper scale, as in Figure 2; 64 at quick scale).
        depth: hidden layers (2).
        lam: λ of the 0-GP (100, the caption's value).
        lr: SGD learning rate of both players (3e-3).
        batch_size: real and fake samples per step (128).
        iterations: generator steps (20,000, the script's default).
        row: the iterations drawn in the row of snapshots.
        measure_every: the measures' curves get a point every this many iterations.
        target_scale: radius of the 8-Gaussians circle before the 1.414 divisor (10).
        n_eval: generated and real points per measurement.
        limits: the plotted square.
        seeds: seeds trained; the row shows the first.
    """

    scale: str
    width: int = 512
    depth: int = 2
    lam: float = 100.0
    lr: float = 3e-3
    batch_size: int = 128
    iterations: int = 20_000
    row: tuple[int, ...] = (0, 1_000, 2_000, 5_000, 10_000, 20_000)
    measure_every: int = 500
    target_scale: float = 10.0
    n_eval: int = 2_000
    limits: tuple[float, float] = (-10.0, 10.0)
    seeds: int = 3

    def __post_init__(self) -> None:
        check_scale(self.scale)
        check_seeds(self.seeds)


# Hidden units of the paper's synthetic GANs, from the caption of Figure 2.
PAPER_WIDTH = 512


def figure5_settings(scale: str) -> Figure5Settings:
    """Return Figure 5's settings at ``scale``."""
    check_scale(scale)
    if scale == "smoke":
        return Figure5Settings(
            scale=scale, width=64, iterations=200, row=(0, 20, 50, 100, 200), measure_every=20, n_eval=500, seeds=2
        )
    if scale == "quick":
        return Figure5Settings(scale=scale, width=64)
    return Figure5Settings(scale=scale)


def _measured_iterations(settings: Figure5Settings) -> tuple[int, ...]:
    regular = range(0, settings.iterations + 1, settings.measure_every)
    return tuple(sorted(set(regular) | set(settings.row) | {settings.iterations}))


def figure5_spec(settings: Figure5Settings, device: str = "auto") -> RunSpec:
    """Return the RunSpec of Figure 5's run, with a snapshot at every measured iteration."""
    config = TrainConfig(
        loss="gan",
        penalty="0-GP",
        lam=settings.lam,
        optimizer="sgd",
        lr_d=settings.lr,
        lr_g=settings.lr,
        batch_size=settings.batch_size,
        iterations=settings.iterations,
        log_every=max(1, settings.iterations // 200),
        snapshot_at=_measured_iterations(settings),
        device=device,
    )
    label = f"0-GP, λ = {settings.lam:g}"
    return RunSpec(label, config, Target("8gaussians", settings.target_scale), method=label)


def run_figure5(
    settings: Figure5Settings, seed: int = 0, device: str = "auto", progress: bool = False, batched: bool = True
) -> list[RunRecord]:
    """Train Figure 5's GAN with seeds ``seed`` … ``seed + seeds − 1`` and measure every snapshot."""
    seeds = range(seed, seed + settings.seeds)
    return train_runs([figure5_spec(settings, device)], seeds, settings.width, settings.depth, settings.n_eval, batched, progress)


def plot_figure5(settings: Figure5Settings, records: Sequence[RunRecord]) -> Figure:
    """Draw the row of snapshots of the first seed: ∇ log D, real (orange) and generated (blue) points."""
    limits = Limits.square(*settings.limits)
    fig, axes = new_figure(len(settings.row), columns=len(settings.row), panel_size=2.8)
    for ax, iteration in zip(axes, settings.row):
        plot_record(ax, records[0], iteration, limits, f"iteration {iteration:,}", n_points=400)
    fig.tight_layout()
    return fig


def _curve(records: Sequence[RunRecord], measure) -> tuple[np.ndarray, np.ndarray]:
    iterations = np.array(sorted(records[0].samples))
    values = np.array([[measure(r, it) for it in iterations] for r in records], dtype=float)
    return iterations, values


def plot_figure5_curves(settings: Figure5Settings, records: Sequence[RunRecord]) -> Figure:
    """Plot modes covered, high-quality share and sliced W1 against iterations, one thin line per seed and their mean."""
    noise = distance_noise(records[0].spec.target, settings.n_eval)
    panels = [
        ("modes covered (of 8)", lambda r, it: r.coverage[it].modes_covered if it in r.coverage else np.nan),
        ("high-quality share", lambda r, it: r.coverage[it].high_quality_share if it in r.coverage else np.nan),
        ("sliced W1 to real points", lambda r, it: r.distance.get(it, np.nan)),
    ]
    fig, axes = new_figure(len(panels), columns=len(panels), panel_size=3.6)
    for ax, (title, measure) in zip(axes, panels):
        iterations, values = _curve(records, measure)
        for record, row in zip(records, values):
            ax.plot(iterations, row, color="tab:blue", alpha=0.35, linewidth=1, label=f"seed {record.seed}")
        ax.plot(iterations, np.nanmean(values, axis=0), color="tab:blue", linewidth=2, label="mean over seeds")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("iteration")
    axes[0].set_ylim(-0.3, 8.3)
    axes[1].set_ylim(-0.02, 1.02)
    axes[2].axhline(noise.mean, color="tab:orange", linestyle="--", label="real vs real")
    axes[2].set_yscale("log")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    return fig


def figure5_table(settings: Figure5Settings, records: Sequence[RunRecord]) -> str:
    """Return a Markdown table of the measures at each iteration of the row, mean ± std over seeds."""
    rows = [
        "| iteration | sliced W1 to real | modes covered (of 8), per seed | high-quality share "
        "| largest share with one nearest centre |",
        "|---|---|---|---|---|",
    ]
    for iteration in settings.row:
        summary = summarise(records, iteration)
        rows.append(
            f"| {iteration:,} | {summary['distance']} | {summary['modes']} | {summary['high_quality']} | "
            f"{summary['largest_share']} |"
        )
    noise = distance_noise(records[0].spec.target, settings.n_eval)
    rows.append(f"| real vs real | {noise} | 8 | – | – |")
    rows.append("")
    rows.append(f"Mean ± sample standard deviation over seeds {', '.join(str(r.seed) for r in records)}.")
    return "\n".join(rows)


def figure5_findings(settings: Figure5Settings, records: Sequence[RunRecord]) -> str:
    """Return Markdown on what the evolution shows: modes found, when, and whether the distance fell."""
    last = settings.iterations
    n = len(records)

    all_modes = [r.coverage[last].modes_covered == 8 if last in r.coverage else False for r in records]
    first_full = []
    for r in records:
        hits = [it for it, c in sorted(r.coverage.items()) if c.modes_covered == 8]
        first_full.append(f"{hits[0]:,}" if hits else "never")

    start, end = [r.distance_at(0) for r in records], [r.distance_at(last) for r in records]
    closer = sum(e < s for s, e in zip(start, end))
    diverged = sum(r.diverged is not None for r in records)
    largest = [r.coverage[last].largest_mode_share for r in records if last in r.coverage]
    quality = [r.coverage[last].high_quality_share for r in records if last in r.coverage]

    lines = [
        f"- GAN-0-GP with λ = {settings.lam:g} covers all 8 modes at iteration {last:,}: "
        f"{seed_verdict(sum(all_modes), n)}. First iteration with all 8 covered, per seed: {', '.join(first_full)}.",
        f"- It ends closer to the target than it started (sliced W1 {mean_std(start)} at iteration 0, "
        f"{mean_std(end)} at {last:,}): {seed_verdict(closer, n)}.",
        f"- At iteration {last:,} the largest share of points with one nearest centre is {mean_std(largest, 2)} "
        f"(1 for a collapse onto one side; about 0.125 both for points on all 8 modes and for points spread "
        f"evenly over the whole square), and the share within 3 standard deviations of a centre, which tells "
        f"those two apart, is {mean_std(quality, 2)}.",
        f"- Runs that diverged: {diverged} of {n}.",
    ]
    if not any(all_modes):
        radius = 3 * records[0].spec.target.mode_std
        causes = "the length of training or the narrow modes"
        if settings.width != PAPER_WIDTH:
            causes = f"the width ({PAPER_WIDTH} in the paper's Figure 2), {causes}"
        lines.append(
            f"- So at this scale ({settings.width} hidden units, {last:,} iterations) the generators did not "
            f"reproduce the paper's figure. This page cannot tell whether {causes} (a mode counts only within "
            f"{radius:.3f} of its centre) make the difference."
        )
        if settings.width != PAPER_WIDTH:
            lines[-1] += f" `paper` scale, meant for a GPU, uses {PAPER_WIDTH} units."
    return "\n".join(lines)
