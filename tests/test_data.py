"""Statistics of the data generators against the constants they are built from."""

import math

import pytest
import torch

from gp_core import data


def rng(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_eight_gaussians_centre_radius():
    centers = data.eight_gaussians_centers()
    assert centers.shape == (8, 2)
    assert torch.allclose(centers.norm(dim=1), torch.full((8,), 10 / 1.414), rtol=1e-6)
    angles = torch.atan2(centers[:, 1], centers[:, 0]).remainder(2 * math.pi)
    assert torch.allclose(angles.sort().values, torch.arange(8) * math.pi / 4, atol=1e-6)


def test_eight_gaussians_mode_std_and_frequencies():
    samples = data.eight_gaussians(80_000, rng())
    centers = data.eight_gaussians_centers()
    distances = torch.cdist(samples, centers)
    nearest = distances.argmin(dim=1)
    offsets = samples - centers[nearest]
    assert offsets.std(dim=0) == pytest.approx([0.02 / 1.414] * 2, rel=0.02)
    frequencies = torch.bincount(nearest, minlength=8) / len(samples)
    assert frequencies.tolist() == pytest.approx([1 / 8] * 8, abs=0.006)


def test_eight_gaussians_scale_moves_centres_not_noise():
    samples = data.eight_gaussians(20_000, rng(), scale=2.0)
    centers = data.eight_gaussians_centers(2.0)
    assert torch.allclose(centers.norm(dim=1), torch.full((8,), 2 / 1.414), rtol=1e-6)
    offsets = samples - centers[torch.cdist(samples, centers).argmin(dim=1)]
    assert offsets.std().item() == pytest.approx(0.02 / 1.414, rel=0.03)


def test_twenty_five_gaussians_grid_and_std():
    centers = data.twenty_five_gaussians_centers(scale=2.0)
    assert centers.shape == (25, 2)
    assert sorted(set(centers[:, 0].tolist())) == pytest.approx([t / 2.828 * 2 for t in (-4, -2, 0, 2, 4)])
    samples = data.twenty_five_gaussians(50_000, rng(), scale=2.0)
    offsets = samples - centers[torch.cdist(samples, centers).argmin(dim=1)]
    assert offsets.std(dim=0) == pytest.approx([0.05 / 2.828 * 2] * 2, rel=0.03)


def test_swiss_roll_radius_follows_parameter_range():
    """Noise-free points lie at radius t/7.5 with t uniform on [1.5π, 4.5π]."""
    samples = data.swiss_roll(50_000, rng())
    radius = samples.norm(dim=1)
    assert radius.mean().item() == pytest.approx(3 * math.pi / 7.5, rel=0.01)
    assert radius.quantile(0.01).item() == pytest.approx((1.5 * math.pi + 0.03 * math.pi) / 7.5, abs=0.05)
    assert radius.quantile(0.99).item() == pytest.approx((4.5 * math.pi - 0.03 * math.pi) / 7.5, abs=0.05)
    doubled = data.swiss_roll(50_000, rng(), scale=2.0)
    assert torch.allclose(doubled, 2 * samples, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(data.TARGETS))
def test_targets_are_deterministic_per_seed(name):
    first = data.sample_target(name, 100, rng(7))
    second = data.sample_target(name, 100, rng(7))
    third = data.sample_target(name, 100, rng(8))
    assert first.shape == (100, 2)
    assert first.dtype == torch.float32
    assert torch.equal(first, second)
    assert not torch.equal(first, third)


def test_figure1_gaussians_are_fixed_by_seed_and_size():
    a = data.figure1_gaussians(100, seed=0)
    b = data.figure1_gaussians(100, seed=0)
    assert a.x_real.shape == a.x_fake.shape == (100, 2)
    assert torch.equal(a.x_real, b.x_real)
    assert torch.equal(a.x_fake, b.x_fake)


def test_figure1_gaussians_moments():
    pair = data.figure1_gaussians(200_000, seed=1)
    assert pair.x_real.mean(0).tolist() == pytest.approx([0.4, 0.9], abs=0.01)
    assert pair.x_fake.mean(0).tolist() == pytest.approx([1.3, 1.2], abs=0.01)
    assert torch.cov(pair.x_real.T).flatten().tolist() == pytest.approx([1, 0.5, 0.5, 1], abs=0.015)
    assert torch.cov(pair.x_fake.T).flatten().tolist() == pytest.approx([1, 0.7, 0.7, 1], abs=0.015)


def gaussian_density(v, mean, cov):
    diff = torch.tensor(v, dtype=torch.float64) - torch.tensor(mean, dtype=torch.float64)
    cov = torch.tensor(cov, dtype=torch.float64)
    return math.exp(-0.5 * (diff @ torch.linalg.inv(cov) @ diff).item()) / (2 * math.pi * math.sqrt(torch.det(cov).item()))


@pytest.mark.parametrize("v", [(0.0, 0.0), (0.4, 0.9), (2.0, -1.0), (-2.5, 4.5)])
def test_optimal_discriminator_is_density_ratio(v):
    p_r = gaussian_density(v, (0.4, 0.9), ((1, 0.5), (0.5, 1)))
    p_g = gaussian_density(v, (1.3, 1.2), ((1, 0.7), (0.7, 1)))
    d_star = data.GaussianPair.optimal_discriminator(torch.tensor([v]))
    assert d_star.item() == pytest.approx(p_r / (p_r + p_g), rel=1e-5)


def test_optimal_discriminator_is_finite_far_away():
    far = torch.tensor([[100.0, -100.0], [-1e4, 1e4]])
    values = data.GaussianPair.optimal_discriminator(far)
    assert torch.isfinite(values).all()
    assert ((values >= 0) & (values <= 1)).all()


@pytest.mark.parametrize("n", [0, -3, 2.5])
def test_invalid_sample_count_raises(n):
    with pytest.raises(ValueError, match="sample count must be a positive integer"):
        data.eight_gaussians(n, rng())


@pytest.mark.parametrize("scale", [0.0, -1.0, float("inf")])
def test_invalid_scale_raises(scale):
    with pytest.raises(ValueError, match="scale must be a positive finite number"):
        data.swiss_roll(10, rng(), scale=scale)


def test_unknown_target_raises():
    with pytest.raises(ValueError, match="unknown target 'moons'"):
        data.sample_target("moons", 10, rng())
