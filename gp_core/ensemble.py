"""Many small GANs trained at once: one set of batched matrix products for every seed and setting.

The synthetic figures train the same small MLPs many times (seeds × methods
× settings). One such model leaves the CPU idle between tiny kernels, so
``train_gan_ensemble`` stacks K models of one shape into tensors with a
leading *member* dimension and runs all of them with batched matrix
products (``torch.baddbmm``). The members never interact, although a
batched kernel may round differently for another member count:

* Every loss and penalty is computed per member, shape ``(K,)``, and the
  backward pass starts from their sum, so each member's parameters receive
  exactly the gradient of its own loss.
* SGD and Adam act elementwise, so one update of the stacked tensors equals K
  separate updates. Learning rates are per member, so TTUR and non-TTUR runs
  can share an ensemble.
* Each member draws its real data, z and α from its own ``torch.Generator``
  seeded with its own seed, in the order ``train_gan`` draws them, and starts
  from the weights ``make_generator``/``make_discriminator`` build under that
  seed. A member therefore follows the run ``train_gan`` makes with its
  configuration, up to float rounding (tested).

Members may differ in seed, penalty, λ, learning rates, snapshot iterations
and target distribution. Everything that shapes the computation (loss,
optimizer, betas, batch size, iterations, …) is shared.

A member whose loss or gradient turns NaN or infinite stops: its weights
stay at their last finite values, its record ends with a ``NonFiniteError``
like the one ``train_gan`` raises, and the other members go on.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from .losses import get_loss
from .models import MLP, MLPConfig, make_discriminator, make_generator
from .penalties import PENALTIES, centered_square, input_gradient
from .train import (
    NonFiniteError,
    SampleFn,
    Snapshot,
    TrainConfig,
    TrainResult,
    _progress,
    _record,
    resolve_device,
    seeded,
)

__all__ = ["EnsembleMLP", "Member", "EnsembleResult", "SHARED_FIELDS", "train_gan_ensemble"]

# TrainConfig fields every member of one ensemble must share; the others
# (seed, penalty, lam, lr_d, lr_g, snapshot_at) may differ.
SHARED_FIELDS = (
    "loss",
    "gradient_of",
    "optimizer",
    "beta1",
    "beta2",
    "d_steps",
    "batch_size",
    "iterations",
    "log_every",
    "device",
)


class EnsembleMLP(nn.Module):
    """K multilayer perceptrons of one shape, evaluated together.

    Layer i has a weight of shape ``(K, fan_in, fan_out)`` and a bias of
    shape ``(K, 1, fan_out)``. Input ``(K, batch, in_features)``, output
    ``(K, batch, out_features)``; member k uses only row k of the input.
    """

    def __init__(self, config: MLPConfig, members: int):
        super().__init__()
        if not isinstance(members, int) or members < 1:
            raise ValueError(f"an ensemble needs a positive number of members, got {members!r}")
        self.config = config
        self.members = members
        sizes = [config.in_features] + [config.width] * config.depth + [config.out_features]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.zeros(members, fan_in, fan_out)) for fan_in, fan_out in zip(sizes[:-1], sizes[1:])
        )
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(members, 1, fan_out)) for fan_out in sizes[1:])
        self.activation = {"relu": torch.relu, "tanh": torch.tanh}[config.activation]

    @classmethod
    def stack(cls, models: Sequence[MLP]) -> "EnsembleMLP":
        """Build an ensemble whose member k has the weights of ``models[k]`` (all of one MLPConfig)."""
        if not models:
            raise ValueError("EnsembleMLP.stack needs at least one model")
        configs = {model.config for model in models}
        if len(configs) != 1:
            raise ValueError(f"all models of an ensemble must share one MLPConfig, got {sorted(map(str, configs))}")
        ensemble = cls(models[0].config, len(models))
        with torch.no_grad():
            for i, (weight, bias) in enumerate(zip(ensemble.weights, ensemble.biases)):
                layer = [model[2 * i] for model in models]  # Linear layers sit at even positions
                weight.copy_(torch.stack([linear.weight.T for linear in layer]))
                bias.copy_(torch.stack([linear.bias.unsqueeze(0) for linear in layer]))
        return ensemble

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.weights) - 1
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(bias, x, weight)
            if i < last:
                x = self.activation(x)
        return x

    def member(self, k: int) -> MLP:
        """Return member k as an ordinary MLP with copies of its weights, on this ensemble's device."""
        model = MLP(self.config).to(self.weights[0].device)
        with torch.no_grad():
            for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
                model[2 * i].weight.copy_(weight[k].T)
                model[2 * i].bias.copy_(bias[k, 0])
        return model


@dataclass(frozen=True)
class Member:
    """One run of an ensemble.

    Attributes:
        config: the run's settings; the ``SHARED_FIELDS`` must match the other members'.
        sample_real: ``(n, generator) -> (n, data_dim)`` draws real samples on the CPU.
        label: a name for progress lines and tables.
    """

    config: TrainConfig
    sample_real: SampleFn
    label: str = ""


@dataclass
class EnsembleResult:
    """The records of every member of one ensemble.

    Attributes:
        results: one TrainResult per member, in the members' order; a member
            that diverged has the history and snapshots up to its last finite
            iteration.
        errors: per member, the NonFiniteError that stopped it, or None.
        wall_time_s: seconds the whole ensemble trained.
    """

    results: list[TrainResult]
    errors: list[NonFiniteError | None]
    wall_time_s: float


class _MemberwiseOptimizer:
    """SGD or Adam (with torch.optim's update rule) and one learning rate per member.

    Members whose entry of ``active`` is False are left unchanged, and their
    gradients, possibly NaN, are ignored.
    """

    def __init__(self, parameters: Sequence[nn.Parameter], kind: str, lr: torch.Tensor, betas: tuple[float, float]):
        self.parameters = list(parameters)
        self.kind = kind
        self.lr = lr
        self.beta1, self.beta2 = betas
        self.eps = 1e-8
        self.steps = 0
        self.moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in self.parameters] if kind == "adam" else []

    def zero_grad(self) -> None:
        for p in self.parameters:
            p.grad = None

    @torch.no_grad()
    def step(self, active: torch.Tensor | None) -> None:
        self.steps += 1
        for i, p in enumerate(self.parameters):
            grad = p.grad
            shape = (-1,) + (1,) * (p.dim() - 1)
            if active is not None:
                grad = torch.where(active.view(shape), grad, torch.zeros((), dtype=grad.dtype, device=grad.device))
            lr = self.lr.view(shape)
            if self.kind == "sgd":
                update = lr * grad
            else:
                exp_avg, exp_avg_sq = self.moments[i]
                exp_avg.mul_(self.beta1).add_(grad, alpha=1 - self.beta1)
                exp_avg_sq.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
                bias_correction1 = 1 - self.beta1**self.steps
                bias_correction2 = 1 - self.beta2**self.steps
                denom = (exp_avg_sq.sqrt() / math.sqrt(bias_correction2)).add_(self.eps)
                update = (lr / bias_correction1) * exp_avg / denom
            if active is not None:
                update = torch.where(active.view(shape), update, torch.zeros((), dtype=update.dtype, device=update.device))
            p.sub_(update)


def _check_members(members: Sequence[Member]) -> None:
    if not members:
        raise ValueError("train_gan_ensemble needs at least one member")
    first = members[0].config
    for k, member in enumerate(members[1:], start=1):
        for name in SHARED_FIELDS:
            if getattr(member.config, name) != getattr(first, name):
                raise ValueError(
                    f"ensemble members must share {name!r}: member 0 has {getattr(first, name)!r}, "
                    f"member {k} ({member.label or 'unlabelled'}) has {getattr(member.config, name)!r}; "
                    "train them in separate ensembles"
                )


def _per_member_finite(parameters: Sequence[nn.Parameter]) -> torch.Tensor:
    finite = None
    for p in parameters:
        ok = torch.isfinite(p.grad).flatten(start_dim=1).all(dim=1)
        finite = ok if finite is None else finite & ok
    return finite


def train_gan_ensemble(
    members: Sequence[Member],
    noise_dim: int = 2,
    data_dim: int = 2,
    width: int = 64,
    depth: int = 2,
    activation: str = "relu",
    progress: bool = False,
    description: str = "ensemble",
) -> EnsembleResult:
    """Train one GAN per member, all at once; see the module docstring.

    G and D of member k are built as ``make_generator(noise_dim, data_dim,
    width, depth, activation)`` and ``make_discriminator(data_dim, width,
    depth, activation)`` under ``seeded(config.seed)``, as the figure runners
    build them for ``train_gan``.

    Returns:
        An EnsembleResult. Snapshots hold ordinary MLPs, frozen on the CPU.
        A member that diverges is reported in ``errors``, not raised.
    """
    _check_members(members)
    shared = members[0].config
    device = resolve_device(shared.device)
    generators, discriminators = [], []
    for member in members:
        with seeded(member.config.seed):
            generators.append(make_generator(noise_dim, data_dim, width, depth, activation))
            discriminators.append(make_discriminator(data_dim, width, depth, activation))
    generator_net = EnsembleMLP.stack(generators).to(device)
    discriminator = EnsembleMLP.stack(discriminators).to(device)

    def per_member(values: list[float]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.float32, device=device)

    opt_d = _MemberwiseOptimizer(
        list(discriminator.parameters()), shared.optimizer, per_member([m.config.lr_d for m in members]),
        (shared.beta1, shared.beta2),
    )
    opt_g = _MemberwiseOptimizer(
        list(generator_net.parameters()), shared.optimizer, per_member([m.config.lr_g for m in members]),
        (shared.beta1, shared.beta2),
    )
    specs = [PENALTIES[m.config.penalty] for m in members]
    lam = per_member([0.0 if spec is None else m.config.lam for m, spec in zip(members, specs)])
    centers = [0.0 if spec is None else spec.center for spec in specs]
    # A single centre takes centered_square's cheaper scalar path.
    center = centers[0] if len(set(centers)) == 1 else per_member(centers).view(-1, 1)
    interpolates = [spec is not None and spec.at_interpolates for spec in specs]
    loss = get_loss(shared.loss)
    rngs = [torch.Generator().manual_seed(m.config.seed) for m in members]
    results = [TrainResult(config=m.config) for m in members]
    errors: list[NonFiniteError | None] = [None] * len(members)
    active = torch.ones(len(members), dtype=torch.bool, device=device)
    batch = shared.batch_size
    ones = torch.ones(batch)

    def draw(sampler) -> torch.Tensor:
        return torch.stack([sampler(k, rng) for k, rng in enumerate(rngs)]).to(device)

    for k, member in enumerate(members):
        # A wrong sample shape would otherwise fail deep inside torch.stack without naming the member.
        shape = tuple(member.sample_real(batch, torch.Generator().manual_seed(0)).shape)
        if shape != (batch, data_dim):
            raise ValueError(
                f"member {k} ({member.label or 'unlabelled'}) draws real samples of shape {shape}; "
                f"expected ({batch}, {data_dim}) for batch_size={batch} and data_dim={data_dim}"
            )

    def noise() -> torch.Tensor:
        return draw(lambda k, rng: torch.randn(batch, noise_dim, generator=rng))

    def stop(k: int, iteration: int, quantity: str, value: float) -> None:
        errors[k] = NonFiniteError(iteration, quantity, value, results[k])
        active[k] = False

    def check(values: torch.Tensor, iteration: int, quantity: str) -> None:
        bad = ~torch.isfinite(values) & active
        if bad.any():
            for k in bad.nonzero().flatten().tolist():
                stop(k, iteration, quantity, values[k].item())

    def check_gradients(parameters, iteration: int, quantity: str) -> None:
        bad = ~_per_member_finite(parameters) & active
        if bad.any():
            for k in bad.nonzero().flatten().tolist():
                stop(k, iteration, quantity, math.nan)

    def snapshot(iteration: int) -> None:
        for k, member in enumerate(members):
            if iteration in member.config.snapshot_at and errors[k] is None:
                results[k].snapshots[iteration] = Snapshot(
                    iteration,
                    discriminator.member(k).cpu().eval().requires_grad_(False),
                    generator_net.member(k).cpu().eval().requires_grad_(False),
                )

    snapshot(0)
    start = time.perf_counter()
    with _progress(shared, progress, description) as bar:
        for iteration in range(1, shared.iterations + 1):
            for _ in range(shared.d_steps):
                x_real = draw(lambda k, rng: members[k].sample_real(batch, rng))
                with torch.no_grad():
                    x_fake = generator_net(noise())
                alpha = draw(lambda k, rng: torch.rand(batch, generator=rng) if interpolates[k] else ones)
                opt_d.zero_grad()
                logits = discriminator(torch.cat([x_real, x_fake], dim=1))
                d_real, d_fake = logits.split([batch, batch], dim=1)
                loss_d = loss.discriminator(d_real, d_fake, dim=(1, 2))
                # 0-GP-sample is evaluated at the real points (α = 1), and "none" has λ = 0.
                alpha_ = alpha.view(len(members), batch, *([1] * (x_real.dim() - 2)))
                points = alpha_ * x_real + (1 - alpha_) * x_fake
                grad = input_gradient(discriminator, points, shared.gradient_of, create_graph=True)
                squared_norm = grad.flatten(start_dim=2).pow(2).sum(dim=2)
                penalty = lam * centered_square(squared_norm, center).mean(dim=1)
                check(loss_d, iteration, "discriminator loss")
                check(penalty, iteration, "gradient penalty")
                (loss_d + penalty).sum().backward()
                check_gradients(discriminator.parameters(), iteration, "discriminator's parameter gradient")
                opt_d.step(None if active.all() else active)

            opt_g.zero_grad()
            discriminator.requires_grad_(False)
            try:
                loss_g = loss.generator(discriminator(generator_net(noise())), dim=(1, 2))
                check(loss_g, iteration, "generator loss")
                loss_g.sum().backward()
            finally:
                discriminator.requires_grad_(True)
            check_gradients(generator_net.parameters(), iteration, "generator's parameter gradient")
            opt_g.step(None if active.all() else active)

            if iteration % shared.log_every == 0 or iteration == shared.iterations:
                both = torch.cat([x_real, x_fake], dim=1)
                norms = input_gradient(discriminator, both, shared.gradient_of, create_graph=False)
                grad_norm = norms.flatten(start_dim=2).norm(dim=2).mean(dim=1)
                rows = zip(loss_d.tolist(), loss_g.tolist(), penalty.tolist(), grad_norm.tolist())
                for k, (ld, lg, pen, gn) in enumerate(rows):
                    if errors[k] is None:
                        _record(results[k], iteration, ld, lg, pen, gn)
            snapshot(iteration)
            elapsed = time.perf_counter() - start
            for k, result in enumerate(results):
                if errors[k] is None:
                    result.iterations_done = iteration
                result.wall_time_s = elapsed
            bar.update(1)
            if not active.any():
                break

    for k, result in enumerate(results):
        result.discriminator = discriminator.member(k)
        result.generator = generator_net.member(k)
    return EnsembleResult(results, errors, time.perf_counter() - start)
