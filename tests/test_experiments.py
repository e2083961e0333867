"""Figure settings per scale, the figure runners at tiny sizes, and the rerun widgets."""

import dataclasses
import math
import re

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from gp_core import data  # noqa: E402
from gp_core.experiments import (  # noqa: E402
    FIGURE1_PANELS,
    FIGURE2_RUNS,
    FIGURE6_METHODS,
    SCALES,
    figure1_findings,
    figure1_settings,
    figure1_table,
    figure2_findings,
    figure2_settings,
    figure2_table,
    figure5_findings,
    figure5_settings,
    figure5_table,
    figure6_findings,
    figure6_settings,
    figure6_table,
    figure6_variants,
    plot_figure1,
    plot_figure2,
    plot_figure5,
    plot_figure5_curves,
    plot_figure6,
    run_figure1,
    run_figure2,
    run_figure2_run,
    run_figure5,
    run_figure6,
    settings_table,
)
from gp_core.plots import Limits, surface_error  # noqa: E402


def tiny_figure1():
    return dataclasses.replace(figure1_settings("smoke"), iterations=20, grid=10, n_samples_more=200)


def tiny_figure2():
    return dataclasses.replace(figure2_settings("smoke"), width=8, marks=(2, 4, 6), n_plot_samples=100)


def test_paper_scale_keeps_caption_numbers():
    figure1 = figure1_settings("paper")
    assert (figure1.n_samples, figure1.iterations, figure1.batch_size, figure1.width, figure1.lam) == (100, 10_000, 20, 64, 1.0)
    assert figure1.activation == "tanh"
    figure2 = figure2_settings("paper")
    assert figure2.width == 512
    assert figure2.marks == (1_000, 10_000, 20_000)
    assert (figure2.batch_size, figure2.lr, figure2.lam) == (128, 3e-3, 10.0)
    figure5 = figure5_settings("paper")
    assert (figure5.lam, figure5.iterations, figure5.width, figure5.lr) == (100.0, 20_000, 512, 3e-3)
    figure6 = figure6_settings("paper")
    assert (figure6.lam, figure6.iterations, figure6.batch_size, figure6.lr) == (10.0, 20_000, 128, 3e-3)


@pytest.mark.parametrize("settings_fn", [figure2_settings, figure5_settings, figure6_settings])
def test_synthetic_figures_train_three_seeds_at_quick_scale(settings_fn):
    assert settings_fn("quick").seeds >= 3
    assert settings_fn("smoke").seeds >= 2


def test_quick_scale_keeps_caption_iterations():
    assert figure1_settings("quick").iterations == 10_000
    assert figure2_settings("quick").marks == (1_000, 10_000, 20_000)


@pytest.mark.parametrize("settings_fn", [figure1_settings, figure2_settings, figure5_settings, figure6_settings])
def test_unknown_scale_raises(settings_fn):
    with pytest.raises(ValueError, match=r"unknown scale 'fast'; choose one of \['smoke', 'quick', 'paper'\]"):
        settings_fn("fast")


def test_settings_table_has_a_column_per_scale():
    table = settings_table({s: figure2_settings(s) for s in SCALES})
    header = table.splitlines()[0]
    assert header == "| setting | smoke | quick | paper |"
    assert "| `width` | 64 | 64 | 512 |" in table


def test_figure2_panels_cover_caption_letters():
    letters = sorted(letter for run in FIGURE2_RUNS for letter, _ in run.panels)
    assert letters == list("abcdefghi")
    ttur_runs = {run.name for run in FIGURE2_RUNS if run.ttur}
    assert ttur_runs == {"No GP, TTUR", "0-GP, TTUR, λ = 10"}


def test_figure1_runs_and_reports(capsys):
    settings = tiny_figure1()
    results = run_figure1(settings, seed=4, device="cpu")
    assert len(results) == settings.seeds == 2
    assert [r.train.config.seed for r in results[1]] == [5] * 4
    first = results[0]
    assert [r.panel for r in first] == list(FIGURE1_PANELS)
    assert len(first[1].samples.x_real) == 200
    assert torch.equal(first[0].samples.x_real, first[2].samples.x_real)
    assert not torch.equal(first[0].samples.x_real, results[1][0].samples.x_real)
    for r in first:
        assert r.values.shape == (10, 10)
        assert 0 <= r.mean_error <= r.max_error <= 1
    assert capsys.readouterr().out.count("iterations in") == 8
    table = figure1_table(results)
    assert table.count("\n| (") == 4
    assert "Seeds 4, 5" in table
    findings = figure1_findings(results)
    assert findings.count("seed") >= 3
    assert findings.count(" of 2") == 3
    visible = [ax for ax in plot_figure1(settings, first).axes if ax.get_visible()]
    assert len(visible) == 6  # four panels, D* and the colour bar


def test_figure1_is_deterministic():
    first = run_figure1(tiny_figure1(), seed=3, device="cpu")
    second = run_figure1(tiny_figure1(), seed=3, device="cpu")
    assert [r.mean_error for per_seed in first for r in per_seed] == [r.mean_error for per_seed in second for r in per_seed]


def test_seed_verdict_counts_seeds():
    from gp_core.experiments import seed_verdict

    assert seed_verdict(3, 3) == "**holds in every seed** (3 of 3)"
    assert seed_verdict(0, 3) == "**does not hold in any seed** (0 of 3)"
    assert seed_verdict(2, 3) == "**holds in 2 of 3 seeds**"


def test_provenance_names_scale_and_versions():
    from gp_core import __version__
    from gp_core.experiments import provenance

    line = provenance("smoke", 7, "cpu")
    assert "scale `smoke`" in line
    assert "seed 7" in line
    assert f"torch {torch.__version__}" in line
    assert f"gp_core {__version__}" in line


def test_figure2_runs_and_reports(capsys):
    settings = tiny_figure2()
    records = run_figure2(settings, seed=3, device="cpu")
    assert len(records) == len(FIGURE2_RUNS) * settings.seeds
    assert [r.spec.label for r in records[:: settings.seeds]] == [run.name for run in FIGURE2_RUNS]
    assert [r.seed for r in records[:2]] == [3, 4]
    assert sorted(records[6].samples) == [4, 6]  # 0-GP with TTUR: panels (f) and (g)
    assert capsys.readouterr().out.count("runs at once") == 2  # 10,000- and 20,000-iteration groups
    table = figure2_table(settings, records)
    assert len(table.splitlines()) == 2 + 9 + 1 + 2
    assert "over seeds 3, 4" in table
    findings = figure2_findings(settings, records)
    assert findings.count(" of 2") == 5
    assert len(plot_figure2(settings, records).axes) == 9


def test_figure2_batched_equals_one_by_one():
    settings = tiny_figure2()
    batched = run_figure2(settings, seed=0, device="cpu")
    single = run_figure2(settings, seed=0, device="cpu", batched=False)
    for a, b in zip(batched, single):
        assert (a.spec.label, a.seed) == (b.spec.label, b.seed)
        assert sorted(a.distance) == sorted(b.distance)
        for iteration in a.distance:
            assert a.distance[iteration] == pytest.approx(b.distance[iteration], rel=1e-4)


def test_figure2_diverged_run_keeps_earlier_snapshots():
    settings = tiny_figure2()
    run = FIGURE2_RUNS[0]
    record = run_figure2_run(settings, run, seed=0, device="cpu", lr_d=1e30, lr_g=1e30, iterations=50, snapshot_at=(0, 50))
    assert record.diverged is not None and "diverged at iteration" in record.diverged
    assert 0 in record.samples
    assert 50 not in record.samples
    assert math.isnan(record.distance_at(50))


def test_figure5_runs_and_reports():
    settings = dataclasses.replace(figure5_settings("smoke"), width=8, iterations=20, row=(0, 10, 20), measure_every=5, n_eval=100)
    records = run_figure5(settings, seed=0, device="cpu")
    assert len(records) == settings.seeds
    assert sorted(records[0].samples) == [0, 5, 10, 15, 20]
    assert records[0].spec.config.lam == 100.0
    assert figure5_table(settings, records).count("\n| ") == 3 + 1
    assert figure5_findings(settings, records).count("** (") + figure5_findings(settings, records).count("seeds**") == 2
    assert len(plot_figure5(settings, records).axes) == 3
    assert len(plot_figure5_curves(settings, records).axes) == 3


def test_figure6_runs_and_reports():
    settings = dataclasses.replace(figure6_settings("smoke"), width=8, iterations=10, n_eval=100)
    records = run_figure6(settings, seed=0, device="cpu")
    assert len(records) == len(FIGURE6_METHODS) * 3 * settings.seeds
    variants = figure6_variants(settings)
    assert [v.roll_scale for v in variants] == [1.0, 4.0, 1.0]
    assert {r.spec.config.optimizer for r in records if r.spec.setting == variants[2].name} == {"adam"}
    assert {r.spec.target.scale for r in records if r.spec.setting == variants[1].name} == {4.0}
    table = figure6_table(settings, records)
    assert table.splitlines()[0] == "| method | " + " | ".join(v.name for v in variants) + " |"
    assert table.count("\n| ") == len(FIGURE6_METHODS) + 1  # the methods and the real-vs-real row
    findings = figure6_findings(settings, records)
    assert len(re.findall(r"\*\*(holds|does not hold)", findings)) == 4
    assert len([ax for ax in plot_figure6(settings, records).axes if ax.get_visible()]) == 12


def test_figure6_scaled_up_factor_from_settings():
    settings = dataclasses.replace(figure6_settings("smoke"), scaled_up=2.5)
    assert figure6_variants(settings)[1].roll_scale == 2.5
    assert "×2.5" in figure6_variants(settings)[1].name


def test_surface_error_is_zero_for_the_optimal_discriminator():
    class OptimalLogit(torch.nn.Module):
        def forward(self, v):
            log_ratio = data.GaussianPair.REAL.log_prob(v) - data.GaussianPair.FAKE.log_prob(v)
            return log_ratio.float().unsqueeze(1)

    mean_error, max_error = surface_error(OptimalLogit(), data.GaussianPair.optimal_discriminator, Limits.square(-2.5, 4.5), 30)
    assert mean_error == pytest.approx(0.0, abs=1e-6)
    assert max_error == pytest.approx(0.0, abs=1e-6)


def test_figure1_widget_reruns_a_panel():
    widgets = pytest.importorskip("gp_core.widgets")
    box = widgets.figure1_controls(tiny_figure1(), seed=0, device="cpu")
    controls = box.controls
    controls.penalty.value = "1-GP"
    controls.iterations.value = 5
    assert controls.overrides()["penalty"] == "1-GP"
    controls.run_button.click()
    assert controls.last_error is None
    assert controls.last_result.train.config.penalty == "1-GP"
    assert controls.last_result.train.iterations_done == 5


def test_figure2_widget_reruns_and_survives_divergence():
    widgets = pytest.importorskip("gp_core.widgets")
    box = widgets.figure2_controls(tiny_figure2(), seed=0, device="cpu")
    controls = box.controls
    controls.iterations.value = 3
    controls.optimizer.value = "adam"
    controls.run_button.click()
    assert controls.last_error is None
    assert controls.last_result.train.config.optimizer == "adam"
    assert sorted(controls.last_result.samples) == [3]
    controls.lr_d.value = 1e30  # beyond the slider's range, clipped to its maximum of 0.1
    controls.lr_g.max, controls.lr_g.value = 40, 1e40
    controls.run_button.click()
    assert controls.last_result is None or controls.last_result.diverged is not None
    assert not controls.run_button.disabled


def test_figure5_widget_stops_at_chosen_iteration():
    widgets = pytest.importorskip("gp_core.widgets")
    settings = dataclasses.replace(figure5_settings("smoke"), width=8, row=(0, 2, 50), n_eval=100)
    controls = widgets.figure5_controls(settings, seed=0, device="cpu").controls
    controls.iterations.value = 4
    controls.lam.value = 10.0
    controls.run_button.click()
    assert controls.last_error is None
    assert sorted(controls.last_result.samples) == [0, 2, 4]
    assert controls.last_result.spec.config.lam == pytest.approx(10.0)


def test_figure6_widget_uses_chosen_roll_scale():
    widgets = pytest.importorskip("gp_core.widgets")
    settings = dataclasses.replace(figure6_settings("smoke"), width=8, n_eval=100)
    box = widgets.figure6_controls(settings, seed=0, device="cpu")
    controls = box.controls
    controls.iterations.value = 3
    roll_scale = box.children[0].children[0].children[-1]
    roll_scale.value = 4.0
    controls.run_button.click()
    assert controls.last_error is None
    assert controls.last_result.spec.target.scale == 4.0
    assert controls.last_result.spec.config.penalty == "1-GP"
    assert sorted(controls.last_result.samples) == [3]


@pytest.mark.parametrize("settings_fn", [figure1_settings, figure2_settings, figure5_settings, figure6_settings])
def test_settings_reject_zero_seeds(settings_fn):
    with pytest.raises(ValueError, match="seeds must be a positive integer, got 0"):
        dataclasses.replace(settings_fn("smoke"), seeds=0)


def test_one_seed_is_reported_without_a_spread():
    from gp_core.experiments import mean_std

    assert mean_std([0.25]) == "0.250 (one seed)"
    assert mean_std([0.25, float("nan")]) == "0.250 (one seed) (1 diverged)"
