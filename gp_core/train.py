"""Training loops: a GAN trainer and a discriminator-only trainer that share one D step.

One *iteration* is ``d_steps`` discriminator steps followed by one generator
step, as in the authors' scripts. The discriminator-only trainer (Figure 1)
runs the same D step on minibatches of two fixed sample sets.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch
from torch import nn
from tqdm.auto import tqdm

from . import mlp_step
from .losses import LOSSES, Loss, get_loss
from .penalties import PENALTIES, discriminator_pass, input_gradient, per_sample_norm, validate_penalty

__all__ = [
    "TrainConfig",
    "TrainResult",
    "Snapshot",
    "NonFiniteError",
    "OPTIMIZERS",
    "resolve_device",
    "seeded",
    "make_optimizer",
    "discriminator_step",
    "generator_step",
    "train_gan",
    "train_discriminator",
]

OPTIMIZERS = ("sgd", "adam")
HISTORY_KEYS = ("iteration", "loss_d", "loss_g", "penalty", "grad_norm")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of one training run.

    Attributes:
        loss: ``"gan"`` (non-saturating) or ``"wgan"``.
        penalty: ``"none"``, ``"0-GP"``, ``"0-GP-sample"`` or ``"1-GP"``.
        lam: λ ≥ 0, the penalty's weight.
        gradient_of: ``"probability"`` (the authors' convention) or ``"logit"``.
            A WGAN critic has no sigmoid, so ``"wgan"`` requires ``"logit"``.
        optimizer: ``"sgd"`` or ``"adam"``, used for both players.
        lr_d: discriminator learning rate, > 0.
        lr_g: generator learning rate, > 0; lr_d ≠ lr_g is TTUR.
        beta1: Adam's β1 in [0, 1); ignored by SGD.
        beta2: Adam's β2 in [0, 1); ignored by SGD.
        d_steps: discriminator steps per generator step, ≥ 1.
        batch_size: samples per minibatch for each of real and fake, ≥ 1.
        iterations: generator steps (D steps for the discriminator-only trainer), ≥ 1.
        seed: seeds the models' initialisation, the data, z and α.
        log_every: record the history every this many iterations, ≥ 1.
        snapshot_at: iterations after which copies of G and D are kept
            (0 keeps the initial models); each in [0, iterations].
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA when available).
    """

    loss: str = "gan"
    penalty: str = "none"
    lam: float = 10.0
    gradient_of: str = "probability"
    optimizer: str = "sgd"
    lr_d: float = 3e-3
    lr_g: float = 3e-3
    beta1: float = 0.5
    beta2: float = 0.9
    d_steps: int = 1
    batch_size: int = 128
    iterations: int = 20_000
    seed: int = 0
    log_every: int = 10
    snapshot_at: tuple[int, ...] = ()
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose one of {sorted(LOSSES)}")
        validate_penalty(self.penalty, self.lam, self.gradient_of)
        if self.loss == "wgan" and self.gradient_of == "probability":
            raise ValueError(
                "a WGAN critic has no sigmoid, so its penalty cannot use gradient_of='probability'; "
                "set gradient_of='logit'"
            )
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {list(OPTIMIZERS)}")
        for name in ("lr_d", "lr_g"):
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            if not _is_number(value) or not 0 <= value < 1:
                raise ValueError(f"{name} must be in [0, 1), got {value!r}")
        for name in ("d_steps", "batch_size", "iterations", "log_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        object.__setattr__(self, "snapshot_at", tuple(sorted(set(self.snapshot_at))))
        for it in self.snapshot_at:
            if not isinstance(it, int) or not 0 <= it <= self.iterations:
                raise ValueError(
                    f"snapshot iteration {it!r} is outside [0, iterations={self.iterations}]"
                )
        resolve_device(self.device)

    def replace(self, **changes: object) -> "TrainConfig":
        """Return a copy with ``changes`` applied; an unknown field raises ValueError naming it."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {unknown}; valid fields are {sorted(known)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, object]:
        """Return the settings as a plain dictionary, for records and tables."""
        return dataclasses.asdict(self)


def resolve_device(device: str) -> torch.device:
    """Turn ``"auto"`` into CUDA when available, else the CPU; validate the other names."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}; use 'cpu', 'cuda', 'cuda:N' or 'auto'") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was requested but CUDA is not available; use 'cpu' or 'auto'")
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device!r}; use 'cpu', 'cuda', 'cuda:N' or 'auto'")
    return resolved


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's global random state inside the block and restore it afterwards.

    Used around model construction so that a seed fixes the initial weights
    without changing the caller's random stream.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@dataclass
class Snapshot:
    """Copies of the models after one iteration, on the CPU, in eval mode.

    Attributes:
        iteration: the iteration after which the copies were taken.
        discriminator: D at that iteration.
        generator: G at that iteration, or None for the discriminator-only trainer.
    """

    iteration: int
    discriminator: nn.Module
    generator: nn.Module | None = None


@dataclass
class TrainResult:
    """The record of one training run.

    Attributes:
        config: the settings of the run.
        history: lists keyed by ``HISTORY_KEYS``, one entry every ``log_every``
            iterations and at the last one. ``grad_norm`` is the mean ‖∇ D‖ at
            the current real and fake batch (in ``gradient_of``'s convention);
            ``loss_g`` is NaN for the discriminator-only trainer.
        snapshots: keyed by iteration.
        discriminator: the final D (on the training device).
        generator: the final G, or None for the discriminator-only trainer.
        iterations_done: how many iterations completed.
        wall_time_s: seconds spent in the loop.
    """

    config: TrainConfig
    history: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in HISTORY_KEYS})
    snapshots: dict[int, Snapshot] = field(default_factory=dict)
    discriminator: nn.Module | None = None
    generator: nn.Module | None = None
    iterations_done: int = 0
    wall_time_s: float = 0.0


class NonFiniteError(RuntimeError):
    """A loss or gradient became NaN or infinite during training.

    Attributes:
        iteration: the iteration that produced the value.
        quantity: which value, e.g. ``"discriminator loss"``.
        result: the TrainResult up to the last finite iteration, snapshots included.
    """

    def __init__(self, iteration: int, quantity: str, value: float, result: TrainResult):
        self.iteration = iteration
        self.quantity = quantity
        self.result = result
        config = result.config
        super().__init__(
            f"training diverged at iteration {iteration}: the {quantity} is {value} "
            f"(penalty={config.penalty!r}, lam={config.lam}, optimizer={config.optimizer!r}, "
            f"lr_d={config.lr_d}, lr_g={config.lr_g}). Lower the learning rates or change λ. "
            f"The history and snapshots up to iteration {result.iterations_done} are in this "
            f"error's .result."
        )


def make_optimizer(parameters: Iterator[nn.Parameter], config: TrainConfig, lr: float) -> torch.optim.Optimizer:
    """Build the optimizer named in ``config`` with learning rate ``lr``.

    Adam uses torch's fused kernel, which makes one pass over each parameter
    instead of about ten elementwise operations, with the same update rule.
    """
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=lr, betas=(config.beta1, config.beta2), fused=True)
    return torch.optim.SGD(parameters, lr=lr)


def _parameters(optimizer: torch.optim.Optimizer) -> list[nn.Parameter]:
    return [p for group in optimizer.param_groups for p in group["params"]]


def _total_grad_norm(optimizer: torch.optim.Optimizer) -> torch.Tensor:
    """Return the L2 norm of all the gradients of the optimizer's parameters."""
    grads = [p.grad for p in _parameters(optimizer) if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


def _update(optimizer: torch.optim.Optimizer) -> None:
    """Take the optimizer's step.

    Plain SGD is applied as p ← p − lr·g directly. That is the arithmetic of
    ``torch.optim.SGD.step`` without its per-call bookkeeping, which costs as
    much as the update itself for the small MLPs.
    """
    if type(optimizer) is torch.optim.SGD and all(
        group["momentum"] == 0 and group["weight_decay"] == 0 and not group["maximize"]
        for group in optimizer.param_groups
    ):
        with torch.no_grad():
            for group in optimizer.param_groups:
                params = [p for p in group["params"] if p.grad is not None]
                torch._foreach_add_(params, [p.grad for p in params], alpha=-group["lr"])
    else:
        optimizer.step()


def _check_finite(values: dict[str, torch.Tensor], iteration: int, result: TrainResult) -> None:
    """Raise NonFiniteError for the first of ``values`` (quantity name to scalar) that is NaN or infinite.

    The scalars are read in one transfer, so a step on the GPU waits for the
    device once.
    """
    numbers = torch.stack([value.detach().float() for value in values.values()]).tolist()
    for quantity, number in zip(values, numbers):
        if not math.isfinite(number):
            raise NonFiniteError(iteration, quantity, number, result)


@dataclass
class _StepStats:
    loss_d: torch.Tensor
    penalty: torch.Tensor


_COMPILED: dict[str, Callable] = {}


def _mlp_function(name: str, compile: bool) -> Callable:
    """Return ``mlp_step``'s function ``name``, or its ``torch.compile`` version if ``compile``."""
    # NOTE: torch.compile keeps 8 versions of a function by default (torch._dynamo.config.recompile_limit).
    # Each new λ, penalty, loss or shape in one process compiles a version, and past the limit torch
    # warns and runs the function eagerly, which gives the same numbers at the eager speed.
    if not compile:
        return getattr(mlp_step, name)
    if name not in _COMPILED:
        compiled = torch.compile(getattr(mlp_step, f"_{name}"), dynamic=False)

        def run(*args: object) -> mlp_step.StepGradients:
            try:
                with torch.no_grad():
                    return compiled(*args)
            except torch._dynamo.exc.TorchDynamoException as error:
                first_line = str(error).splitlines()[0] if str(error) else ""
                raise RuntimeError(
                    f"torch.compile failed on gp_core's MLP step ({type(error).__name__}: {first_line}). "
                    f"It needs a working C++ compiler on the CPU and Triton on CUDA. Train with "
                    f"compile=False, which gives the same numbers up to float rounding."
                ) from error

        _COMPILED[name] = run
    return _COMPILED[name]


def _warn_not_compiled() -> None:
    warnings.warn(
        "compile=True applies only to two plain gp_core.models MLPs (see gp_core.models.is_plain_mlp); "
        "these models train through autograd without torch.compile",
        stacklevel=3,
    )


def discriminator_step(
    discriminator: nn.Module,
    optimizer: torch.optim.Optimizer,
    x_real: torch.Tensor,
    x_fake: torch.Tensor,
    loss: Loss,
    config: TrainConfig,
    generator: torch.Generator,
    iteration: int,
    result: TrainResult,
    compile: bool = False,
) -> _StepStats:
    """Take one step on D's loss plus the penalty; raise NonFiniteError on NaN or inf.

    ``x_fake`` must be detached from G. Real, fake and penalty points go
    through D in one forward pass, which is exact because D has no batch
    statistics. For the MLPs of ``gp_core.models`` the gradients are written
    out by hand (``gp_core.mlp_step``); any other D goes through
    ``penalties.discriminator_pass`` and autograd. ``compile`` runs the
    hand-written step through ``torch.compile`` (other models ignore it).
    The check for NaN and inf comes before the update, so D keeps its last
    finite weights.
    """
    name = mlp_step.loss_name(loss)
    if name is not None and mlp_step.supported(discriminator, scalar_output=True):
        alpha = None
        spec = PENALTIES[config.penalty]
        if compile and spec is not None and spec.at_interpolates:
            # Drawn here as penalties._points draws it, since a compiled function cannot take the generator.
            alpha = torch.rand(x_real.shape[0], generator=generator).to(x_real.device, x_real.dtype)
        step = _mlp_function("discriminator_gradients", compile)(
            discriminator, x_real, x_fake, name, config.penalty, config.lam, config.gradient_of,
            None if compile else generator, alpha,
        )
        loss_d, penalty = step.loss, step.penalty
        mlp_step.assign(discriminator, step.grads)
    else:
        optimizer.zero_grad(set_to_none=True)
        d_pass = discriminator_pass(
            config.penalty, discriminator, x_real, x_fake, config.lam, config.gradient_of, generator
        )
        loss_d = loss.discriminator(d_pass.d_real, d_pass.d_fake)
        penalty = d_pass.penalty.value
        (loss_d + penalty).backward()
    _check_finite(
        {
            "discriminator loss": loss_d,
            "gradient penalty": penalty,
            "discriminator's parameter gradient": _total_grad_norm(optimizer),
        },
        iteration,
        result,
    )
    _update(optimizer)
    return _StepStats(loss_d=loss_d.detach(), penalty=penalty.detach())


def generator_step(
    generator_net: nn.Module,
    discriminator: nn.Module,
    optimizer: torch.optim.Optimizer,
    z: torch.Tensor,
    loss: Loss,
    iteration: int,
    result: TrainResult,
    compile: bool = False,
) -> torch.Tensor:
    """Take one step on G's loss and return the detached loss. D's parameters get no gradient.

    Two MLPs of ``gp_core.models`` take the hand-written gradients of
    ``gp_core.mlp_step``, through ``torch.compile`` if ``compile``. Other
    models go through autograd.
    """
    name = mlp_step.loss_name(loss)
    hand_written = mlp_step.supported(generator_net) and mlp_step.supported(discriminator, scalar_output=True)
    if name is not None and hand_written:
        step = _mlp_function("generator_gradients", compile)(generator_net, discriminator, z, name)
        loss_g = step.loss
        mlp_step.assign(generator_net, step.grads)
    else:
        optimizer.zero_grad(set_to_none=True)
        discriminator.requires_grad_(False)
        try:
            loss_g = loss.generator(discriminator(generator_net(z)))
            loss_g.backward()
        finally:
            discriminator.requires_grad_(True)
    _check_finite(
        {"generator loss": loss_g, "generator's parameter gradient": _total_grad_norm(optimizer)}, iteration, result
    )
    _update(optimizer)
    return loss_g.detach()


def _mean_input_grad_norm(discriminator: nn.Module, points: torch.Tensor, gradient_of: str) -> float:
    grad = input_gradient(discriminator, points, gradient_of, create_graph=False)
    return per_sample_norm(grad).mean().item()


def _record(result: TrainResult, iteration: int, loss_d: float, loss_g: float, penalty: float, grad_norm: float) -> None:
    for key, value in zip(HISTORY_KEYS, (iteration, loss_d, loss_g, penalty, grad_norm)):
        result.history[key].append(float(value))


def _snapshot(
    result: TrainResult, iteration: int, discriminator: nn.Module, generator_net: nn.Module | None
) -> None:
    def frozen_copy(module: nn.Module) -> nn.Module:
        return copy.deepcopy(module).to("cpu").eval().requires_grad_(False)

    result.snapshots[iteration] = Snapshot(
        iteration=iteration,
        discriminator=frozen_copy(discriminator),
        generator=None if generator_net is None else frozen_copy(generator_net),
    )


def _finish_iteration(
    result: TrainResult,
    iteration: int,
    start: float,
    discriminator: nn.Module,
    generator_net: nn.Module | None,
    x_real: torch.Tensor,
    x_fake: torch.Tensor,
    stats: _StepStats,
    loss_g: torch.Tensor | None,
) -> None:
    """Record the history and snapshots that ``iteration`` is due for, and the progress counters."""
    config = result.config
    if iteration % config.log_every == 0 or iteration == config.iterations:
        grad_norm = _mean_input_grad_norm(discriminator, torch.cat([x_real, x_fake]), config.gradient_of)
        loss_g_value = math.nan if loss_g is None else loss_g.item()
        _record(result, iteration, stats.loss_d.item(), loss_g_value, stats.penalty.item(), grad_norm)
    if iteration in config.snapshot_at:
        _snapshot(result, iteration, discriminator, generator_net)
    result.iterations_done = iteration
    result.wall_time_s = time.perf_counter() - start


def _progress(config: TrainConfig, progress: bool, description: str) -> tqdm:
    return tqdm(total=config.iterations, disable=not progress, desc=description, mininterval=1.0, leave=True)


SampleFn = Callable[[int, torch.Generator], torch.Tensor]


def train_gan(
    generator_net: nn.Module,
    discriminator: nn.Module,
    sample_real: SampleFn,
    config: TrainConfig,
    noise_dim: int,
    progress: bool = True,
    description: str = "GAN",
    compile: bool = False,
) -> TrainResult:
    """Train G and D from their current weights; return the history, snapshots and models.

    Args:
        generator_net: maps z of shape ``(batch, noise_dim)`` to samples.
        discriminator: maps samples to logits ``(batch, 1)``.
        sample_real: ``(n, generator) -> (n, ...)`` draws real samples on the CPU.
        config: the run's settings; ``config.seed`` seeds z, α and the data.
        noise_dim: size of z ~ N(0, I).
        progress: show a tqdm progress bar.
        description: label of the progress bar.
        compile: run the hand-written step of two ``gp_core.models`` MLPs
            through ``torch.compile``. The first iteration then took about
            17 s on 2 CPU cores with an empty compile cache, and a new λ, shape or
            penalty compiles again. It pays off only for runs of several
            minutes (see the book's benchmark page). With other models it
            warns and trains without compiling.

    Raises:
        NonFiniteError: a loss or gradient became NaN or infinite. Its
            ``result`` contains everything computed until then.
        RuntimeError: ``compile`` is set and torch.compile failed.
    """
    device = resolve_device(config.device)
    generator_net.to(device).train()
    discriminator.to(device).train()
    hand_written = mlp_step.supported(generator_net) and mlp_step.supported(discriminator, scalar_output=True)
    if compile and not hand_written:
        _warn_not_compiled()
    loss = get_loss(config.loss)
    opt_d = make_optimizer(discriminator.parameters(), config, config.lr_d)
    opt_g = make_optimizer(generator_net.parameters(), config, config.lr_g)
    rng = torch.Generator().manual_seed(config.seed)
    result = TrainResult(config=config, discriminator=discriminator, generator=generator_net)
    batch = config.batch_size

    def draw_noise() -> torch.Tensor:
        return torch.randn(batch, noise_dim, generator=rng).to(device)

    if mlp_step.supported(generator_net):
        def sample_fake(z: torch.Tensor) -> torch.Tensor:
            return mlp_step.sample(generator_net, z)
    else:
        sample_fake = torch.no_grad()(generator_net)

    if 0 in config.snapshot_at:
        _snapshot(result, 0, discriminator, generator_net)
    start = time.perf_counter()
    with _progress(config, progress, description) as bar:
        for iteration in range(1, config.iterations + 1):
            for _ in range(config.d_steps):
                x_real = sample_real(batch, rng).to(device)
                x_fake = sample_fake(draw_noise())
                stats = discriminator_step(
                    discriminator, opt_d, x_real, x_fake, loss, config, rng, iteration, result, compile
                )
            loss_g = generator_step(
                generator_net, discriminator, opt_g, draw_noise(), loss, iteration, result, compile
            )
            _finish_iteration(result, iteration, start, discriminator, generator_net, x_real, x_fake, stats, loss_g)
            bar.update(1)
    return result


def train_discriminator(
    discriminator: nn.Module,
    x_real: torch.Tensor,
    x_fake: torch.Tensor,
    config: TrainConfig,
    progress: bool = True,
    description: str = "D",
    compile: bool = False,
) -> TrainResult:
    """Train D alone to separate two fixed sample sets, with the GAN trainer's D step.

    Each iteration takes one minibatch of ``config.batch_size`` points from
    each set; a set is reshuffled after every full pass through it.
    ``config.iterations`` counts D steps, and ``d_steps`` and ``lr_g`` are not used.
    ``compile`` is as for ``train_gan``.

    Raises:
        NonFiniteError: as for ``train_gan``.
    """
    if x_real.dim() < 2 or x_fake.dim() < 2:
        raise ValueError("x_real and x_fake must have shape (n, ...) with at least two dimensions")
    if config.batch_size > min(len(x_real), len(x_fake)):
        raise ValueError(
            f"batch_size={config.batch_size} exceeds the smaller sample set "
            f"({min(len(x_real), len(x_fake))} points); lower batch_size or draw more samples"
        )
    device = resolve_device(config.device)
    discriminator.to(device).train()
    if compile and not mlp_step.supported(discriminator, scalar_output=True):
        _warn_not_compiled()
    loss = get_loss(config.loss)
    opt_d = make_optimizer(discriminator.parameters(), config, config.lr_d)
    rng = torch.Generator().manual_seed(config.seed)
    result = TrainResult(config=config, discriminator=discriminator)
    real_batches = _epoch_batches(x_real.to(device), config.batch_size, rng)
    fake_batches = _epoch_batches(x_fake.to(device), config.batch_size, rng)

    if 0 in config.snapshot_at:
        _snapshot(result, 0, discriminator, None)
    start = time.perf_counter()
    with _progress(config, progress, description) as bar:
        for iteration in range(1, config.iterations + 1):
            batch_real, batch_fake = next(real_batches), next(fake_batches)
            stats = discriminator_step(
                discriminator, opt_d, batch_real, batch_fake, loss, config, rng, iteration, result, compile
            )
            _finish_iteration(result, iteration, start, discriminator, None, batch_real, batch_fake, stats, None)
            bar.update(1)
    return result


def _epoch_batches(samples: torch.Tensor, batch_size: int, rng: torch.Generator) -> Iterator[torch.Tensor]:
    """Yield minibatches forever, reshuffling after each pass; a last partial batch is dropped."""
    n = len(samples)
    while True:
        order = torch.randperm(n, generator=rng).to(samples.device)
        for start in range(0, n - batch_size + 1, batch_size):
            yield samples[order[start : start + batch_size]]
