"""Time gp_core's GAN training step against a plain reimplementation of the authors' step, in one process.

The authors' step, written here only for this comparison, does what their
public PyTorch scripts do:

* D ends with a sigmoid and is trained with BCE.
* Real, fake and interpolated points go through D in three separate passes.
* The penalty comes from ``torch.autograd.grad(create_graph=True)``.
* The generator's forward pass stays in the graph during the D step, so the
  D loss's backward pass also runs through G.
* D's parameter gradients are computed during the G step.

Before timing, the script checks on one batch that both steps compute the
same D loss, penalty and G loss to float32 tolerance, so that speed never
comes from computing something else. For each case and step it prints:

* iterations per second (min, median and max over repeats);
* the ratio to the authors' step;
* the FLOPs of one iteration, counted as 2·m·k·n for each matrix product
  that autograd runs;
* the achieved FLOP rate as a share of what the same matrix products reach
  when timed alone in the same run.

Usage: ``python benchmarks/penalty_step.py [--iterations 200] [--repeats 5] [--cases ...]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from gp_core import data
from gp_core.losses import get_loss
from gp_core.models import make_discriminator, make_generator
from gp_core.penalties import gradient_penalty
from gp_core.train import TrainConfig, TrainResult, discriminator_step, generator_step, make_optimizer, seeded


@dataclass(frozen=True)
class Case:
    """One benchmark case: model sizes, optimizer and penalty weight."""

    name: str
    noise_dim: int
    data_dim: int
    width: int
    depth: int
    optimizer: str
    lr: float
    lam: float
    batch_size: int = 128


CASES = {
    "gaussians-512": Case("8 Gaussians, width 512", 2, 2, 512, 2, "sgd", 3e-3, 10.0),
    "gaussians-64": Case("8 Gaussians, width 64", 2, 2, 64, 2, "sgd", 3e-3, 10.0),
    "mnist": Case("MNIST MLP, width 512", 50, 784, 512, 3, "adam", 3e-4, 100.0),
}


def sampler(case: Case) -> Callable[[int, torch.Generator], torch.Tensor]:
    if case.data_dim == 2:
        return lambda n, rng: data.eight_gaussians(n, rng)
    digits = torch.rand(4_000, case.data_dim, generator=torch.Generator().manual_seed(1))
    return lambda n, rng: digits[torch.randint(0, len(digits), (n,), generator=rng)]


def build(case: Case, seed: int = 0) -> tuple[nn.Module, nn.Module]:
    with seeded(seed):
        return make_generator(case.noise_dim, case.data_dim, case.width, case.depth), make_discriminator(
            case.data_dim, case.width, case.depth
        )


class AuthorsStep:
    """The authors' training iteration, reimplemented for timing (see the module docstring)."""

    def __init__(self, case: Case, generator_net: nn.Module, logit_net: nn.Module):
        self.case = case
        self.generator_net = generator_net
        self.discriminator = nn.Sequential(logit_net, nn.Sigmoid())
        self.bce = nn.BCELoss()
        config = TrainConfig(optimizer=case.optimizer, lr_d=case.lr, lr_g=case.lr)
        self.opt_d = make_optimizer(self.discriminator.parameters(), config, case.lr)
        self.opt_g = make_optimizer(self.generator_net.parameters(), config, case.lr)

    def losses(self, x_real: torch.Tensor, z: torch.Tensor, alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ones = torch.ones(len(x_real), 1)
        zeros = torch.zeros(len(x_real), 1)
        x_fake = self.generator_net(z)  # kept in the graph, as in the scripts
        loss_d = self.bce(self.discriminator(x_real), ones) + self.bce(self.discriminator(x_fake), zeros)
        v = (alpha.view(-1, 1) * x_real + (1 - alpha.view(-1, 1)) * x_fake).detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(self.discriminator(v).sum(), v, create_graph=True)
        penalty = self.case.lam * (grad.norm(2, dim=1) ** 2).mean()
        return loss_d, penalty

    def step(self, x_real: torch.Tensor, z_d: torch.Tensor, alpha: torch.Tensor, z_g: torch.Tensor) -> None:
        self.opt_d.zero_grad()
        loss_d, penalty = self.losses(x_real, z_d, alpha)
        (loss_d + penalty).backward()
        self.opt_d.step()
        self.opt_g.zero_grad()
        loss_g = self.bce(self.discriminator(self.generator_net(z_g)), torch.ones(len(z_g), 1))
        loss_g.backward()  # D's parameter gradients are computed here too
        self.opt_g.step()


class GpCoreStep:
    """One iteration of ``gp_core.train.train_gan``: its D step and G step with their checks."""

    def __init__(self, case: Case, generator_net: nn.Module, discriminator: nn.Module):
        self.case = case
        self.generator_net = generator_net
        self.discriminator = discriminator
        self.config = TrainConfig(
            penalty="0-GP", lam=case.lam, optimizer=case.optimizer, lr_d=case.lr, lr_g=case.lr, batch_size=case.batch_size
        )
        self.loss = get_loss("gan")
        self.opt_d = make_optimizer(discriminator.parameters(), self.config, case.lr)
        self.opt_g = make_optimizer(generator_net.parameters(), self.config, case.lr)
        self.result = TrainResult(config=self.config)
        self.rng = torch.Generator().manual_seed(0)

    def step(self, x_real: torch.Tensor, z_d: torch.Tensor, alpha: torch.Tensor, z_g: torch.Tensor) -> None:
        with torch.no_grad():
            x_fake = self.generator_net(z_d)
        discriminator_step(self.discriminator, self.opt_d, x_real, x_fake, self.loss, self.config, self.rng, 1, self.result)
        generator_step(self.generator_net, self.discriminator, self.opt_g, z_g, self.loss, 1, self.result)


def check_same_losses(case: Case) -> str:
    """Compute D loss, penalty and G loss both ways on one batch; raise if they differ beyond float32 tolerance."""
    generator_net, logit_net = build(case)
    rng = torch.Generator().manual_seed(2)
    x_real = sampler(case)(case.batch_size, rng)
    z = torch.randn(case.batch_size, case.noise_dim, generator=rng)
    alpha = torch.rand(case.batch_size, generator=rng)
    authors = AuthorsStep(case, generator_net, logit_net)
    loss_d_a, penalty_a = authors.losses(x_real, z, alpha)
    loss_g_a = authors.bce(authors.discriminator(generator_net(z)), torch.ones(case.batch_size, 1))
    with torch.no_grad():
        x_fake = generator_net(z)
        logits = logit_net(torch.cat([x_real, x_fake]))
    loss = get_loss("gan")
    loss_d_g = loss.discriminator(*logits.split(case.batch_size))
    penalty_g = gradient_penalty("0-GP", logit_net, x_real, x_fake, case.lam, "probability", alpha=alpha).value
    loss_g_g = loss.generator(logit_net(generator_net(z)))
    pairs = {"D loss": (loss_d_a, loss_d_g), "penalty": (penalty_a, penalty_g), "G loss": (loss_g_a, loss_g_g)}
    for name, (a, b) in pairs.items():
        torch.testing.assert_close(b.detach(), a.detach(), rtol=1e-4, atol=1e-6, msg=lambda m, n=name: f"{n} differs: {m}")
    return ", ".join(f"{name} {a.item():.5f}" for name, (a, _) in pairs.items())


class _MatmulShapes(TorchDispatchMode):
    """Record the operand shapes of every matrix product run inside the mode."""

    OPS = {"mm", "addmm", "bmm", "baddbmm"}

    def __init__(self):
        super().__init__()
        self.shapes: list[tuple[int, int, int]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.__name__.split(".")[0]
        if name in self.OPS:
            a, b = (args[1], args[2]) if name in ("addmm", "baddbmm") else (args[0], args[1])
            batch = a.shape[0] if a.dim() == 3 else 1
            self.shapes.append((batch * a.shape[-2], a.shape[-1], b.shape[-1]))
        return func(*args, **(kwargs or {}))


def matmul_rate(shapes: list[tuple[int, int, int]], seconds: float = 1.0) -> float:
    """Time the recorded (m, k, n) float32 products alone; return their FLOP/s."""
    operands = [(torch.randn(m, k), torch.randn(k, n)) for m, k, n in shapes]
    flops = sum(2 * m * k * n for m, k, n in shapes)
    rounds, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for a, b in operands:
            torch.mm(a, b)
        rounds += 1
    return rounds * flops / (time.perf_counter() - start)


def time_steps(case: Case, make_step, iterations: int, repeats: int) -> list[float]:
    """Return iterations per second of ``repeats`` timed blocks of ``iterations`` steps, after a warm-up block."""
    generator_net, discriminator = build(case)
    step = make_step(case, generator_net, discriminator)
    rng = torch.Generator().manual_seed(3)
    sample = sampler(case)

    def batch():
        return (
            sample(case.batch_size, rng),
            torch.randn(case.batch_size, case.noise_dim, generator=rng),
            torch.rand(case.batch_size, generator=rng),
            torch.randn(case.batch_size, case.noise_dim, generator=rng),
        )

    batches = [batch() for _ in range(iterations)]
    for args in batches[: max(1, iterations // 10)]:
        step.step(*args)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for args in batches:
            step.step(*args)
        rates.append(iterations / (time.perf_counter() - start))
    return rates


def count_iteration(case: Case, make_step) -> tuple[float, list[tuple[int, int, int]]]:
    """Return the FLOPs of one iteration's matrix products and their shapes."""
    generator_net, discriminator = build(case)
    step = make_step(case, generator_net, discriminator)
    rng = torch.Generator().manual_seed(4)
    args = (
        sampler(case)(case.batch_size, rng),
        torch.randn(case.batch_size, case.noise_dim, generator=rng),
        torch.rand(case.batch_size, generator=rng),
        torch.randn(case.batch_size, case.noise_dim, generator=rng),
    )
    shapes = _MatmulShapes()
    with shapes:
        step.step(*args)
    return float(sum(2 * m * k * n for m, k, n in shapes.shapes)), shapes.shapes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200, help="iterations per timed block (default 200)")
    parser.add_argument("--repeats", type=int, default=5, help="timed blocks per step and case (default 5)")
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES), help="cases to run")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.repeats} blocks of {args.iterations} iterations")
    header = f"{'case':<24} {'step':<8} {'it/s min':>9} {'median':>8} {'max':>8} {'ratio':>6} {'MFLOP/it':>9} {'share of matmul':>16}"
    for key in args.cases:
        case = CASES[key]
        print(f"\n{case.name}: batch {case.batch_size}, {case.optimizer}, 0-GP λ = {case.lam:g}")
        print(f"  same values on one batch: {check_same_losses(case)}")
        print(header)
        authors_median = None
        for label, make_step in (("authors", AuthorsStep), ("gp_core", GpCoreStep)):
            rates = time_steps(case, make_step, args.iterations, args.repeats)
            flops, shapes = count_iteration(case, make_step)
            median = statistics.median(rates)
            authors_median = authors_median or median
            share = flops * median / matmul_rate(shapes)
            print(
                f"{case.name:<24} {label:<8} {min(rates):>9.1f} {median:>8.1f} {max(rates):>8.1f} "
                f"{median / authors_median:>5.2f}× {flops / 1e6:>9.1f} {share:>15.0%}",
                flush=True,
            )


if __name__ == "__main__":
    main()
