"""Value surfaces and gradient fields of two-dimensional discriminators."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from torch import nn
import torch.nn.functional as F

__all__ = [
    "Limits",
    "grid_points",
    "probability_on_grid",
    "surface_error",
    "plot_value_surface",
    "log_d_gradient",
    "plot_gradient_field",
    "REAL_COLOR",
    "FAKE_COLOR",
]

REAL_COLOR = "tab:orange"
FAKE_COLOR = "tab:blue"
SURFACE_LEVELS = np.linspace(0.0, 1.0, 11)


@dataclass(frozen=True)
class Limits:
    """The square (or rectangle) [low_x, high_x] × [low_y, high_y] that a panel shows."""

    low_x: float
    high_x: float
    low_y: float
    high_y: float

    @classmethod
    def square(cls, low: float, high: float) -> "Limits":
        """Return the square [low, high]²."""
        return cls(low, high, low, high)


def grid_points(limits: Limits, resolution: int) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """Return the mesh ``(xx, yy)``, each ``(resolution, resolution)``, and its ``(resolution², 2)`` points."""
    if resolution < 2:
        raise ValueError(f"grid resolution must be at least 2, got {resolution}")
    xs = np.linspace(limits.low_x, limits.high_x, resolution)
    ys = np.linspace(limits.low_y, limits.high_y, resolution)
    xx, yy = np.meshgrid(xs, ys)
    points = torch.tensor(np.stack([xx.ravel(), yy.ravel()], axis=1), dtype=torch.float32)
    return xx, yy, points


def _device_of(module: nn.Module) -> torch.device:
    parameter = next(module.parameters(), None)
    return torch.device("cpu") if parameter is None else parameter.device


@torch.no_grad()
def probability_on_grid(discriminator: nn.Module, limits: Limits, resolution: int = 100) -> np.ndarray:
    """Return σ(D's logit) on the ``resolution × resolution`` grid, as a ``(resolution, resolution)`` array."""
    _, _, points = grid_points(limits, resolution)
    logits = discriminator(points.to(_device_of(discriminator)))
    return torch.sigmoid(logits).reshape(resolution, resolution).cpu().numpy()


def surface_error(
    discriminator: nn.Module,
    optimal: Callable[[torch.Tensor], torch.Tensor],
    limits: Limits,
    resolution: int = 100,
) -> tuple[float, float]:
    """Return the mean and max of |D(v) − D*(v)| over the grid points v."""
    _, _, points = grid_points(limits, resolution)
    trained = probability_on_grid(discriminator, limits, resolution).ravel()
    target = optimal(points).numpy()
    error = np.abs(trained - target)
    return float(error.mean()), float(error.max())


def _scatter_samples(ax: Axes, x_real: torch.Tensor | None, x_fake: torch.Tensor | None, size: float) -> None:
    # Real points go on top: on the mixture targets they are tight clusters
    # that the generated points would otherwise hide.
    if x_fake is not None:
        ax.scatter(*x_fake.cpu().T, s=size, c=FAKE_COLOR, edgecolors="k", linewidths=0.3, label="fake")
    if x_real is not None:
        ax.scatter(*x_real.cpu().T, s=size, c=REAL_COLOR, edgecolors="k", linewidths=0.3, label="real")


def plot_value_surface(
    ax: Axes,
    values: np.ndarray,
    limits: Limits,
    x_real: torch.Tensor | None = None,
    x_fake: torch.Tensor | None = None,
    title: str = "",
    point_size: float = 8.0,
):
    """Draw filled contours of a ``(resolution, resolution)`` array of D values at levels 0, 0.1, …, 1.

    Returns the contour set, for a shared colour bar.
    """
    resolution = values.shape[0]
    xx, yy, _ = grid_points(limits, resolution)
    contours = ax.contourf(xx, yy, values, levels=SURFACE_LEVELS, cmap="RdBu_r", vmin=0, vmax=1)
    _scatter_samples(ax, x_real, x_fake, point_size)
    ax.set_xlim(limits.low_x, limits.high_x)
    ax.set_ylim(limits.low_y, limits.high_y)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=10)
    return contours


def log_d_gradient(discriminator: nn.Module, points: torch.Tensor) -> torch.Tensor:
    """Return ∇ᵥ log D(v) = (1 − σ(f(v))) ∇ᵥ f(v) for ``(n, 2)`` points, with f the logit.

    log σ(f) is computed as −softplus(−f), which stays finite where σ(f) underflows.
    """
    points = points.to(_device_of(discriminator)).detach().requires_grad_(True)
    with torch.enable_grad():
        log_d = -F.softplus(-discriminator(points))
        (grad,) = torch.autograd.grad(log_d.sum(), points)
    return grad.cpu()


def plot_gradient_field(
    ax: Axes,
    discriminator: nn.Module,
    limits: Limits,
    x_real: torch.Tensor | None = None,
    x_fake: torch.Tensor | None = None,
    title: str = "",
    resolution: int = 20,
    point_size: float = 4.0,
) -> float:
    """Draw arrows of ∇ᵥ log D(v) on a ``resolution × resolution`` grid, with the samples.

    Matplotlib scales all arrows of a panel by one factor, so their lengths
    compare within a panel, not across panels. Returns the largest arrow's
    norm, which callers print to make panels comparable.
    """
    xx, yy, points = grid_points(limits, resolution)
    grad = log_d_gradient(discriminator, points).numpy()
    _scatter_samples(ax, x_real, x_fake, point_size)
    ax.quiver(
        xx, yy, grad[:, 0].reshape(xx.shape), grad[:, 1].reshape(xx.shape), color="0.25", width=0.004
    )
    ax.set_xlim(limits.low_x, limits.high_x)
    ax.set_ylim(limits.low_y, limits.high_y)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=10)
    return float(np.linalg.norm(grad, axis=1).max())


def new_figure(n_panels: int, columns: int, panel_size: float = 3.0):
    """Return a figure and a flat list of ``n_panels`` axes laid out in ``columns`` columns."""
    rows = -(-n_panels // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(panel_size * columns, panel_size * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n_panels:]:
        ax.set_visible(False)
    return fig, flat[:n_panels]
