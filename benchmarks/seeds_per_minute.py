"""Compare three ways of training many small GANs on this machine: one by one, in processes, batched.

The synthetic figures train every method with several seeds. This script
trains one set of runs three ways and prints how many runs per minute each
way finishes and its ratio to one-by-one training. The runs are the four
penalties (none, 0-GP, 0-GP-sample, 1-GP) × ``--seeds`` seeds on 8 Gaussians,
with Figure 2's SGD settings:

* ``one by one``: ``train_gan`` on each run in turn, with torch's default threads;
* ``processes``: the runs split over ``--workers`` processes, each run one by
  one with one torch thread per process (more threads per process
  oversubscribe the cores and slow everything down);
* ``batched``: all runs as one ensemble, ``gp_core.ensemble.train_gan_ensemble``,
  the way the book trains them.

Usage: ``python benchmarks/seeds_per_minute.py [--iterations 1000] [--seeds 3] [--width 64]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

import torch

from gp_core import data
from gp_core.ensemble import Member, train_gan_ensemble
from gp_core.models import make_discriminator, make_generator
from gp_core.train import TrainConfig, seeded, train_gan

PENALTIES = ("none", "0-GP", "0-GP-sample", "1-GP")


def sample_real(n: int, rng: torch.Generator) -> torch.Tensor:
    return data.eight_gaussians(n, rng)


def configs(iterations: int, seeds: int) -> list[TrainConfig]:
    base = TrainConfig(penalty="none", lam=10.0, optimizer="sgd", iterations=iterations, log_every=max(1, iterations // 200))
    return [base.replace(penalty=penalty, seed=seed) for penalty in PENALTIES for seed in range(seeds)]


def train_alone(config: TrainConfig, width: int) -> None:
    with seeded(config.seed):
        generator_net = make_generator(width=width)
        discriminator = make_discriminator(width=width)
    train_gan(generator_net, discriminator, sample_real, config, noise_dim=2, progress=False)


def one_by_one(runs: list[TrainConfig], width: int) -> None:
    for config in runs:
        train_alone(config, width)


def _worker(args: tuple[list[TrainConfig], int]) -> None:
    torch.set_num_threads(1)
    runs, width = args
    one_by_one(runs, width)


def in_processes(runs: list[TrainConfig], width: int, workers: int) -> None:
    shares = [(runs[i::workers], width) for i in range(workers)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_worker, shares))


def batched(runs: list[TrainConfig], width: int) -> None:
    train_gan_ensemble([Member(config, sample_real) for config in runs], width=width)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=1_000, help="iterations per run (default 1000)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per penalty (default 3)")
    parser.add_argument("--width", type=int, default=64, help="hidden units of G and D (default 64)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="processes for the parallel way")
    args = parser.parse_args()

    runs = configs(args.iterations, args.seeds)
    print(
        f"{len(runs)} runs ({len(PENALTIES)} penalties × {args.seeds} seed{'s' if args.seeds != 1 else ''}) "
        f"of {args.iterations:,} iterations, "
        f"width {args.width}, on {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} threads"
    )
    ways = [
        ("one by one", lambda: one_by_one(runs, args.width)),
        (f"processes ({args.workers})", lambda: in_processes(runs, args.width, args.workers)),
        ("batched", lambda: batched(runs, args.width)),
    ]
    baseline = None
    print(f"{'way':<16} {'seconds':>9} {'runs/min':>9} {'ratio':>7}")
    for name, run in ways:
        start = time.perf_counter()
        run()
        seconds = time.perf_counter() - start
        per_minute = len(runs) * 60 / seconds
        baseline = baseline or per_minute
        print(f"{name:<16} {seconds:>9.1f} {per_minute:>9.1f} {per_minute / baseline:>6.2f}×", flush=True)


if __name__ == "__main__":
    main()
