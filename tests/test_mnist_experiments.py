"""MNIST figure settings, panels, a tiny run of each figure type, and the rerun widget."""

import dataclasses
import re

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from gp_core import classifier as classifier_module  # noqa: E402
from gp_core.experiments import mnist as mnist_experiments  # noqa: E402
from gp_core.experiments.mnist import (  # noqa: E402
    MNIST_FIGURES,
    mnist_findings,
    mnist_panels,
    mnist_settings,
    mnist_table,
    plot_interpolations,
    plot_mnist,
    run_mnist,
)


@pytest.fixture
def quick_classifier(monkeypatch):
    """Replace the cached digit classifier by one trained for a moment on 500 digits."""

    def load(split, cache_dir=None, device="cpu"):
        model = classifier_module.train_classifier(split.train_images[:500], split.train_labels[:500], epochs=1, seed=0)
        accuracy = classifier_module.accuracy(model, split.heldout_images, split.heldout_labels)
        return classifier_module.ClassifierResult(model, accuracy, True, None)

    monkeypatch.setattr(mnist_experiments, "load_or_train_classifier", load)


def tiny(figure):
    return dataclasses.replace(mnist_settings(figure, "smoke"), width=16, marks=(2, 4), n_eval=64, grid=4)


def test_paper_scale_follows_captions_and_script():
    settings = mnist_settings(7, "paper")
    assert (settings.width, settings.depth, settings.noise_dim) == (512, 3, 50)
    assert (settings.lam, settings.lr, settings.batch_size, settings.d_steps) == (100.0, 3e-4, 128, 5)
    assert settings.marks == (1_000, 10_000)
    assert settings.betas == (0.5, 0.9)
    assert mnist_settings(8, "paper").betas == (0.9, 0.99)


@pytest.mark.parametrize("figure", MNIST_FIGURES)
def test_quick_scale_trains_three_seeds(figure):
    assert mnist_settings(figure, "quick").seeds >= 3


def test_unknown_figure_and_scale_raise():
    with pytest.raises(ValueError, match=r"unknown MNIST figure 4; choose one of \[3, 7, 8, 9\]"):
        mnist_settings(4, "quick")
    with pytest.raises(ValueError, match="unknown scale 'fast'"):
        mnist_settings(3, "fast")


@pytest.mark.parametrize(("figure", "letters"), [(3, "abcde"), (7, "abcd"), (8, "ab"), (9, "ab")])
def test_panels_follow_caption_letters(figure, letters):
    assert "".join(panel.letter for panel in mnist_panels(figure)) == letters


def test_figure3_runs_and_reports(quick_classifier, capsys):
    settings = tiny(3)
    run = run_mnist(settings, seed=0, device="cpu")
    assert len(run.records) == 4 * settings.seeds
    assert sorted(run.of("0-GP")[0].images) == [2, 4]
    assert sorted(run.of("No GP")[0].images) == [2]
    assert capsys.readouterr().out.count("runs at once") == 2
    record = run.of("0-GP")[0]
    assert record.images[4].shape == (64, 784)
    assert 1.0 <= record.score[4] <= 10.0
    assert 0 <= record.d_heldout[4] <= 1
    table = mnist_table(run)
    assert table.count("\n| (") == 5
    findings = mnist_findings(run)
    assert len(re.findall(r"\*\*(holds|does not hold)", findings)) == 4
    assert len([ax for ax in plot_mnist(run).axes if ax.get_visible()]) == 5


def test_figure9_measures_interpolation_rows(quick_classifier):
    settings = tiny(9)
    run = run_mnist(settings, seed=0, device="cpu")
    record = run.of("0-GP")[0]
    assert record.rows[4].shape == (4, 4, 784)
    assert record.smoothness[4] >= 1.0
    assert "largest step" in mnist_table(run)
    assert len(plot_interpolations(run).axes) == 2


def test_differences_below_table_precision_are_ties():
    assert mnist_experiments._wins(np.array([1.004]), np.array([1.001])) == 0
    assert mnist_experiments._wins(np.array([1.02]), np.array([1.001])) == 1
    assert mnist_experiments._wins(np.array([0.5]), np.array([0.9]), higher_is_better=False) == 1


def test_mnist_widget_reruns_one_method(quick_classifier):
    widgets = pytest.importorskip("gp_core.widgets")
    controls = widgets.mnist_controls(tiny(7), seed=0, device="cpu").controls
    controls.penalty.value = "1-GP"
    controls.iterations.value = 3
    controls.run_button.click()
    assert controls.last_error is None
    assert controls.last_result.penalty == "1-GP"
    assert sorted(controls.last_result.images) == [3]
    assert torch.isfinite(controls.last_result.images[3]).all()


def test_stacked_mnist_counts_modes_per_method(quick_classifier):
    from gp_core.experiments.mnist import run_stacked, stacked_findings, stacked_table

    settings = dataclasses.replace(tiny(3), stacked_train=300, stacked_eval=200)
    result = run_stacked(settings, seed=0, device="cpu")
    assert sorted(result.modes) == ["0-GP", "0-GP-sample", "1-GP", "No GP"]
    assert all(len(values) == settings.seeds for values in result.modes.values())
    assert all(1 <= v <= 200 for values in result.modes.values() for v in values)
    assert 1 <= result.real_modes <= 200  # the one-epoch test classifier separates few classes
    assert stacked_table(result).count("\n| ") == 5
    assert len(re.findall(r"\*\*(holds|does not hold)", stacked_findings(result))) == 3
