"""Measure what torch.compile adds to gp_core's hand-written MLP step on this machine.

The script times ``gp_core.mlp_step``'s D step (loss, 0-GP and gradients)
and G step as they run in ``train_gan``, once eagerly and once through
``torch.compile``. It prints the compile time and the iterations per
second of both, so that the choice to leave compilation out of the
trainer can be checked on any machine.

Usage: ``python benchmarks/compile_step.py [--width 64] [--iterations 300] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from gp_core import data, mlp_step
from gp_core.models import make_discriminator, make_generator
from gp_core.train import seeded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=64, help="hidden units of G and D (default 64)")
    parser.add_argument("--iterations", type=int, default=300, help="iterations per timed block (default 300)")
    parser.add_argument("--repeats", type=int, default=3, help="timed blocks per variant (default 3)")
    args = parser.parse_args()
    with seeded(0):
        generator_net, discriminator = make_generator(2, 2, args.width, 2), make_discriminator(2, args.width, 2)
    rng = torch.Generator().manual_seed(1)
    lam = 10.0

    def d_step(x_real, x_fake, alpha):
        return mlp_step.discriminator_gradients(discriminator, x_real, x_fake, "gan", "0-GP", lam, alpha=alpha).grads

    def g_step(z):
        return mlp_step.generator_gradients(generator_net, discriminator, z, "gan").grads

    def iteration(d_fn, g_fn) -> None:
        x_real = data.eight_gaussians(128, rng)
        x_fake = mlp_step.sample(generator_net, torch.randn(128, 2, generator=rng))
        d_fn(x_real, x_fake, torch.rand(128, generator=rng))
        g_fn(torch.randn(128, 2, generator=rng))

    start = time.perf_counter()
    compiled = (torch.compile(d_step), torch.compile(g_step))
    iteration(*compiled)
    compile_s = time.perf_counter() - start
    variants = {"eager": (d_step, g_step), "torch.compile": compiled}
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, functions in variants.items():
            start = time.perf_counter()
            for _ in range(args.iterations):
                iteration(*functions)
            rates[name].append(args.iterations / (time.perf_counter() - start))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; width {args.width}, batch 128, 0-GP")
    print(f"compile time (first call of both steps): {compile_s:.1f} s")
    eager = statistics.median(rates["eager"])
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"{name:<14} {median:>8.1f} it/s  {median / eager:.2f}× eager")


if __name__ == "__main__":
    main()
