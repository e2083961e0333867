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

from .models import MLP, is_plain_mlp

__all__ = [
    "PENALTIES",
    "GRADIENT_OF",
    "PenaltyResult",
    "DiscriminatorPass",
    "gradient_penalty",
    "discriminator_pass",
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
        squared_norm: ``(batch,)`` tensor without a graph, ‖∇ D‖² at each of
            the penalty's points, or None for ``"none"``.
    """

    value: torch.Tensor
    squared_norm: torch.Tensor | None

    @property
    def grad_norm(self) -> torch.Tensor | None:
        """The batch mean of ‖∇ D‖ at the penalty's points (no graph), or None for ``"none"``."""
        return None if self.squared_norm is None else self.squared_norm.sqrt().mean()


@dataclass(frozen=True)
class DiscriminatorPass:
    """D's logits on a real and a fake batch, and the penalty, from one pass.

    Attributes:
        d_real: logits of the real batch, ``(batch, 1)``, with D's graph.
        d_fake: logits of the fake batch, with D's graph.
        penalty: the penalty, as ``gradient_penalty`` returns it.
    """

    d_real: torch.Tensor
    d_fake: torch.Tensor
    penalty: PenaltyResult


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
    again with respect to D's parameters. Without it, a ``models.MLP`` takes
    the closed form of ``_mlp_input_gradient`` in place of autograd.
    """
    if not create_graph and is_plain_mlp(discriminator, scalar_output=True):
        with torch.no_grad():
            logits, hidden = _mlp_forward(discriminator, v)
            return _mlp_input_gradient(discriminator, logits, hidden, gradient_of)
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


def _mlp_forward(mlp: MLP, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Return an MLP's logits and the output of each hidden layer."""
    layers = list(mlp)
    hidden = []
    for linear, activation in zip(layers[:-1:2], layers[1::2]):
        x = activation(linear(x))
        hidden.append(x)
    return layers[-1](x), hidden


def _mlp_input_gradient(
    mlp: MLP, logits: torch.Tensor, hidden: list[torch.Tensor], gradient_of: str
) -> torch.Tensor:
    """Return ∇ₓ D for the rows whose logits and hidden outputs are given, as an expression in D's parameters.

    The chain rule is written out layer by layer, from the output back to the
    input, so that the result is an ordinary differentiable function of the
    weights: the penalty's parameter gradient then needs one backward pass,
    with no double backward through autograd's own graph. A ReLU's derivative
    is a fixed 0/1 mask, so no gradient flows into the mask. A tanh's
    derivative 1 − h² is differentiated like any other term.
    """
    layers = list(mlp)
    weight = layers[-1].weight  # (1, width)
    if gradient_of == "probability":
        p = torch.sigmoid(logits)
        grad = (p * (1 - p)) * weight
    else:
        grad = weight.expand(logits.shape[0], -1)
    relu = mlp.config.activation == "relu"
    for linear, h in zip(reversed(layers[:-1:2]), reversed(hidden)):
        # threshold_backward(g, h, 0) is g where h > 0 and 0 elsewhere, in one kernel.
        grad = torch.ops.aten.threshold_backward(grad, h.detach(), 0) if relu else grad * (1 - h * h)
        grad = grad @ linear.weight
    return grad


def _penalty_result(grad: torch.Tensor, lam: float, center: float) -> PenaltyResult:
    squared_norm = grad.flatten(start_dim=1).pow(2).sum(dim=1)
    value = lam * centered_square(squared_norm, center).mean()
    return PenaltyResult(value=value, squared_norm=squared_norm.detach())


def _points(
    spec: _PenaltySpec,
    x_real: torch.Tensor,
    x_fake: torch.Tensor,
    generator: torch.Generator | None,
    alpha: torch.Tensor | None,
) -> torch.Tensor:
    if not spec.at_interpolates:
        return x_real
    if alpha is None:
        alpha = torch.rand(x_real.shape[0], generator=generator).to(x_real.device, x_real.dtype)
    return interpolate(x_real, x_fake, alpha)


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
        return PenaltyResult(value=x_real.new_zeros(()), squared_norm=None)
    points = _points(spec, x_real, x_fake, generator, alpha)
    if is_plain_mlp(discriminator, scalar_output=True):
        with torch.enable_grad():
            logits, hidden = _mlp_forward(discriminator, points)
            grad = _mlp_input_gradient(discriminator, logits, hidden, gradient_of)
    else:
        grad = input_gradient(discriminator, points, gradient_of, create_graph=True)
    return _penalty_result(grad, lam, spec.center)


def discriminator_pass(
    name: str,
    discriminator: nn.Module | Callable[[torch.Tensor], torch.Tensor],
    x_real: torch.Tensor,
    x_fake: torch.Tensor,
    lam: float,
    gradient_of: str = "probability",
    generator: torch.Generator | None = None,
    alpha: torch.Tensor | None = None,
) -> DiscriminatorPass:
    """Compute D's logits on both batches and the penalty ``name`` in one forward pass.

    The real, fake and penalty points are concatenated into one batch, which
    is exact because the samples do not interact in D (no batch statistics).
    The values equal ``discriminator(x_real)``, ``discriminator(x_fake)`` and
    ``gradient_penalty(...)`` with the same arguments, up to float rounding,
    and α is drawn from ``generator`` in the same way. For a ``models.MLP``
    the input gradient is written out in closed form (see
    ``_mlp_input_gradient``), so that D's backward pass is a single ordinary
    one. Any other D gets the gradient from autograd with ``create_graph``.
    """
    validate_penalty(name, lam, gradient_of)
    spec = PENALTIES[name]
    n = x_real.shape[0]
    if spec is None:
        d_real, d_fake = discriminator(torch.cat([x_real, x_fake])).split([n, x_fake.shape[0]])
        return DiscriminatorPass(d_real, d_fake, PenaltyResult(value=x_real.new_zeros(()), squared_norm=None))
    points = _points(spec, x_real, x_fake, generator, alpha)
    rows = slice(n + x_fake.shape[0], None) if spec.at_interpolates else slice(0, n)
    with torch.enable_grad():
        if is_plain_mlp(discriminator, scalar_output=True):
            batch = [x_real, x_fake, points] if spec.at_interpolates else [x_real, x_fake]
            logits, hidden = _mlp_forward(discriminator, torch.cat(batch))
            grad = _mlp_input_gradient(discriminator, logits[rows], [h[rows] for h in hidden], gradient_of)
        else:
            leaf = points.detach().requires_grad_(True)
            batch = [x_real, x_fake, leaf] if spec.at_interpolates else [leaf, x_fake]
            logits = discriminator(torch.cat(batch))
            output = torch.sigmoid(logits[rows]) if gradient_of == "probability" else logits[rows]
            (grad,) = torch.autograd.grad(output.sum(), leaf, create_graph=True)
    d_real, d_fake = logits[:n], logits[n : n + x_fake.shape[0]]
    return DiscriminatorPass(d_real, d_fake, _penalty_result(grad, lam, spec.center))
