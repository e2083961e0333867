"""Time gp_core's GAN trainer against a plain reimplementation of the authors' step, in one process.

The authors' step, written here only for this comparison, does what their
public PyTorch scripts do:

* D ends with a sigmoid and is trained with BCE.
* Real, fake and interpolated points go through D in three separate passes.
* The penalty comes from ``torch.autograd.grad(create_graph=True)``.
* The generator's forward pass stays in the graph during the D step, so the
  D loss's backward pass also runs through G.
* D's parameter gradients are computed during the G step.

gp_core's side is ``gp_core.train.train_gan`` itself, with its checks for
NaN and its history every ``log_every`` = 10 iterations. Each side draws
its data, z and α inside the timed loop.

Before timing, the script checks on one batch that both compute the same D
loss, penalty, G loss and parameter gradients to float32 tolerance, so
that speed never comes from computing something else. Then it times blocks
of iterations, the two sides taking turns, so that a slow spell of a shared
machine hits both. For each case, with the penalty and without, it prints:

* iterations per second (min, median and max over the blocks);
* the ratio to the authors' step: the median over the pairs of blocks that
  ran one after the other;
* with ``--compile``, a third side, ``train_gan(compile=True)``, and its
  compile time;
* the FLOPs of one iteration, counted as 2·m·k·n for each matrix product
  that runs, over 10 iterations;
* the achieved FLOP rate as a share of what the same matrix products reach
  when timed alone in the same run.

Usage: ``python benchmarks/penalty_step.py [--iterations 200] [--repeats 5] [--cases ...] [--penalties ...] [--compile]``.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from gp_core import data, mlp_step
from gp_core.models import make_discriminator, make_generator
from gp_core.train import TrainConfig, make_optimizer, seeded, train_gan

LOG_EVERY = 10


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
PENALTIES = ("0-GP", "none")

Sampler = Callable[[int, torch.Generator], torch.Tensor]


def sampler(case: Case) -> Sampler:
    if case.data_dim == 2:
        return lambda n, rng: data.eight_gaussians(n, rng)
    digits = torch.rand(4_000, case.data_dim, generator=torch.Generator().manual_seed(1))
    return lambda n, rng: digits[torch.randint(0, len(digits), (n,), generator=rng)]


def build(case: Case, seed: int = 0) -> tuple[nn.Module, nn.Module]:
    with seeded(seed):
        return make_generator(case.noise_dim, case.data_dim, case.width, case.depth), make_discriminator(
            case.data_dim, case.width, case.depth
        )


def train_config(case: Case, penalty: str, iterations: int) -> TrainConfig:
    return TrainConfig(
        penalty=penalty, lam=case.lam, optimizer=case.optimizer, lr_d=case.lr, lr_g=case.lr,
        batch_size=case.batch_size, iterations=iterations, log_every=LOG_EVERY,
    )


class AuthorsStep:
    """The authors' training iteration, reimplemented for timing (see the module docstring)."""

    def __init__(self, case: Case, penalty: bool, generator_net: nn.Module, logit_net: nn.Module):
        self.case = case
        self.penalty = penalty
        self.generator_net = generator_net
        self.discriminator = nn.Sequential(logit_net, nn.Sigmoid())
        self.bce = nn.BCELoss()
        config = train_config(case, "none", 1)
        self.opt_d = make_optimizer(self.discriminator.parameters(), config, case.lr)
        self.opt_g = make_optimizer(self.generator_net.parameters(), config, case.lr)

    def losses(self, x_real: torch.Tensor, z: torch.Tensor, alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ones = torch.ones(len(x_real), 1)
        zeros = torch.zeros(len(x_real), 1)
        x_fake = self.generator_net(z)  # kept in the graph, as in the scripts
        loss_d = self.bce(self.discriminator(x_real), ones) + self.bce(self.discriminator(x_fake), zeros)
        if not self.penalty:
            return loss_d, torch.zeros(())
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


def authors_loop(case: Case, penalty: str) -> Callable[[int], None]:
    """Return a function that runs n of the authors' iterations, drawing each batch as it goes."""
    step = AuthorsStep(case, penalty != "none", *build(case))
    sample = sampler(case)
    rng = torch.Generator().manual_seed(3)

    def run(iterations: int) -> None:
        for _ in range(iterations):
            x_real = sample(case.batch_size, rng)
            z_d = torch.randn(case.batch_size, case.noise_dim, generator=rng)
            alpha = torch.rand(case.batch_size, generator=rng)
            z_g = torch.randn(case.batch_size, case.noise_dim, generator=rng)
            step.step(x_real, z_d, alpha, z_g)

    return run


def gp_core_loop(case: Case, penalty: str, compile: bool = False) -> Callable[[int], None]:
    """Return a function that runs n iterations of ``train_gan``, continuing from the last call's weights."""
    generator_net, discriminator = build(case)
    sample = sampler(case)

    def run(iterations: int) -> None:
        config = train_config(case, penalty, iterations)
        train_gan(generator_net, discriminator, sample, config, case.noise_dim, progress=False, compile=compile)

    return run


def compiled_loop(case: Case, penalty: str) -> Callable[[int], None]:
    """``gp_core_loop`` with ``train_gan(compile=True)``."""
    return gp_core_loop(case, penalty, compile=True)


LOOPS = {"authors": authors_loop, "gp_core": gp_core_loop, "compiled": compiled_loop}


def check_same_values(case: Case, penalty: str) -> str:
    """Compare both sides on one batch: D loss, penalty, G loss and every parameter gradient; raise if they differ."""
    rng = torch.Generator().manual_seed(2)
    x_real = sampler(case)(case.batch_size, rng)
    z = torch.randn(case.batch_size, case.noise_dim, generator=rng)
    alpha = torch.rand(case.batch_size, generator=rng)

    generator_net, logit_net = build(case)
    authors = AuthorsStep(case, penalty != "none", generator_net, logit_net)
    loss_d_a, penalty_a = authors.losses(x_real, z, alpha)
    (loss_d_a + penalty_a).backward()
    d_grads_a = [p.grad.clone() for p in logit_net.parameters()]
    generator_net.zero_grad()
    loss_g_a = authors.bce(authors.discriminator(generator_net(z)), torch.ones(case.batch_size, 1))
    loss_g_a.backward()
    g_grads_a = [p.grad for p in generator_net.parameters()]

    # gp_core's trainer takes these functions for its MLPs (see gp_core.train.discriminator_step).
    generator_net, logit_net = build(case)
    with torch.no_grad():
        x_fake = generator_net(z)
    d_step = mlp_step.discriminator_gradients(logit_net, x_real, x_fake, "gan", penalty, case.lam, alpha=alpha)
    g_step = mlp_step.generator_gradients(generator_net, logit_net, z, "gan")

    pairs = {"D loss": (loss_d_a, d_step.loss), "penalty": (penalty_a, d_step.penalty), "G loss": (loss_g_a, g_step.loss)}
    pairs.update({f"D gradient {i}": pair for i, pair in enumerate(zip(d_grads_a, d_step.grads))})
    pairs.update({f"G gradient {i}": pair for i, pair in enumerate(zip(g_grads_a, g_step.grads))})
    for name, (a, b) in pairs.items():
        torch.testing.assert_close(
            b.detach(), a.detach(), rtol=1e-4, atol=1e-6, msg=lambda m, n=name: f"{n} differs: {m}"
        )
    printed = ("D loss", "penalty", "G loss") if penalty != "none" else ("D loss", "G loss")
    return ", ".join(f"{name} {pairs[name][0].item():.5f}" for name in printed) + ", all parameter gradients equal"


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


def count_iteration(case: Case, penalty: str, label: str) -> tuple[float, list[tuple[int, int, int]]]:
    """Return the FLOPs of one iteration's matrix products, averaged over LOG_EVERY iterations, and their shapes."""
    run = LOOPS["gp_core" if label == "compiled" else label](case, penalty)  # compiled code hides its products
    shapes = _MatmulShapes()
    with shapes:
        run(LOG_EVERY)
    return sum(2.0 * m * k * n for m, k, n in shapes.shapes) / LOG_EVERY, shapes.shapes


def time_pairs(
    case: Case, penalty: str, iterations: int, repeats: int, labels: list[str]
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Time each side's blocks, the sides taking turns after a warm-up block each.

    Returns the iterations per second of every block, and each side's
    warm-up time in seconds (which holds the compile time of ``compiled``).
    """
    loops = {label: LOOPS[label](case, penalty) for label in labels}
    warm_up: dict[str, float] = {}
    for label, run in loops.items():
        start = time.perf_counter()
        run(LOG_EVERY)
        warm_up[label] = time.perf_counter() - start
    rates: dict[str, list[float]] = {label: [] for label in loops}
    for _ in range(repeats):
        for label, run in loops.items():
            start = time.perf_counter()
            run(iterations)
            rates[label].append(iterations / (time.perf_counter() - start))
    return rates, warm_up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200, help="iterations per timed block (default 200)")
    parser.add_argument("--repeats", type=int, default=5, help="timed blocks per side and case (default 5)")
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES), help="cases to run")
    parser.add_argument("--penalties", nargs="+", choices=PENALTIES, default=list(PENALTIES), help="with 0-GP, without, or both")
    parser.add_argument("--compile", action="store_true", help="also time train_gan(compile=True) and print its compile time")
    args = parser.parse_args()
    labels = ["authors", "gp_core"] + (["compiled"] if args.compile else [])
    if args.compile:
        # An empty compile cache, so that the compile time printed is that of a first run.
        cache = tempfile.mkdtemp(prefix="gp-core-inductor-")
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
        atexit.register(shutil.rmtree, cache, ignore_errors=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.repeats} blocks of {args.iterations} iterations per side")
    header = (
        f"{'case':<24} {'penalty':<8} {'step':<8} {'it/s min':>9} {'median':>8} {'max':>8} "
        f"{'ratio':>6} {'MFLOP/it':>9} {'share of matmul':>16}"
    )
    for key in args.cases:
        case = CASES[key]
        print(f"\n{case.name}: batch {case.batch_size}, {case.optimizer}, λ = {case.lam:g} when penalised")
        for penalty in args.penalties:
            print(f"  {penalty}: same values on one batch: {check_same_values(case, penalty)}")
        print(header)
        for penalty in args.penalties:
            rates, warm_up = time_pairs(case, penalty, args.iterations, args.repeats, labels)
            for label, side in rates.items():
                flops, shapes = count_iteration(case, penalty, label)
                median = statistics.median(side)
                ratio = statistics.median(mine / theirs for mine, theirs in zip(side, rates["authors"]))
                share = flops * median / matmul_rate(shapes)
                print(
                    f"{case.name:<24} {penalty:<8} {label:<8} {min(side):>9.1f} {median:>8.1f} {max(side):>8.1f} "
                    f"{ratio:>5.2f}× {flops / 1e6:>9.1f} {share:>15.0%}",
                    flush=True,
                )
            if "compiled" in warm_up:
                extra = warm_up["compiled"] - warm_up["gp_core"]
                print(f"{'':<24} {penalty:<8} compile time: {extra:.1f} s (first {LOG_EVERY} iterations, less gp_core's; empty cache)")


if __name__ == "__main__":
    main()
