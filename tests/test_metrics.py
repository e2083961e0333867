"""Mode coverage and sliced Wasserstein distance on constructed samples with known results."""

import math

import pytest
import torch

from gp_core import data
from gp_core.metrics import mode_coverage, sliced_wasserstein

CENTERS = data.eight_gaussians_centers()
STD = data.EIGHT_GAUSSIANS_STD / data.EIGHT_GAUSSIANS_DIVISOR
# A 2-D isotropic Gaussian puts 1 − exp(−3²/2) of its mass within 3 std of its mean.
INSIDE_3_STD = 1 - math.exp(-4.5)


def test_true_samples_cover_all_modes():
    samples = data.eight_gaussians(4_000, torch.Generator().manual_seed(0))
    coverage = mode_coverage(samples, CENTERS, STD)
    assert coverage.modes_covered == 8
    assert coverage.n_modes == 8
    assert coverage.high_quality_share == pytest.approx(INSIDE_3_STD, abs=0.005)
    assert coverage.largest_mode_share == pytest.approx(1 / 8, abs=0.02)


def test_collapsed_samples_cover_one_mode():
    samples = CENTERS[3] + STD * torch.randn(1_000, 2, generator=torch.Generator().manual_seed(0))
    coverage = mode_coverage(samples, CENTERS, STD)
    assert coverage.modes_covered == 1
    assert coverage.largest_mode_share == 1.0


def test_samples_between_modes_cover_none():
    samples = torch.zeros(500, 2)
    coverage = mode_coverage(samples, CENTERS, STD)
    assert coverage.modes_covered == 0
    assert coverage.high_quality_share == 0.0


def test_largest_share_counts_nearest_centre_at_any_distance():
    """A cloud gathered off-target near one mode is a collapse even though no sample is high quality."""
    near_mode_two = CENTERS[2] * 1.2 + 0.1 * torch.randn(400, 2, generator=torch.Generator().manual_seed(0))
    coverage = mode_coverage(near_mode_two, CENTERS, STD)
    assert coverage.high_quality_share == 0.0
    assert coverage.largest_mode_share == 1.0


def test_largest_share_of_wide_ring_is_one_eighth():
    angles = torch.arange(800) * (2 * math.pi / 800) + math.pi / 8 / 100
    ring = 5.0 * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    assert mode_coverage(ring, CENTERS, STD).largest_mode_share == pytest.approx(1 / 8, abs=0.01)


def test_mode_below_min_share_is_not_covered():
    """Five samples out of 1,000 on a second mode stay under the 1% threshold."""
    samples = torch.cat([CENTERS[0].expand(995, 2), CENTERS[1].expand(5, 2)])
    assert mode_coverage(samples, CENTERS, STD).modes_covered == 1
    assert mode_coverage(samples, CENTERS, STD, min_share=0.005).modes_covered == 2


def test_radius_is_three_standard_deviations():
    inside = CENTERS[0] + torch.tensor([2.9 * STD, 0.0])
    outside = CENTERS[0] + torch.tensor([3.1 * STD, 0.0])
    assert mode_coverage(inside.view(1, 2), CENTERS, STD).high_quality_share == 1.0
    assert mode_coverage(outside.view(1, 2), CENTERS, STD).high_quality_share == 0.0


@pytest.mark.parametrize(
    ("samples", "std", "message"),
    [
        (torch.zeros(5, 3), STD, "must be \\(n, d\\) and \\(k, d\\)"),
        (torch.zeros(0, 2), STD, "at least one sample"),
        (torch.zeros(5, 2), 0.0, "std must be positive"),
    ],
)
def test_invalid_input_raises(samples, std, message):
    with pytest.raises(ValueError, match=message):
        mode_coverage(samples, CENTERS, std)


def test_sliced_wasserstein_is_zero_for_identical_clouds():
    x = torch.randn(300, 2, generator=torch.Generator().manual_seed(0))
    assert sliced_wasserstein(x, x) == 0.0
    assert sliced_wasserstein(x, x[torch.randperm(300)]) == pytest.approx(0.0, abs=1e-12)


def test_sliced_wasserstein_of_shift_is_mean_projected_length():
    """Shifting a cloud by s moves every projection by s·θ, so the distance is the mean of |s·θ| = 2|s|/π."""
    x = torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    shift = torch.tensor([3.0, 4.0])
    assert sliced_wasserstein(x, x + shift, n_directions=4096) == pytest.approx(2 * 5.0 / math.pi, rel=1e-3)


def test_sliced_wasserstein_grows_with_distance_in_higher_dimensions():
    x = torch.randn(400, 5, generator=torch.Generator().manual_seed(0))
    near = sliced_wasserstein(x, x + 0.5)
    far = sliced_wasserstein(x, x + 2.0)
    assert 0 < near < far


def test_sliced_wasserstein_rejects_unequal_sizes():
    with pytest.raises(ValueError, match=r"same n and d, got \(3, 2\) and \(4, 2\)"):
        sliced_wasserstein(torch.zeros(3, 2), torch.zeros(4, 2))
