"""ipywidgets panels that rerun one panel of a figure with the reader's settings.

Nothing trains until the reader presses the button, so a notebook that
displays these panels still executes quickly and headless.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from .experiments import (
    FIGURE2_RUNS,
    Figure1Panel,
    Figure1Settings,
    Figure2Run,
    Figure2Settings,
    Figure5Settings,
    Figure6Settings,
    figure5_spec,
    figure6_specs,
    optimal_values,
    run_figure1_panel,
    run_figure2_run,
)
from .experiments.imagenet import ImageSettings, plot_sample_grid, rerun_image_gan
from .experiments.mnist import MnistSettings, rerun_mnist, show_digits
from .image_gan import METHODS
from .experiments.synthetic import ModelShape, RunRecord, RunSpec, Target, distance_noise, evaluate, plot_record, train_one
from .penalties import PENALTIES
from .plots import Limits, new_figure, plot_gradient_field, plot_value_surface
from .train import OPTIMIZERS, NonFiniteError

__all__ = ["TrainingControls", "figure1_controls", "figure2_controls", "figure5_controls", "figure6_controls", "mnist_controls", "image_controls"]

_STYLE = {"description_width": "110px"}
_LAYOUT = widgets.Layout(width="360px")


def _log_slider(description: str, value: float, low_exponent: int, high_exponent: int) -> widgets.FloatLogSlider:
    return widgets.FloatLogSlider(
        value=value, base=10, min=low_exponent, max=high_exponent, step=0.25,
        description=description, readout_format=".1e", style=_STYLE, layout=_LAYOUT,
    )


class TrainingControls:
    """The penalty, λ, optimizer, learning-rate, beta and iteration widgets, and a Run button.

    Attributes:
        penalty, lam, optimizer, lr_d, lr_g, beta1, beta2, iterations: the input widgets.
        run_button: starts the rerun.
        output: where the rerun's messages and figure appear.
    """

    def __init__(
        self, penalty: str, lam: float, optimizer: str, lr_d: float, lr_g: float | None,
        beta1: float, beta2: float, iterations: int, max_iterations: int,
    ):
        self.penalty = widgets.Dropdown(options=list(PENALTIES), value=penalty, description="penalty", style=_STYLE, layout=_LAYOUT)
        # λ = 0 is reachable through the "none" penalty; the slider covers 10⁻³ to 10³.
        self.lam = _log_slider("λ", max(lam, 1e-3), -3, 3)
        self.optimizer = widgets.Dropdown(options=list(OPTIMIZERS), value=optimizer, description="optimizer", style=_STYLE, layout=_LAYOUT)
        self.lr_d = _log_slider("lr of D", lr_d, -5, -1)
        self.lr_g = None if lr_g is None else _log_slider("lr of G", lr_g, -5, -1)
        self.beta1 = widgets.FloatSlider(value=beta1, min=0.0, max=0.99, step=0.01, description="Adam β1", style=_STYLE, layout=_LAYOUT)
        self.beta2 = widgets.FloatSlider(value=beta2, min=0.0, max=0.999, step=0.001, readout_format=".3f", description="Adam β2", style=_STYLE, layout=_LAYOUT)
        self.iterations = widgets.IntSlider(
            value=iterations, min=1, max=max_iterations, step=max(1, max_iterations // 100),
            description="iterations", style=_STYLE, layout=_LAYOUT,
        )
        self.run_button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.output = widgets.Output()
        self.last_result: object | None = None
        self.last_error: Exception | None = None

    def overrides(self) -> dict[str, object]:
        """Return the TrainConfig fields the widgets currently set."""
        values: dict[str, object] = {
            "penalty": self.penalty.value,
            "lam": float(self.lam.value),
            "optimizer": self.optimizer.value,
            "lr_d": float(self.lr_d.value),
            "beta1": float(self.beta1.value),
            "beta2": float(self.beta2.value),
            "iterations": int(self.iterations.value),
        }
        if self.lr_g is not None:
            values["lr_g"] = float(self.lr_g.value)
        return values

    def layout(self, extra: list[widgets.Widget]) -> widgets.Box:
        """Arrange the inputs in two columns above the button and the output."""
        left = [self.penalty, self.lam, self.optimizer, *extra]
        right = [w for w in (self.lr_d, self.lr_g, self.beta1, self.beta2, self.iterations) if w is not None]
        return widgets.VBox([widgets.HBox([widgets.VBox(left), widgets.VBox(right)]), self.run_button, self.output])


def _run_safely(controls: TrainingControls, rerun) -> None:
    """Call ``rerun`` inside the output area; show invalid settings and divergence as messages.

    The rerun's result, or the error it raised, is kept on ``controls``.
    """
    controls.output.clear_output(wait=True)
    controls.run_button.disabled = True
    controls.last_result, controls.last_error = None, None
    try:
        with controls.output:
            try:
                controls.last_result = rerun()
            except (ValueError, NonFiniteError) as error:
                controls.last_error = error
                print(f"Not run: {error}")
    finally:
        controls.run_button.disabled = False


def _panel(controls: TrainingControls, rerun, extra: list[widgets.Widget]) -> widgets.Box:
    """Connect the Run button to ``rerun`` and lay the panel out with the ``extra`` inputs."""
    controls.run_button.on_click(lambda _: _run_safely(controls, rerun))
    box = controls.layout(extra)
    box.controls = controls  # kept reachable for tests and for readers who script the panel
    return box


def figure1_controls(settings: Figure1Settings, seed: int = 0, device: str = "auto") -> widgets.Box:
    """Build the panel that retrains one Figure 1 discriminator and draws it beside D*."""
    controls = TrainingControls(
        penalty="0-GP", lam=settings.lam, optimizer="adam", lr_d=settings.lr, lr_g=None,
        beta1=0.9, beta2=0.999, iterations=settings.iterations, max_iterations=max(settings.iterations, 20_000),
    )
    more_samples = widgets.Checkbox(value=False, description=f"{settings.n_samples_more} samples per set", style=_STYLE)

    def rerun():
        overrides = controls.overrides()
        panel = Figure1Panel("your settings", str(overrides.pop("penalty")), more_samples=more_samples.value)
        result = run_figure1_panel(settings, panel, seed, device, progress=True, **overrides)
        limits = Limits.square(*settings.limits)
        fig, axes = plt.subplots(1, 2, figsize=(8, 3.8))
        plot_value_surface(axes[0], result.values, limits, result.samples.x_real, result.samples.x_fake, title="trained D")
        plot_value_surface(axes[1], optimal_values(settings), limits, title="D*")
        display(fig)
        plt.close(fig)
        display(Markdown(f"mean |D − D*| = {result.mean_error:.3f}, max |D − D*| = {result.max_error:.3f}, "
                         f"{result.train.wall_time_s:.1f} s of training"))
        return result

    return _panel(controls, rerun, [more_samples])


def figure2_controls(settings: Figure2Settings, seed: int = 0, device: str = "auto") -> widgets.Box:
    """Build the panel that retrains one Figure 2 GAN and draws its final gradient field."""
    default: Figure2Run = FIGURE2_RUNS[2]
    iterations = settings.marks[1]
    controls = TrainingControls(
        penalty=default.penalty, lam=settings.lam, optimizer="sgd", lr_d=settings.lr, lr_g=settings.lr,
        beta1=0.5, beta2=0.9, iterations=iterations, max_iterations=settings.marks[2],
    )

    def rerun():
        overrides = controls.overrides()
        overrides["snapshot_at"] = (int(overrides["iterations"]),)
        run = Figure2Run("your settings", str(overrides["penalty"]), ttur=False, panels=())
        result = run_figure2_run(settings, run, seed, device, progress=True, **overrides)
        if result.diverged:
            print(result.diverged)
        for iteration, samples in result.samples.items():
            fig, ax = plt.subplots(figsize=(4.5, 4.5))
            plot_gradient_field(
                ax, result.train.snapshots[iteration].discriminator, Limits.square(*settings.limits),
                x_real=result.x_real[:500], x_fake=samples[:500], title=f"your settings, iter. {iteration:,}",
            )
            display(fig)
            plt.close(fig)
            coverage = result.coverage[iteration]
            display(Markdown(
                f"{coverage.modes_covered} of 8 modes covered, high-quality share "
                f"{coverage.high_quality_share:.2f}, {result.train.wall_time_s:.1f} s of training"
            ))
        return result

    return _panel(controls, rerun, [])



def _measure_line(record: RunRecord, iteration: int) -> str:
    if record.diverged:
        print(record.diverged)
    if iteration not in record.distance:
        return f"No snapshot at iteration {iteration:,}: the run diverged before it."
    parts = [f"sliced W1 to real points {record.distance[iteration]:.3f}"]
    coverage = record.coverage.get(iteration)
    if coverage is not None:
        parts.append(f"{coverage.modes_covered} of {coverage.n_modes} modes covered")
        parts.append(f"high-quality share {coverage.high_quality_share:.2f}")
    parts.append(f"{record.train.wall_time_s:.1f} s of training")
    return f"At iteration {iteration:,}: " + ", ".join(parts) + "."


def figure5_controls(settings: Figure5Settings, seed: int = 0, device: str = "auto") -> widgets.Box:
    """Build the panel that retrains Figure 5's GAN with the reader's settings and draws its row of snapshots."""
    base = figure5_spec(settings, device)
    controls = TrainingControls(
        penalty="0-GP", lam=settings.lam, optimizer="sgd", lr_d=settings.lr, lr_g=settings.lr,
        beta1=0.5, beta2=0.9, iterations=settings.iterations, max_iterations=2 * settings.iterations,
    )

    def rerun():
        overrides = controls.overrides()
        last = int(overrides["iterations"])
        row = sorted({it for it in settings.row if it < last} | {last})
        spec = RunSpec("your settings", base.config.replace(**overrides, snapshot_at=tuple(row)), base.target)
        train, diverged = train_one(spec, seed, ModelShape(settings.width, settings.depth))
        record = evaluate(spec, seed, train, diverged, settings.n_eval)
        fig, axes = new_figure(len(row), columns=len(row), panel_size=2.6)
        for ax, iteration in zip(axes, row):
            plot_record(ax, record, iteration, Limits.square(*settings.limits), f"iteration {iteration:,}", n_points=400)
        fig.tight_layout()
        display(fig)
        plt.close(fig)
        display(Markdown(_measure_line(record, last)))
        return record

    return _panel(controls, rerun, [])


def figure6_controls(settings: Figure6Settings, seed: int = 0, device: str = "auto") -> widgets.Box:
    """Build the panel that retrains one Figure 6 GAN on a swiss roll of the reader's scale."""
    base = figure6_specs(settings, device)[0]
    controls = TrainingControls(
        penalty="1-GP", lam=settings.lam, optimizer="sgd", lr_d=settings.lr, lr_g=settings.lr,
        beta1=settings.adam_betas[0], beta2=settings.adam_betas[1], iterations=settings.iterations,
        max_iterations=2 * settings.iterations,
    )
    roll_scale = widgets.FloatSlider(
        value=1.0, min=0.5, max=8.0, step=0.5, description="roll scale", style=_STYLE, layout=_LAYOUT
    )

    def rerun():
        overrides = controls.overrides()
        last = int(overrides["iterations"])
        target = Target("swissroll", float(roll_scale.value))
        spec = RunSpec("your settings", base.config.replace(**overrides, snapshot_at=(last,)), target)
        train, diverged = train_one(spec, seed, ModelShape(settings.width, settings.depth))
        record = evaluate(spec, seed, train, diverged, settings.n_eval)
        half = 2.5 * target.scale
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        plot_record(ax, record, last, Limits.square(-half, half), f"{spec.config.penalty}, roll scale {target.scale:g}")
        display(fig)
        plt.close(fig)
        noise = distance_noise(target, settings.n_eval)
        display(Markdown(f"{_measure_line(record, last)} Two real samples score {noise}."))
        return record

    return _panel(controls, rerun, [roll_scale])


def mnist_controls(settings: MnistSettings, seed: int = 0, device: str = "auto") -> widgets.Box:
    """Build the panel that retrains one MNIST GAN with the reader's settings and draws its digits and measures."""
    default_penalty = "0-GP"
    controls = TrainingControls(
        penalty=default_penalty, lam=settings.lam, optimizer="adam", lr_d=settings.lr, lr_g=settings.lr,
        beta1=settings.betas[0], beta2=settings.betas[1], iterations=settings.marks[0],
        max_iterations=settings.marks[1],
    )

    def rerun():
        overrides = controls.overrides()
        penalty = str(overrides.pop("penalty"))
        record, _ = rerun_mnist(settings, penalty, seed, device, **overrides)
        last = int(overrides["iterations"])
        if record.diverged:
            print(record.diverged)
        fig, ax = plt.subplots(figsize=(4.2, 4.4))
        show_digits(ax, record.images.get(last), settings.grid, f"{penalty}, iter. {last:,}")
        display(fig)
        plt.close(fig)
        if last in record.score:
            display(Markdown(
                f"Classifier score {record.score[last]:.2f}, {record.classes[last]} classes found, memorisation "
                f"ratio {record.memorisation[last]:.2f}, D > 0.5 on {record.d_heldout[last]:.0%} of held-out and "
                f"{record.d_train[last]:.0%} of training digits; {record.train.wall_time_s:.1f} s of training."
            ))
        return record

    return _panel(controls, rerun, [])


def image_controls(settings: ImageSettings, seed: int = 0, device: str = "auto") -> widgets.Box:
    """Build the panel that retrains one residual GAN of Figure 4 or 10 and draws its score curve and samples."""
    method = widgets.Dropdown(options=list(METHODS), value=settings.methods[0], description="method", style=_STYLE, layout=_LAYOUT)
    controls = TrainingControls(
        penalty="0-GP", lam=settings.lam, optimizer="adam", lr_d=settings.lr_d, lr_g=settings.lr_g,
        beta1=settings.betas[0], beta2=settings.betas[1], iterations=settings.iterations,
        max_iterations=4 * settings.iterations,
    )

    def rerun():
        iterations = int(controls.iterations.value)
        record, scorer = rerun_image_gan(
            settings, method.value, seed, device, lam=float(controls.lam.value), lr_g=float(controls.lr_g.value),
            lr_d=float(controls.lr_d.value), betas=(float(controls.beta1.value), float(controls.beta2.value)),
            iterations=iterations, eval_every=max(1, iterations // 6),
        )
        if record.diverged:
            print(record.diverged)
        run = record.run
        fig, (curve, samples) = plt.subplots(1, 2, figsize=(9.0, 4.2))
        steps, scores = run.scores
        curve.plot(steps, scores, marker="o")
        curve.set_xlabel("generator iterations")
        curve.set_ylabel(scorer.name)
        grid = plot_sample_grid(record, settings, run.generator.shape.n_classes or 1, "")
        samples.imshow(grid.axes[0].images[0].get_array(), cmap="gray" if settings.channels == 1 else None)
        samples.set_axis_off()
        samples.set_title(f"{method.value}, step {run.iterations_done:,}")
        plt.close(grid)
        display(fig)
        plt.close(fig)
        display(Markdown(f"Last {scorer.name}: {scores[-1]:.2f} after {run.wall_time_s:.1f} s of training."))
        return record

    controls.run_button.on_click(lambda _: _run_safely(controls, rerun))
    left = widgets.VBox([method, controls.lam, controls.iterations])
    right = widgets.VBox([controls.lr_d, controls.lr_g, controls.beta1, controls.beta2])
    box = widgets.VBox([widgets.HBox([left, right]), controls.run_button, controls.output])
    box.controls = controls
    box.method = method
    return box
