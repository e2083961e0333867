r"""Gradient penalties of the paper, looked up by name.

With x a real sample, y a generated one and D the discriminator:

========================  =====================================  ==================================
name                      penalty added to D's loss              evaluated at
========================  =====================================  ==================================
``"none"``                0                                      nowhere
``"0-GP"``                λ · E[ ‖∇ᵥ D(v)‖² ]                    v = α·x + (1 − α)·y, α ~ U(0, 1)
``"0-GP-sample"``         λ · E[ ‖∇ₓ D(x)‖² ]                    the real samples x
``"1-GP"``                λ · E[ (‖∇ᵥ D(v)‖ − 1)² ]              the same v as 0-GP
========================  =====================================  ==================================

``0-GP`` is the zero-centered penalty that Thanh-Tung et al. (ICLR 2019)
propose, ``0-GP-sample`` is R1 of Mescheder et al. (ICML 2018), and
``1-GP`` is the WGAN-GP penalty of Gulrajani et al. (NeurIPS 2017). One α is
drawn per (x, y) pair, and ‖·‖ is the L2 norm over all non-batch dimensions
of one sample (channels, height and width together for images), followed by
the mean over the batch.

``gradient_of`` picks which output of D is differentiated:

* ``"probability"`` (the default, as in Thanh-Tung et al.'s scripts):
  D(v) = σ(f(v)) with f the network's logit, so ∇ᵥ D = σ(f)(1 − σ(f)) ∇ᵥ f.
* ``"logit"`` (as in Mescheder et al.'s code, and the only sensible choice for
  a WGAN critic, which has no sigmoid): ∇ᵥ f.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

__all__ = [
    "PENALTIES",
    "GRADIENT_OF",
    "PenaltyResult",
    "gradient_penalty",
    "input_gradient",
    "interpolate",
    "per_sample_norm",
    "centered_square",
    "validate_penalty",
]

GRADIENT_OF = ("probability", "logit")


@dataclass(frozen=True)
class _PenaltySpec:
    at_interpolates: bool  # False: evaluate at the real samples only
    center: float  # the target gradient norm, 0 or 1


PENALTIES: dict[str, _PenaltySpec | None] = {
    "none": None,
    "0-GP": _PenaltySpec(at_interpolates=True, center=0.0),
    "0-GP-sample": _PenaltySpec(at_interpolates=False, center=0.0),
    "1-GP": _PenaltySpec(at_interpolates=True, center=1.0),
}


@dataclass(frozen=True)
class PenaltyResult:
    """A penalty and the gradient norms it was computed from.

    Attributes:
        value: scalar tensor, λ times the batch mean; it carries the graph
            that lets D's optimiser differentiate through the penalty.
        grad_norm: scalar tensor without a graph, the batch mean of ‖∇ D‖ at
            the penalty's points, or None for ``"none"``.
    """

    value: torch.Tensor
    grad_norm: torch.Tensor | None


def validate_penalty(name: str, lam: float, gradient_of: str = "probability") -> None:
    """Raise ValueError naming the bad value if the penalty settings are invalid."""
    if name not in PENALTIES:
        raise ValueError(f"unknown penalty {name!r}; choose one of {list(PENALTIES)}")
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not math.isfinite(lam):
        raise ValueError(f"penalty weight lam must be a finite number, got {lam!r}")
    if lam < 0:
        raise ValueError(
            f"penalty weight lam must be >= 0, got {lam!r}; use lam=0 or penalty='none' to turn it off"
        )
    if gradient_of not in GRADIENT_OF:
        raise ValueError(f"unknown gradient_of {gradient_of!r}; choose one of {list(GRADIENT_OF)}")


def interpolate(x_real: torch.Tensor, x_fake: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Return v = α·x_real + (1 − α)·x_fake with one α per sample pair.

    ``x_real`` and ``x_fake`` have the same shape ``(batch, ...)``; ``alpha``
    has shape ``(batch,)`` and is broadcast over the other dimensions.
    """
    if x_real.shape != x_fake.shape:
        raise ValueError(
            f"real and fake batches must have the same shape to interpolate, got "
            f"{tuple(x_real.shape)} and {tuple(x_fake.shape)}"
        )
    if alpha.shape != x_real.shape[:1]:
        raise ValueError(f"alpha must have shape ({x_real.shape[0]},), got {tuple(alpha.shape)}")
    alpha = alpha.view(-1, *([1] * (x_real.dim() - 1)))
    return alpha * x_real + (1 - alpha) * x_fake


def input_gradient(
    discriminator: Callable[[torch.Tensor], torch.Tensor],
    v: torch.Tensor,
    gradient_of: str = "probability",
    create_graph: bool = True,
) -> torch.Tensor:
    """Return ∇ᵥ D(v) for every sample of ``v``, with the shape of ``v``.

    ``discriminator`` maps ``(batch, ...)`` to logits of shape ``(batch, 1)``
    or ``(batch,)``. Samples do not interact in D, so the gradient of the
    summed outputs is the stack of the per-sample gradients.
    ``create_graph=True`` keeps the graph so the result can be differentiated
    again with respect to D's parameters.
    """
    v = v.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = discriminator(v)
        output = torch.sigmoid(logits) if gradient_of == "probability" else logits
        (grad,) = torch.autograd.grad(output.sum(), v, create_graph=create_graph)
    return grad


def per_sample_norm(grad: torch.Tensor) -> torch.Tensor:
    """Return the ``(batch,)`` L2 norms of ``grad`` over all non-batch dimensions."""
    return torch.linalg.vector_norm(grad.flatten(start_dim=1), dim=1)


def centered_square(squared_norm: torch.Tensor, center: float | torch.Tensor) -> torch.Tensor:
    """Return (‖g‖ − c)² from the squared norms ‖g‖², elementwise.

    For c = 0 this is ‖g‖² itself, used directly because the norm's own
    derivative is undefined at a zero gradient, which a flat D produces.
    ``center`` is a number or a tensor that broadcasts against
    ``squared_norm``, one centre per ensemble member. Entries with c = 0 take
    the ‖g‖² path.
    """
    if not isinstance(center, torch.Tensor) and center == 0:
        return squared_norm
    # Clamping at the smallest normal number keeps the square root's
    # derivative finite (and zero) where the gradient vanishes.
    norm = squared_norm.clamp_min(torch.finfo(squared_norm.dtype).tiny).sqrt()
    if not isinstance(center, torch.Tensor):
        return (norm - center).pow(2)
    return torch.where(center == 0, squared_norm, (norm - center).pow(2))


def gradient_penalty(
    name: str,
    discriminator: nn.Module | Callable[[torch.Tensor], torch.Tensor],
    x_real: torch.Tensor,
    x_fake: torch.Tensor,
    lam: float,
    gradient_of: str = "probability",
    generator: torch.Generator | None = None,
    alpha: torch.Tensor | None = None,
) -> PenaltyResult:
    """Compute the penalty ``name`` (a key of ``PENALTIES``) on one batch.

    Args:
        name: ``"none"``, ``"0-GP"``, ``"0-GP-sample"`` or ``"1-GP"``.
        discriminator: maps ``(batch, ...)`` to logits ``(batch, 1)``.
        x_real: real samples, ``(batch, ...)``.
        x_fake: generated samples of the same shape, detached from G.
        lam: λ ≥ 0, the penalty's weight.
        gradient_of: ``"probability"`` or ``"logit"``, see the module docstring.
        generator: random source for α.
        alpha: optional ``(batch,)`` tensor that replaces the random α.

    Returns:
        A PenaltyResult whose value is a scalar tensor with D's graph.
    """
    validate_penalty(name, lam, gradient_of)
    spec = PENALTIES[name]
    if spec is None:
        return PenaltyResult(value=x_real.new_zeros(()), grad_norm=None)

    if spec.at_interpolates:
        if alpha is None:
            alpha = torch.rand(x_real.shape[0], generator=generator).to(x_real.device, x_real.dtype)
        points = interpolate(x_real, x_fake, alpha)
    else:
        points = x_real

    grad = input_gradient(discriminator, points, gradient_of, create_graph=True)
    squared_norm = grad.flatten(start_dim=1).pow(2).sum(dim=1)
    value = lam * centered_square(squared_norm, spec.center).mean()
    return PenaltyResult(value=value, grad_norm=squared_norm.detach().sqrt().mean())
