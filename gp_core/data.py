"""Two-dimensional data sets of the synthetic experiments of Thanh-Tung et al. (ICLR 2019).

Every sampler takes a ``torch.Generator`` so that a seed fixes the samples,
and returns a float32 tensor of shape ``(n, 2)``. The constants follow the
authors' public scripts: 8 Gaussians of std 0.02 on a circle of radius
``scale`` divided by 1.414; 25 Gaussians of std 0.05 on the grid
{-4, -2, 0, 2, 4}² divided by 2.828 and multiplied by ``scale``; the swiss roll
of scikit-learn's ``make_swiss_roll(noise=0.25)`` (coordinates 0 and 2)
divided by 7.5 and multiplied by ``scale``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

__all__ = [
    "GaussianPair",
    "figure1_gaussians",
    "eight_gaussians",
    "twenty_five_gaussians",
    "swiss_roll",
    "eight_gaussians_centers",
    "twenty_five_gaussians_centers",
    "TARGETS",
    "sample_target",
]

# Divisors and noise levels of the authors' scripts, kept by name so that the
# mode-coverage metrics can use the same numbers as the samplers.
EIGHT_GAUSSIANS_STD = 0.02
EIGHT_GAUSSIANS_DIVISOR = 1.414
TWENTY_FIVE_GAUSSIANS_STD = 0.05
TWENTY_FIVE_GAUSSIANS_DIVISOR = 2.828
SWISS_ROLL_NOISE = 0.25
SWISS_ROLL_DIVISOR = 7.5


def _check_count(n: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"sample count must be a positive integer, got {n!r}")


def _check_scale(scale: float) -> None:
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")


class _Gaussian2d:
    """A bivariate normal distribution with an exact log-density."""

    def __init__(self, mean: tuple[float, float], cov: tuple[tuple[float, float], ...]):
        self.mean = torch.tensor(mean, dtype=torch.float64)
        self.cov = torch.tensor(cov, dtype=torch.float64)
        self._chol = torch.linalg.cholesky(self.cov)
        self._cov_inv = torch.linalg.inv(self.cov)
        self._log_norm = -math.log(2 * math.pi) - 0.5 * torch.logdet(self.cov).item()

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        eps = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        return (self.mean + eps @ self._chol.T).float()

    def log_prob(self, v: torch.Tensor) -> torch.Tensor:
        diff = v.to(torch.float64) - self.mean
        mahalanobis = ((diff @ self._cov_inv) * diff).sum(-1)
        return self._log_norm - 0.5 * mahalanobis


@dataclass(frozen=True)
class GaussianPair:
    """Fixed finite samples from the two Gaussians of Figure 1 of Thanh-Tung et al. (2019).

    Attributes:
        x_real: ``(n_samples, 2)`` samples of p_r = N((0.4, 0.9), [[1, 0.5], [0.5, 1]]).
        x_fake: ``(n_samples, 2)`` samples of p_g = N((1.3, 1.2), [[1, 0.7], [0.7, 1]]).
    """

    x_real: torch.Tensor
    x_fake: torch.Tensor

    REAL = _Gaussian2d((0.4, 0.9), ((1.0, 0.5), (0.5, 1.0)))
    FAKE = _Gaussian2d((1.3, 1.2), ((1.0, 0.7), (0.7, 1.0)))

    @staticmethod
    def optimal_discriminator(v: torch.Tensor) -> torch.Tensor:
        """Evaluate D*(v) = p_r(v) / (p_r(v) + p_g(v)) for points ``v`` of shape ``(..., 2)``.

        This is the discriminator that minimises the GAN loss against the true
        densities (Goodfellow et al., 2014, Proposition 1). It is computed as
        sigmoid(log p_r − log p_g) so that it stays finite far from both means.
        """
        log_ratio = GaussianPair.REAL.log_prob(v) - GaussianPair.FAKE.log_prob(v)
        return torch.sigmoid(log_ratio).float()


def figure1_gaussians(n_samples: int, seed: int) -> GaussianPair:
    """Draw ``n_samples`` real and ``n_samples`` fake points once, from ``seed``.

    The same seed and size always return the same points: the finite, fixed
    data set is what Figure 1 is about.
    """
    _check_count(n_samples)
    generator = torch.Generator().manual_seed(seed)
    x_real = GaussianPair.REAL.sample(n_samples, generator)
    x_fake = GaussianPair.FAKE.sample(n_samples, generator)
    return GaussianPair(x_real=x_real, x_fake=x_fake)


def _circle_of_eight(scale: float) -> torch.Tensor:
    _check_scale(scale)
    angles = torch.arange(8, dtype=torch.float64) * (math.pi / 4)
    return (scale * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)).float()


def eight_gaussians_centers(scale: float = 10.0) -> torch.Tensor:
    """Return the ``(8, 2)`` mode centres: angles k·45° on a circle of radius scale/1.414."""
    return _circle_of_eight(scale) / EIGHT_GAUSSIANS_DIVISOR


def eight_gaussians(n: int, generator: torch.Generator, scale: float = 10.0) -> torch.Tensor:
    """Sample the 8-Gaussians mixture: a uniform centre plus N(0, 0.02²·I), divided by 1.414.

    With the default ``scale`` of 10 the modes sit at radius ≈ 7.07 with a
    per-mode standard deviation of ≈ 0.0141.
    """
    _check_count(n)
    centers = _circle_of_eight(scale)
    index = torch.randint(0, 8, (n,), generator=generator)
    noise = EIGHT_GAUSSIANS_STD * torch.randn(n, 2, generator=generator)
    return (centers[index] + noise) / EIGHT_GAUSSIANS_DIVISOR


def twenty_five_gaussians_centers(scale: float = 1.0) -> torch.Tensor:
    """Return the ``(25, 2)`` mode centres: the grid {-4, -2, 0, 2, 4}² divided by 2.828, times scale."""
    _check_scale(scale)
    return _grid_of_twenty_five() / TWENTY_FIVE_GAUSSIANS_DIVISOR * scale


def _grid_of_twenty_five() -> torch.Tensor:
    ticks = torch.arange(-4.0, 5.0, 2.0)
    return torch.cartesian_prod(ticks, ticks)


def twenty_five_gaussians(n: int, generator: torch.Generator, scale: float = 1.0) -> torch.Tensor:
    """Sample the 25-Gaussians mixture: grid centre plus N(0, 0.05²·I), divided by 2.828, times scale."""
    _check_count(n)
    _check_scale(scale)
    grid = _grid_of_twenty_five()
    index = torch.randint(0, 25, (n,), generator=generator)
    noise = TWENTY_FIVE_GAUSSIANS_STD * torch.randn(n, 2, generator=generator)
    return (grid[index] + noise) / TWENTY_FIVE_GAUSSIANS_DIVISOR * scale


def swiss_roll(n: int, generator: torch.Generator, scale: float = 1.0) -> torch.Tensor:
    """Sample the 2-D swiss roll, as scikit-learn's ``make_swiss_roll(noise=0.25)`` draws it.

    t = 1.5π(1 + 2u) with u ~ U(0, 1); the point (t·cos t, t·sin t) gets
    N(0, 0.25²·I) noise, is divided by 7.5 and multiplied by ``scale``.
    scikit-learn's second coordinate (the roll's height, uniform on [0, 21])
    is not used by the paper, so it is not drawn.
    """
    _check_count(n)
    _check_scale(scale)
    t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator))
    points = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1)
    points = points + SWISS_ROLL_NOISE * torch.randn(n, 2, generator=generator)
    return points / SWISS_ROLL_DIVISOR * scale


Sampler = Callable[..., torch.Tensor]

TARGETS: dict[str, Sampler] = {
    "8gaussians": eight_gaussians,
    "25gaussians": twenty_five_gaussians,
    "swissroll": swiss_roll,
}


def sample_target(name: str, n: int, generator: torch.Generator, scale: float | None = None) -> torch.Tensor:
    """Sample ``n`` points of the target named ``name`` (a key of ``TARGETS``).

    ``scale`` of None keeps each sampler's default (10 for 8 Gaussians, 1 otherwise).
    """
    try:
        sampler = TARGETS[name]
    except KeyError:
        raise ValueError(f"unknown target {name!r}; choose one of {sorted(TARGETS)}") from None
    if scale is None:
        return sampler(n, generator)
    return sampler(n, generator, scale=scale)
