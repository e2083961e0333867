r"""The parameter gradients of one GAN step for the MLPs of ``gp_core.models``, written out by hand.

A penalised D step through autograd builds a graph for the forward pass,
a second graph for the input gradient and then differentiates that graph
again. For the small MLPs of the synthetic and MNIST figures the time goes
into that bookkeeping and into many small kernels, not into arithmetic.
This module computes the same numbers with plain matrix products and
elementwise operations under ``torch.no_grad()``.

Notation, for one MLP with layers l = 1 … L+1 (the last one is the linear
output layer): ``weights[l-1]`` has shape (out, in), h₀ = x, aₗ = hₗ₋₁Wₗᵀ + bₗ,
hₗ = φ(aₗ) for l ≤ L, and f = h_L W_{L+1}ᵀ + b_{L+1}.

Input gradient of D at the penalty's points (rows P), as in
``penalties._mlp_input_gradient``: with s = σ'(f) for ``"probability"`` and
s = 1 for ``"logit"``,

    δ_L = s·W_{L+1},   eₗ = δₗ ⊙ φ'(aₗ),   δₗ₋₁ = eₗ Wₗ,   ∇ₓD = δ₀.

Backward pass of the penalty, from g₀ = ∂penalty/∂∇ₓD:

    ∂Wₗ += eₗᵀ gₗ₋₁,   ∂eₗ = gₗ₋₁ Wₗᵀ,   gₗ = ∂eₗ ⊙ φ'(aₗ),
    ∂W_{L+1} += sᵀ g_L,   ∂s = g_L W_{L+1}ᵀ.

A ReLU's φ' is a 0/1 mask with no derivative. A tanh's φ' = 1 − hₗ² adds
∂eₗ ⊙ δₗ ⊙ (−2hₗ) to ∂hₗ at the rows P. ∂s becomes ∂f = ∂s·σ'(f)(1 − 2σ(f))
for ``"probability"``. These ∂f and ∂hₗ terms join the loss's own ∂f in
one ordinary backward pass through the forward pass.

``supported`` checks which modules qualify. ``gp_core.train`` uses this module
for them and autograd for every other model; tests/test_mlp_step.py checks
every loss, penalty, ``gradient_of`` and activation against autograd.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .losses import LOSSES, Loss
from .models import MLP, is_plain_mlp
from .penalties import PENALTIES, _points, validate_penalty

__all__ = ["StepGradients", "supported", "loss_name", "discriminator_gradients", "generator_gradients", "assign", "sample"]


@dataclass(frozen=True)
class StepGradients:
    """The loss, the penalty and the parameter gradients of one step.

    Attributes:
        loss: scalar tensor, the player's loss without the penalty.
        penalty: scalar tensor, λ times the batch mean (0 for no penalty).
        grads: one tensor per parameter, in ``module.parameters()`` order.
    """

    loss: torch.Tensor
    penalty: torch.Tensor
    grads: list[torch.Tensor]


def supported(module: object, scalar_output: bool = False) -> bool:
    """Return True if this module's functions can take ``module``: see ``models.is_plain_mlp``.

    Pass ``scalar_output=True`` for a discriminator.
    """
    return is_plain_mlp(module, scalar_output)


def loss_name(loss: Loss) -> str | None:
    """Return ``"gan"`` or ``"wgan"`` for the loss objects of ``losses.LOSSES``, else None."""
    for name, known in LOSSES.items():
        if loss is known:
            return name
    return None


def assign(mlp: MLP, grads: list[torch.Tensor]) -> None:
    """Set each parameter's ``.grad`` to the matching tensor of ``grads`` (weight, bias, weight, …)."""
    for layer, weight_grad, bias_grad in zip(list(mlp)[::2], grads[::2], grads[1::2]):
        layer.weight.grad = weight_grad
        layer.bias.grad = bias_grad


@torch.no_grad()
def sample(mlp: MLP, z: torch.Tensor) -> torch.Tensor:
    """Return ``mlp(z)`` without a graph, as the D step needs G's samples."""
    weights, biases, relu = _layers(mlp)
    return _forward(weights, biases, relu, z)[0]


def _layers(mlp: MLP) -> tuple[list[torch.Tensor], list[torch.Tensor], bool]:
    linears = list(mlp)[::2]
    return [layer.weight for layer in linears], [layer.bias for layer in linears], mlp.config.activation == "relu"


def _forward(weights, biases, relu: bool, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Return the output and [h₀ = x, h₁, …, h_L]."""
    hidden = [x]
    for weight, bias in zip(weights[:-1], biases[:-1]):
        a = torch.addmm(bias, hidden[-1], weight.t())
        hidden.append(a.clamp_min_(0) if relu else a.tanh_())
    return torch.addmm(biases[-1], hidden[-1], weights[-1].t()), hidden


def _activation_grad(grad: torch.Tensor, h: torch.Tensor, relu: bool) -> torch.Tensor:
    """Return grad ⊙ φ'(a) from the layer's output h = φ(a)."""
    if relu:
        return torch.ops.aten.threshold_backward(grad, h, 0)
    return grad * (1 - h * h)


def _backward(
    weights, relu: bool, hidden: list[torch.Tensor], grad_out: torch.Tensor,
    extra: dict[int, torch.Tensor] | None = None, parameters: bool = True,
) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    """Backpropagate ``grad_out`` = ∂/∂output through the MLP whose forward pass left ``hidden``.

    ``extra[l]`` is added to ∂hₗ (same rows as ``hidden``). Returns the
    parameter gradients [∂W₁, ∂b₁, …] (empty if not ``parameters``) and ∂x
    (None if ``parameters`` and the input needs none).
    """
    depth = len(hidden) - 1
    grads: list[torch.Tensor] = [None] * (2 * (depth + 1))  # type: ignore[list-item]
    grad_a = grad_out
    for l in range(depth + 1, 0, -1):  # layer l maps h_{l-1} to a_l
        if parameters:
            grads[2 * l - 2] = _outer_sum(grad_a, hidden[l - 1])
            grads[2 * l - 1] = grad_a.sum(0)
        if l == 1 and parameters:
            return grads, None
        # A product with an inner size of 1 (the output layer) is a broadcast product.
        grad_h = grad_a * weights[l - 1] if grad_a.shape[1] == 1 else grad_a @ weights[l - 1]
        if l == 1:
            return [], grad_h
        if extra and l - 1 in extra:
            grad_h = grad_h + extra[l - 1]
        grad_a = _activation_grad(grad_h, hidden[l - 1], relu)
    raise AssertionError("unreachable")


def _outer_sum(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Return leftᵀ·right.

    With few columns on the right (a 2-D input), (rightᵀ·left)ᵀ ran about 4 times faster on 2 CPU cores.
    """
    if right.shape[1] < 16 < left.shape[1]:
        return (right.t() @ left).t().contiguous()
    return left.t() @ right


def _loss_terms(name: str, d_real: torch.Tensor, d_fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return D's loss and its derivatives with respect to the real and fake logits."""
    n_real, n_fake = d_real.shape[0], d_fake.shape[0]
    if name == "gan":
        loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        return loss, (torch.sigmoid(d_real) - 1) / n_real, torch.sigmoid(d_fake) / n_fake
    loss = d_fake.mean() - d_real.mean()
    return loss, torch.full_like(d_real, -1.0 / n_real), torch.full_like(d_fake, 1.0 / n_fake)


def _discriminator_gradients(
    discriminator: MLP,
    x_real: torch.Tensor,
    x_fake: torch.Tensor,
    loss: str,
    penalty: str,
    lam: float,
    gradient_of: str = "probability",
    generator: torch.Generator | None = None,
    alpha: torch.Tensor | None = None,
) -> StepGradients:
    """Return D's loss, the penalty and the gradient of their sum for one batch.

    The arguments mean what they mean for ``penalties.discriminator_pass``
    and ``losses.get_loss``, and α is drawn from ``generator`` in the same
    way. ``discriminator`` must pass ``supported(..., scalar_output=True)``.
    """
    validate_penalty(penalty, lam, gradient_of)
    weights, biases, relu = _layers(discriminator)
    spec = PENALTIES[penalty]
    n, n_fake = x_real.shape[0], x_fake.shape[0]
    if spec is None:
        logits, hidden = _forward(weights, biases, relu, torch.cat([x_real, x_fake]))
        loss_d, grad_real, grad_fake = _loss_terms(loss, logits[:n], logits[n:])
        grads, _ = _backward(weights, relu, hidden, torch.cat([grad_real, grad_fake]))
        return StepGradients(loss_d, x_real.new_zeros(()), grads)

    points = _points(spec, x_real, x_fake, generator, alpha)
    rows = slice(n + n_fake, None) if spec.at_interpolates else slice(0, n)
    batch = [x_real, x_fake, points] if spec.at_interpolates else [x_real, x_fake]
    logits, hidden = _forward(weights, biases, relu, torch.cat(batch))
    loss_d, grad_real, grad_fake = _loss_terms(loss, logits[:n], logits[n : n + n_fake])
    depth = len(hidden) - 1
    p_hidden = [h[rows] for h in hidden]

    # Input gradient at the points: δ_L = s·W_{L+1}, eₗ = δₗ ⊙ φ'(aₗ), δₗ₋₁ = eₗWₗ.
    if gradient_of == "probability":
        prob = torch.sigmoid(logits[rows])
        slope = prob * (1 - prob)
        delta = slope * weights[-1]
    else:
        slope = None
        delta = weights[-1].expand(p_hidden[0].shape[0], -1)
    deltas, es = [None] * (depth + 1), [None] * (depth + 1)
    deltas[depth] = delta
    for l in range(depth, 0, -1):
        es[l] = _activation_grad(deltas[l], p_hidden[l], relu)
        deltas[l - 1] = es[l] @ weights[l - 1]
    input_grad = deltas[0]

    squared = input_grad.flatten(start_dim=1).pow(2).sum(dim=1, keepdim=True)
    m = squared.shape[0]
    if spec.center == 0:
        penalty_value = lam * squared.mean()
        grad_input = input_grad * (2 * lam / m)
    else:
        tiny = torch.finfo(squared.dtype).tiny
        norm = squared.clamp_min(tiny).sqrt()
        penalty_value = lam * (norm - spec.center).pow(2).mean()
        # d/dq (√q − c)² = (√q − c)/√q where q > tiny. Below tiny the clamp passes no derivative.
        d_squared = torch.where(squared > tiny, (norm - spec.center) / norm, 0.0) * (lam / m)
        grad_input = input_grad * (2 * d_squared)

    # Backward pass of the penalty through the recursion.
    pen_grads: dict[int, torch.Tensor] = {}
    extra: dict[int, torch.Tensor] = {}
    g = grad_input
    for l in range(1, depth + 1):
        pen_grads[l - 1] = _outer_sum(es[l], g)
        grad_e = g @ weights[l - 1].t()
        g = _activation_grad(grad_e, p_hidden[l], relu)
        if not relu:
            extra[l] = grad_e * deltas[l] * (-2 * p_hidden[l])
    if slope is None:
        pen_grads[depth] = g.sum(0, keepdim=True)
        grad_f = None
    else:
        pen_grads[depth] = slope.t() @ g
        grad_f = (g @ weights[-1].t()) * slope * (1 - 2 * prob)

    # One backward pass through the forward pass, over the rows that receive a gradient.
    if spec.at_interpolates and (grad_f is not None or extra):
        grad_points = grad_f if grad_f is not None else grad_real.new_zeros(m, 1)
        padded = {l: torch.cat([e.new_zeros(n + n_fake, e.shape[1]), e]) for l, e in extra.items()}
        grads, _ = _backward(weights, relu, hidden, torch.cat([grad_real, grad_fake, grad_points]), padded)
    elif spec.at_interpolates:  # With a ReLU D and "logit", the points' rows get no gradient.
        loss_rows = [h[: n + n_fake] for h in hidden]
        grads, _ = _backward(weights, relu, loss_rows, torch.cat([grad_real, grad_fake]))
    else:  # the points are the real rows
        if grad_f is not None:
            grad_real = grad_real + grad_f
        padded = {l: torch.cat([e, e.new_zeros(n_fake, e.shape[1])]) for l, e in extra.items()}
        grads, _ = _backward(weights, relu, hidden, torch.cat([grad_real, grad_fake]), padded)
    for l, grad in pen_grads.items():
        grads[2 * l] += grad
    return StepGradients(loss_d, penalty_value, grads)


def _generator_gradients(generator_net: MLP, discriminator: MLP, z: torch.Tensor, loss: str) -> StepGradients:
    """Return G's loss and its gradient with respect to G's parameters. D's parameters get none.

    Both networks must pass ``supported``, D with ``scalar_output=True``.
    """
    g_weights, g_biases, g_relu = _layers(generator_net)
    d_weights, d_biases, d_relu = _layers(discriminator)
    x, g_hidden = _forward(g_weights, g_biases, g_relu, z)
    d_fake, d_hidden = _forward(d_weights, d_biases, d_relu, x)
    n = z.shape[0]
    if loss == "gan":
        loss_g = F.softplus(-d_fake).mean()
        grad_f = (torch.sigmoid(d_fake) - 1) / n
    else:
        loss_g = -d_fake.mean()
        grad_f = torch.full_like(d_fake, -1.0 / n)
    _, grad_x = _backward(d_weights, d_relu, d_hidden, grad_f, parameters=False)
    grads, _ = _backward(g_weights, g_relu, g_hidden, grad_x)
    return StepGradients(loss_g, z.new_zeros(()), grads)


# The public versions run without a graph. gp_core.train compiles the private
# functions instead, because torch.compile caches compiled versions per code
# object. Every function wrapped by torch.no_grad() runs through the same
# wrapper code, so the two would share one cache and its limit of 8 versions.
discriminator_gradients = torch.no_grad()(_discriminator_gradients)
generator_gradients = torch.no_grad()(_generator_gradients)
discriminator_gradients.__name__ = discriminator_gradients.__qualname__ = "discriminator_gradients"
generator_gradients.__name__ = generator_gradients.__qualname__ = "generator_gradients"
