"""Figure 1: discriminators trained on two fixed sets of Gaussian samples, compared with D*."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from .. import data, run_cache
from ..models import make_discriminator
from ..plots import Limits, grid_points, new_figure, plot_value_surface, probability_on_grid, surface_error
from ..train import TrainConfig, TrainResult, resolve_device, seeded, train_discriminator
from .common import check_scale, check_seeds, sample_std, seed_verdict, summary_line

__all__ = [
    "Figure1Settings",
    "Figure1Panel",
    "Figure1PanelResult",
    "FIGURE1_PANELS",
    "figure1_settings",
    "run_figure1",
    "run_figure1_panel",
    "optimal_values",
    "plot_figure1",
    "figure1_table",
    "figure1_findings",
]


@dataclass(frozen=True)
class Figure1Settings:
    """Settings of Figure 1, following the authors' script unless noted.

    Attributes:
        scale: ``"smoke"``, ``"quick"`` or ``"paper"``.
        n_samples: real and fake points in the small fixed data set (100 in the script).
        n_samples_more: points per set in the "more samples" panel.
            Thanh-Tung et al. give no number, so ten times ``n_samples`` is used.
        iterations: D steps; the caption's 10,000 (the script ran 10,000
            passes over 5 minibatches, five times as many steps).
        batch_size: points per minibatch from each set (20 in the script).
        width: hidden units per layer (64).
        depth: hidden layers (2).
        activation: hidden nonlinearity (tanh).
        lr: Adam's learning rate (1e-3), with PyTorch's default betas (0.9, 0.999).
        lam: λ of the penalised panels (1).
        grid: points per side of the grid on which D and D* are compared (100).
        limits: the plotted square [−2.5, 4.5]².
        seeds: how many seeds (each a new draw of the samples and new
            initial weights) every panel is trained with; the figure shows the first.
    """

    scale: str
    n_samples: int = 100
    n_samples_more: int = 1000
    iterations: int = 10_000
    batch_size: int = 20
    width: int = 64
    depth: int = 2
    activation: str = "tanh"
    lr: float = 1e-3
    lam: float = 1.0
    grid: int = 100
    limits: tuple[float, float] = (-2.5, 4.5)
    seeds: int = 3

    def __post_init__(self) -> None:
        check_scale(self.scale)
        check_seeds(self.seeds)


def figure1_settings(scale: str) -> Figure1Settings:
    """Return Figure 1's settings at ``scale``. The quick scale keeps the sizes of the paper's caption."""
    check_scale(scale)
    if scale == "smoke":
        return Figure1Settings(scale=scale, iterations=200, grid=40, seeds=2)
    return Figure1Settings(scale=scale)


@dataclass(frozen=True)
class Figure1Panel:
    """One panel of Figure 1: a penalty trained on the small or the large sample set."""

    title: str
    penalty: str
    more_samples: bool = False


FIGURE1_PANELS = (
    Figure1Panel("(a) No GP", "none"),
    Figure1Panel("(b) No GP, more samples", "none", more_samples=True),
    Figure1Panel("(c) 1-GP, λ = 1", "1-GP"),
    Figure1Panel("(d) 0-GP, λ = 1", "0-GP"),
)


@dataclass
class Figure1PanelResult:
    """A trained Figure 1 panel: D on the grid and its distance to D*."""

    panel: Figure1Panel
    train: TrainResult
    samples: data.GaussianPair
    values: np.ndarray
    mean_error: float
    max_error: float


def _figure1_config(settings: Figure1Settings, penalty: str, seed: int, device: str, **overrides: object) -> TrainConfig:
    config = TrainConfig(
        loss="gan",
        penalty=penalty,
        lam=settings.lam,
        optimizer="adam",
        lr_d=settings.lr,
        lr_g=settings.lr,
        beta1=0.9,
        beta2=0.999,
        batch_size=settings.batch_size,
        iterations=settings.iterations,
        seed=seed,
        log_every=max(1, settings.iterations // 200),
        device=device,
    )
    return config.replace(**overrides)


def run_figure1_panel(
    settings: Figure1Settings,
    panel: Figure1Panel,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
    **overrides: object,
) -> Figure1PanelResult:
    """Train one Figure 1 discriminator and compare it with D* on the grid.

    ``overrides`` are TrainConfig fields (e.g. ``lam``, ``optimizer``,
    ``lr_d``, ``beta1``) that replace the figure's settings, for the widgets.
    The samples depend on ``seed`` and the set size only, so the panels of
    one seed train on the same points.
    """
    n = settings.n_samples_more if panel.more_samples else settings.n_samples
    samples = data.figure1_gaussians(n, seed)
    config = _figure1_config(settings, panel.penalty, seed, device, **overrides)

    def train() -> TrainResult:
        with seeded(seed):
            discriminator = make_discriminator(width=settings.width, depth=settings.depth, activation=settings.activation)
        return train_discriminator(discriminator, samples.x_real, samples.x_fake, config, progress, panel.title)

    architecture = {"width": settings.width, "depth": settings.depth, "activation": settings.activation}
    result, _ = run_cache.cached(
        "train_discriminator", train, config=config, x_real=samples.x_real, x_fake=samples.x_fake,
        architecture=architecture, device=resolve_device(config.device).type,
    )
    limits = Limits.square(*settings.limits)
    values = probability_on_grid(result.discriminator, limits, settings.grid)
    mean_error, max_error = surface_error(result.discriminator, data.GaussianPair.optimal_discriminator, limits, settings.grid)
    return Figure1PanelResult(panel, result, samples, values, mean_error, max_error)


def run_figure1(
    settings: Figure1Settings, seed: int = 0, device: str = "auto", progress: bool = False
) -> list[list[Figure1PanelResult]]:
    """Train the four panels of Figure 1 with seeds ``seed``, ``seed + 1``, … (``settings.seeds`` of them).

    Returns one list of four panel results per seed and prints one line per
    panel when it finishes.
    """
    results = []
    for run_seed in range(seed, seed + settings.seeds):
        per_seed = []
        for panel in FIGURE1_PANELS:
            result = run_figure1_panel(settings, panel, run_seed, device, progress)
            print(summary_line(f"seed {run_seed}, {panel.title}", result.train))
            per_seed.append(result)
        results.append(per_seed)
    return results


def optimal_values(settings: Figure1Settings) -> np.ndarray:
    """Return D* on Figure 1's grid, a ``(grid, grid)`` array."""
    _, _, points = grid_points(Limits.square(*settings.limits), settings.grid)
    return data.GaussianPair.optimal_discriminator(points).reshape(settings.grid, settings.grid).numpy()


def plot_figure1(settings: Figure1Settings, results: list[Figure1PanelResult]) -> Figure:
    """Draw each trained D's value surface with its samples, then D* with the 100-point set.

    ``results`` are the four panels of one seed.
    """
    limits = Limits.square(*settings.limits)
    fig, axes = new_figure(len(results) + 1, columns=3, panel_size=3.4)
    contours = None
    for ax, panel_result in zip(axes, results):
        contours = plot_value_surface(
            ax,
            panel_result.values,
            limits,
            panel_result.samples.x_real,
            panel_result.samples.x_fake,
            title=panel_result.panel.title,
            point_size=3 if panel_result.panel.more_samples else 8,
        )
    reference = data.figure1_gaussians(settings.n_samples, results[0].train.config.seed) if results else None
    contours = plot_value_surface(
        axes[-1],
        optimal_values(settings),
        limits,
        None if reference is None else reference.x_real,
        None if reference is None else reference.x_fake,
        title="D* = p_r / (p_r + p_g)",
    )
    axes[0].legend(loc="lower right", fontsize=8)
    fig.colorbar(contours, ax=axes, shrink=0.8, label="D(v)")
    return fig


def figure1_table(results: list[list[Figure1PanelResult]]) -> str:
    """Return a Markdown table of each panel's mean and max |D − D*| over the grid, per seed and over seeds.

    ``results`` contains one list of panels per seed, as ``run_figure1`` returns it.
    """
    seeds = [per_seed[0].train.config.seed for per_seed in results]
    rows = [
        "| panel | samples per set | mean abs(D − D*) per seed | mean abs(D − D*), mean ± std over seeds "
        "| max abs(D − D*), mean ± std over seeds |",
        "|---|---|---|---|---|",
    ]
    for index, panel in enumerate(FIGURE1_PANELS):
        runs = [per_seed[index] for per_seed in results]
        mean_errors = np.array([r.mean_error for r in runs])
        max_errors = np.array([r.max_error for r in runs])
        per_seed = ", ".join(f"{value:.3f}" for value in mean_errors)
        rows.append(
            f"| {panel.title} | {len(runs[0].samples.x_real)} | {per_seed} | "
            f"{mean_errors.mean():.3f} ± {sample_std(mean_errors):.3f} | {max_errors.mean():.3f} ± {sample_std(max_errors):.3f} |"
        )
    seed_list = ", ".join(str(seed) for seed in seeds)
    rows.append("")
    rows.append(f"Seeds {seed_list}, in the order of the per-seed column; std is the sample standard deviation.")
    return "\n".join(rows)


def figure1_findings(results: list[list[Figure1PanelResult]]) -> str:
    """Return Markdown that checks the figure's three comparisons of mean |D − D*|, seed by seed."""

    def errors(penalty: str, more_samples: bool) -> np.ndarray:
        index = next(i for i, p in enumerate(FIGURE1_PANELS) if (p.penalty, p.more_samples) == (penalty, more_samples))
        return np.array([per_seed[index].mean_error for per_seed in results])

    small, more = errors("none", False), errors("none", True)
    one_gp, zero_gp = errors("1-GP", False), errors("0-GP", False)
    n_small = len(results[0][0].samples.x_real)
    n_more = len(results[0][1].samples.x_real)
    comparisons = [
        (f"More data brings the unpenalised D closer to D* ({n_more:,} against {n_small:,} points per set)", more, small),
        (f"0-GP brings D closer to D* than no penalty on {n_small:,} points", zero_gp, small),
        ("0-GP brings D closer to D* than 1-GP with the same λ", zero_gp, one_gp),
    ]
    lines = []
    for text, better, worse in comparisons:
        wins = int((better < worse).sum())
        lines.append(
            f"- {text}: mean abs(D − D*) {better.mean():.3f} against {worse.mean():.3f} on average: "
            f"{seed_verdict(wins, len(better))}."
        )
    lines.append(
        f"- The spread between seeds is part of the answer: the no-penalty panel alone ranges from "
        f"{small.min():.3f} to {small.max():.3f} over these seeds."
    )
    return "\n".join(lines)
