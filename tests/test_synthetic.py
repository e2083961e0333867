"""Targets, the distance's noise floor, and the grouping of runs into ensembles."""

import pytest
import torch

from gp_core import data
from gp_core.experiments.synthetic import RunSpec, Target, distance_noise, records_of, summarise, train_runs
from gp_core.train import TrainConfig


def test_target_measures_follow_the_samplers():
    eight = Target("8gaussians", 10.0)
    assert torch.equal(eight.centers, data.eight_gaussians_centers(10.0))
    assert eight.mode_std == pytest.approx(0.02 / 1.414)
    grid = Target("25gaussians", 2.0)
    assert grid.mode_std == pytest.approx(0.05 / 2.828 * 2.0)
    roll = Target("swissroll", 4.0)
    assert roll.centers is None
    assert roll.mode_std is None
    assert roll.coverage(torch.zeros(3, 2)) is None
    points = roll.sample(1_000, torch.Generator().manual_seed(0))
    # The roll's outer arm reaches t = 4.5π, times 4 / 7.5, plus noise.
    assert points.norm(dim=1).max() == pytest.approx(4.5 * torch.pi * 4 / 7.5, rel=0.1)


def test_true_samples_cover_every_mode_of_either_mixture():
    for target in (Target("8gaussians", 10.0), Target("25gaussians", 1.0)):
        samples = target.sample(5_000, torch.Generator().manual_seed(1))
        coverage = target.coverage(samples)
        assert coverage.modes_covered == coverage.n_modes


@pytest.mark.parametrize(
    ("name", "scale", "message"),
    [
        ("moons", 1.0, "unknown target 'moons'"),
        ("swissroll", 0.0, "positive finite number, got 0.0"),
        ("swissroll", float("inf"), "positive finite number, got inf"),
        ("swissroll", True, "positive finite number, got True"),
    ],
)
def test_invalid_target_raises(name, scale, message):
    with pytest.raises(ValueError, match=message):
        Target(name, scale)


def test_distance_noise_shrinks_with_sample_size():
    roll = Target("swissroll", 1.0)
    small = distance_noise(roll, 200, repeats=6)
    large = distance_noise(roll, 3_200, repeats=6)
    assert small.std > 0
    assert large.std > 0
    # The floor falls roughly as 1/sqrt(n): 16 times the points, about a quarter of the distance.
    assert large.mean / small.mean == pytest.approx(0.25, abs=0.12)
    assert distance_noise(roll, 200, repeats=6) == small  # seeded


def test_train_runs_groups_by_shared_settings(capsys):
    roll = Target("swissroll", 1.0)
    base = TrainConfig(iterations=4, log_every=2, snapshot_at=(4,))
    specs = [
        RunSpec("a", base.replace(penalty="0-GP"), roll),
        RunSpec("b", base.replace(iterations=6, snapshot_at=(6,)), roll),
        RunSpec("c", base.replace(penalty="1-GP", lr_g=1e-3), Target("swissroll", 4.0)),
    ]
    records = train_runs(specs, seeds=[0, 1], width=8, n_eval=50)
    assert [(r.spec.label, r.seed) for r in records] == [("a", 0), ("a", 1), ("b", 0), ("b", 1), ("c", 0), ("c", 1)]
    assert capsys.readouterr().out.count("runs at once") == 2
    assert sorted(records[2].distance) == [6]
    assert summarise(records_of(records, "a"), 4)["distance"].count("±") == 1
    with pytest.raises(ValueError, match="no run labelled 'd'"):
        records_of(records, "d")
