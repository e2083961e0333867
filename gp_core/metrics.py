"""Measures of how well generated samples match a target distribution."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["ModeCoverage", "mode_coverage", "sliced_wasserstein"]


@dataclass(frozen=True)
class ModeCoverage:
    """Coverage of the modes of a Gaussian mixture by a set of samples.

    Attributes:
        modes_covered: modes that received at least ``min_share`` of the samples
            within ``radius_stds`` standard deviations of their centre.
        n_modes: number of modes of the target.
        high_quality_share: fraction of samples within ``radius_stds``
            standard deviations of some centre.
        largest_mode_share: the largest fraction of all samples that share
            one nearest centre, at any distance from it. Near 1 means the
            samples gathered on one side of the target (a collapse), 1/k means
            they spread evenly over the k modes' neighbourhoods.
    """

    modes_covered: int
    n_modes: int
    high_quality_share: float
    largest_mode_share: float


def mode_coverage(
    samples: torch.Tensor,
    centers: torch.Tensor,
    std: float,
    radius_stds: float = 3.0,
    min_share: float = 0.01,
) -> ModeCoverage:
    """Count covered modes and high-quality samples, the usual measures for mixture targets.

    A sample is *high quality* when its distance to the nearest centre is at
    most ``radius_stds * std``. A mode is *covered* when at least
    ``min_share`` of all samples are high quality and nearest to it.

    Args:
        samples: ``(n, d)`` generated points.
        centers: ``(k, d)`` mode centres.
        std: per-coordinate standard deviation of each mode, in the units of ``samples``.
        radius_stds: the acceptance radius in standard deviations.
        min_share: fraction of samples a mode needs to count as covered.
    """
    if samples.dim() != 2 or centers.dim() != 2 or samples.shape[1] != centers.shape[1]:
        raise ValueError(
            f"samples and centers must be (n, d) and (k, d), got {tuple(samples.shape)} and {tuple(centers.shape)}"
        )
    if len(samples) == 0:
        raise ValueError("mode_coverage needs at least one sample")
    if std <= 0:
        raise ValueError(f"std must be positive, got {std}")
    distances = torch.cdist(samples.float(), centers.float())
    nearest_distance, nearest = distances.min(dim=1)
    good = nearest_distance <= radius_stds * std
    counts = torch.bincount(nearest[good], minlength=len(centers))
    n = len(samples)
    return ModeCoverage(
        modes_covered=int((counts >= min_share * n).sum()),
        n_modes=len(centers),
        high_quality_share=float(good.float().mean()),
        largest_mode_share=float(torch.bincount(nearest, minlength=len(centers)).max()) / n,
    )


def sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, n_directions: int = 128, seed: int = 0) -> float:
    """Estimate the sliced Wasserstein-1 distance between two equally sized point clouds.

    Both ``(n, d)`` clouds are projected on ``n_directions`` unit vectors:
    evenly spaced angles in 2-D, seeded random directions otherwise. On each
    line the 1-D Wasserstein-1 distance is the mean absolute difference of the
    sorted projections. The result, in the units of the samples, is the mean
    over directions: 0 for identical clouds, growing as they part. For two
    independent samples of one distribution it is positive, and it shrinks
    roughly as 1/√n, so compare it with that floor.
    """
    if x.dim() != 2 or x.shape != y.shape:
        raise ValueError(
            f"x and y must both be (n, d) with the same n and d, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if n_directions < 1:
        raise ValueError(f"n_directions must be positive, got {n_directions}")
    d = x.shape[1]
    if d == 2:
        angles = torch.arange(n_directions, dtype=torch.float64) * (torch.pi / n_directions)
        directions = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    else:
        directions = torch.randn(n_directions, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        directions = directions / directions.norm(dim=1, keepdim=True)
    projected_x = (x.double() @ directions.T).sort(dim=0).values
    projected_y = (y.double() @ directions.T).sort(dim=0).values
    return float((projected_x - projected_y).abs().mean())
