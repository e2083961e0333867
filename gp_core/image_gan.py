"""Training of residual image GANs with a gradient penalty, a weight average of G, checkpoints and DDP.

The three methods of Thanh-Tung et al.'s ImageNet experiment, plus a baseline:

===================  ==================  ==============  ==========================
method               loss                penalty         D steps per G step
===================  ==================  ==============  ==========================
``GAN-0-GP``         non-saturating GAN  ``0-GP``        1
``GAN-0-GP-sample``  non-saturating GAN  ``0-GP-sample`` 1
``WGAN-GP``          WGAN                ``1-GP``        5
``GAN``              non-saturating GAN  none            1
===================  ==================  ==============  ==========================

The defaults of λ (10) and the learning rates (1e-4 for G, 3e-4 for D)
follow the paper's ImageNet caption. Adam's β = (0, 0.99), the penalty on D's
logit and an exponential moving average of G's weights with β = 0.999 (the
network that gets evaluated) follow the ImageNet configuration of Mescheder
et al. (2018), whose code the authors adapted. The batch size, length and
evaluation defaults are small; ``gp_core.experiments.imagenet.image_settings``
sets the paper's.

Randomness comes from one ``torch.Generator`` on the CPU, seeded by
``config.seed``. Its state and the data order are stored in every
checkpoint. A run resumed from a checkpoint therefore draws the numbers it
would have drawn anyway, and it ends with the same weights as an
uninterrupted run on the same hardware. NOTE: the tests check this on the CPU only. On
CUDA, kernels that are not deterministic by default (cuDNN convolutions among
them) can make even two uninterrupted runs differ slightly.

Under ``torchrun`` (a process group initialised before training), G and D are
wrapped in ``DistributedDataParallel``. Every process draws the same global
batch and keeps its own slice of it, so the data, z and α that a run sees do
not depend on the number of processes. Each process computes the loss and
penalty of its slice, and DDP averages the gradients, which equals the
gradient of the global batch's mean. Rank 0 evaluates and writes checkpoints.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .losses import Loss, get_loss
from .penalties import PENALTIES, centered_square, validate_penalty
from .resnet import ResnetDiscriminator, ResnetGenerator, ResnetShape
from .train import resolve_device, seeded

__all__ = [
    "METHODS",
    "ImageMethod",
    "ImageGanConfig",
    "ImageData",
    "TensorImages",
    "Evaluation",
    "ImageGanRun",
    "ImageGanDiverged",
    "CHECKPOINT_NAME",
    "discriminator_objective",
    "train_image_gan",
    "load_checkpoint",
    "generate",
]

CHECKPOINT_NAME = "checkpoint.pt"
# Fields that may differ between a checkpoint and the run that resumes it.
RESUMABLE_CHANGES = ("iterations", "checkpoint_every", "device")


@dataclass(frozen=True)
class ImageMethod:
    """A GAN formulation: its loss, its penalty and D's steps per G step."""

    loss: str
    penalty: str
    d_steps: int


METHODS: dict[str, ImageMethod] = {
    "GAN-0-GP": ImageMethod("gan", "0-GP", 1),
    "GAN-0-GP-sample": ImageMethod("gan", "0-GP-sample", 1),
    "WGAN-GP": ImageMethod("wgan", "1-GP", 5),
    "GAN": ImageMethod("gan", "none", 1),
}


def _positive_int(value: object, name: str, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"ImageGanConfig.{name} must be an integer >= {low}, got {value!r}")


def _positive_float(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"ImageGanConfig.{name} must be a finite number > 0, got {value!r}")


@dataclass(frozen=True)
class ImageGanConfig:
    """Settings of one image GAN run.

    Attributes:
        method: a key of ``METHODS``.
        shape: sizes of G and D.
        batch_size: images per D step, summed over all processes.
        iterations: generator steps.
        lam: λ, the penalty's weight.
        d_steps: D steps per G step; None takes the method's.
        lr_g, lr_d: Adam learning rates of G and D.
        betas: Adam's β1 and β2 for both players.
        gradient_of: ``"logit"`` or ``"probability"``: which output of D the
            penalty differentiates. WGAN critics require ``"logit"``.
        ema_beta: weight of the old average in G's moving average, in [0, 1).
        eval_every: score G's average every this many G steps (and at 0 and
            at the end); 0 scores only at 0 and at the end.
        eval_samples: images generated per score.
        checkpoint_every: write a checkpoint every this many G steps; 0
            writes one only at the end. Needs a checkpoint folder.
        seed: seed of the weights and of every random draw.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    """

    method: str = "GAN-0-GP"
    shape: ResnetShape = field(default_factory=ResnetShape)
    batch_size: int = 64
    iterations: int = 1000
    lam: float = 10.0
    d_steps: int | None = None
    lr_g: float = 1e-4
    lr_d: float = 3e-4
    betas: tuple[float, float] = (0.0, 0.99)
    gradient_of: str = "logit"
    ema_beta: float = 0.999
    eval_every: int = 100
    eval_samples: int = 1000
    checkpoint_every: int = 0
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {list(METHODS)}")
        if not isinstance(self.shape, ResnetShape):
            raise ValueError(f"ImageGanConfig.shape must be a ResnetShape, got {type(self.shape).__name__}")
        method = METHODS[self.method]
        validate_penalty(method.penalty, self.lam, self.gradient_of)
        if method.loss == "wgan" and self.gradient_of != "logit":
            raise ValueError("a WGAN critic has no sigmoid; use gradient_of='logit' with WGAN-GP")
        _positive_int(self.batch_size, "batch_size")
        _positive_int(self.iterations, "iterations", allow_zero=True)
        if self.d_steps is not None:
            _positive_int(self.d_steps, "d_steps")
        _positive_float(self.lr_g, "lr_g")
        _positive_float(self.lr_d, "lr_d")
        if len(self.betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in self.betas):
            raise ValueError(f"ImageGanConfig.betas must be two numbers in [0, 1), got {self.betas!r}")
        if isinstance(self.ema_beta, bool) or not isinstance(self.ema_beta, (int, float)) or not 0 <= self.ema_beta < 1:
            raise ValueError(f"ImageGanConfig.ema_beta must be in [0, 1), got {self.ema_beta!r}")
        _positive_int(self.eval_every, "eval_every", allow_zero=True)
        _positive_int(self.eval_samples, "eval_samples")
        _positive_int(self.checkpoint_every, "checkpoint_every", allow_zero=True)
        _positive_int(self.seed, "seed", allow_zero=True)

    @property
    def method_spec(self) -> ImageMethod:
        return METHODS[self.method]

    @property
    def critic_steps(self) -> int:
        return self.method_spec.d_steps if self.d_steps is None else self.d_steps

    def replace(self, **changes: object) -> "ImageGanConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


class ImageData(Protocol):
    """Labelled images that a run draws batches from (``gp_core.images.ImageFolder`` is one)."""

    def __len__(self) -> int: ...

    def batch(self, indices: Sequence[int] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return images ``(n, channels, size, size)`` in [−1, 1] and labels ``(n,)``."""
        ...


class TensorImages:
    """Images held in memory as one tensor, with their labels."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        if images.dim() != 4:
            raise ValueError(f"images must have shape (n, channels, height, width), got {tuple(images.shape)}")
        if labels.shape != images.shape[:1]:
            raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}")
        if len(images) == 0:
            raise ValueError("no images given; a run needs at least one")
        self.images = images.float()
        self.labels = labels.long()

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, indices: Sequence[int] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        indices = torch.as_tensor(indices, dtype=torch.long)
        return self.images[indices], self.labels[indices]


@dataclass(frozen=True)
class Evaluation:
    """A score of G's weight average after ``iteration`` G steps."""

    iteration: int
    score: float
    wall_time_s: float


@dataclass
class ImageGanRun:
    """A finished or stopped run.

    Attributes:
        config: the run's settings.
        generator: the moving average of G's weights, the network that is scored.
        raw_generator: G's current weights.
        discriminator: D's current weights.
        evaluations: scores at the evaluation iterations.
        losses: per G step, D's loss (last D step), the penalty, the mean
            gradient norm at the penalty's points, and G's loss, each a list.
        iterations_done: G steps finished.
        wall_time_s: training time, summed over all sessions of a resumed run.
        resumed_from: the G step of the checkpoint this session started from, or None.
    """

    config: ImageGanConfig
    generator: ResnetGenerator
    raw_generator: ResnetGenerator
    discriminator: ResnetDiscriminator
    evaluations: list[Evaluation] = field(default_factory=list)
    losses: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in LOSS_KEYS})
    iterations_done: int = 0
    wall_time_s: float = 0.0
    resumed_from: int | None = None

    @property
    def scores(self) -> tuple[list[int], list[float]]:
        """Return the evaluation iterations and scores as two lists."""
        return [e.iteration for e in self.evaluations], [e.score for e in self.evaluations]


LOSS_KEYS = ("loss_d", "penalty", "grad_norm", "loss_g")


class ImageGanDiverged(RuntimeError):
    """A loss or penalty became NaN or infinite.

    ``run`` keeps the scores and losses before that step and G's finite
    moving average. Its current G and D hold the step's non-finite weights,
    and the last checkpoint, if any, is left as it was.
    """

    def __init__(self, iteration: int, quantity: str, value: float, run: ImageGanRun) -> None:
        config = run.config
        super().__init__(
            f"{config.method} diverged at G step {iteration}: {quantity} is {value}. "
            f"Lower lr_d (now {config.lr_d:g}) or lr_g (now {config.lr_g:g}), or change lam (now {config.lam:g}). "
            f"The scores up to step {run.iterations_done} are kept in this error's run attribute, "
            "and the last checkpoint, if any, is left as it was."
        )
        self.iteration = iteration
        self.quantity = quantity
        self.value = value
        self.run = run


class _EpochSampler:
    """Indices in a fresh random order every pass over the data, drawn from ``rng``."""

    def __init__(self, n: int, rng: torch.Generator) -> None:
        self.n = n
        self.rng = rng
        self.order = torch.randperm(n, generator=rng)
        self.position = 0

    def take(self, count: int) -> torch.Tensor:
        parts = []
        while count > 0:
            if self.position == self.n:
                self.order = torch.randperm(self.n, generator=self.rng)
                self.position = 0
            part = self.order[self.position : self.position + count]
            self.position += len(part)
            count -= len(part)
            parts.append(part)
        return torch.cat(parts)

    def state_dict(self) -> dict[str, object]:
        return {"order": self.order.clone(), "position": self.position}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.order = state["order"]
        self.position = int(state["position"])


def discriminator_objective(
    discriminator: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    labels: torch.Tensor | None,
    loss: Loss,
    penalty_name: str,
    lam: float,
    gradient_of: str,
    alpha: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return D's loss, the penalty (both with D's graph) and the mean gradient norm at the penalty's points.

    D takes real, fake and the penalty's points in one pass. No layer of D mixes
    samples, so this equals separate passes, and ``discriminator(v, labels)``
    takes images ``(n, ...)`` to logits ``(n, 1)``. ``alpha`` holds one α per
    real/fake pair and is used only by penalties at interpolates. The penalty
    is λ times the batch mean, as in ``gp_core.penalties.gradient_penalty``.
    """
    spec = PENALTIES[penalty_name]
    n = len(real)
    if spec is None:
        inputs, points = torch.cat([real, fake]), None
    elif spec.at_interpolates:
        shaped = alpha.view(-1, *([1] * (real.dim() - 1))).to(real.dtype)
        points = (shaped * real + (1 - shaped) * fake).detach().requires_grad_(True)
        inputs = torch.cat([real, fake, points])
    else:
        points = real.detach().requires_grad_(True)
        inputs = torch.cat([points, fake])
    repeats = len(inputs) // n
    outputs = discriminator(inputs, None if labels is None else labels.repeat(repeats))
    d_real, d_fake = outputs[:n], outputs[n : 2 * n]
    value = loss.discriminator(d_real, d_fake)
    if points is None:
        return value, value.new_zeros(()), value.new_zeros(())

    at_points = outputs[2 * n :] if spec.at_interpolates else d_real
    if gradient_of == "probability":
        at_points = torch.sigmoid(at_points)
    (grad,) = torch.autograd.grad(at_points.sum(), points, create_graph=True)
    squared_norm = grad.flatten(start_dim=1).pow(2).sum(dim=1)
    penalty = lam * centered_square(squared_norm, spec.center).mean()
    return value, penalty, squared_norm.detach().sqrt().mean()


def _distributed() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _run_device(config: ImageGanConfig, world: int) -> torch.device:
    device = resolve_device(config.device)
    if world > 1 and device.type == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def generate(generator: ResnetGenerator, n: int, seed: int, device: torch.device | None = None, batch: int = 500) -> torch.Tensor:
    """Return ``n`` images of ``generator`` in [−1, 1] from z drawn with ``seed``, on the CPU.

    A conditional generator gets the labels 0, 1, …, n_classes − 1 in turn,
    so every class is equally represented.
    """
    shape = generator.shape
    device = device or next(generator.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(n, shape.z_dim, generator=rng)
    labels = torch.arange(n) % shape.n_classes if shape.conditional else None
    chunks = []
    with torch.no_grad():
        for start in range(0, n, batch):
            z_part = z[start : start + batch].to(device)
            labels_part = None if labels is None else labels[start : start + batch].to(device)
            chunks.append(generator(z_part, labels_part).cpu())
    return torch.cat(chunks)


def _write_atomically(payload: dict[str, object], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            torch.save(payload, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, object]:
    """Read a checkpoint file written by ``train_image_gan``; raise ValueError naming the file if it is unreadable."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch raises several types for damaged files
        raise ValueError(f"checkpoint {path} cannot be read ({error}); delete it to start the run afresh") from error
    if not isinstance(payload, dict) or "config" not in payload or "iteration" not in payload:
        raise ValueError(f"{path} is not a checkpoint of gp_core.image_gan; delete it or choose another folder")
    return payload


def _config_from_dict(values: dict[str, object]) -> ImageGanConfig:
    values = dict(values)
    values["shape"] = ResnetShape(**values["shape"])
    values["betas"] = tuple(values["betas"])
    return ImageGanConfig(**values)


class _Trainer:
    """The state of one run: networks, optimisers, random source and records."""

    def __init__(self, config: ImageGanConfig, data: ImageData, score: Callable[[torch.Tensor], float] | None) -> None:
        self.config = config
        self.data = data
        self.score = score
        self.rank, self.world = _distributed()
        if config.batch_size % self.world:
            raise ValueError(
                f"batch_size {config.batch_size} is not divisible by the {self.world} processes; "
                "choose a multiple of the process count"
            )
        self.local_batch = config.batch_size // self.world
        self.device = _run_device(config, self.world)
        method = config.method_spec
        self.loss = get_loss(method.loss)

        with seeded(config.seed):
            generator = ResnetGenerator(config.shape)
            discriminator = ResnetDiscriminator(config.shape)
        self.generator = generator.to(self.device)
        self.discriminator = discriminator.to(self.device)
        self.average = copy.deepcopy(self.generator).requires_grad_(False).eval()
        self.g_optimizer = torch.optim.Adam(self.generator.parameters(), lr=config.lr_g, betas=config.betas, eps=1e-8)
        self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_d, betas=config.betas, eps=1e-8)
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.g_parallel: nn.Module = DistributedDataParallel(self.generator, device_ids=ids)
            self.d_parallel: nn.Module = DistributedDataParallel(self.discriminator, device_ids=ids)
        else:
            self.g_parallel, self.d_parallel = self.generator, self.discriminator

        self.rng = torch.Generator().manual_seed(config.seed)
        self.sampler = _EpochSampler(len(data), self.rng)
        self.run = ImageGanRun(config, self.average, self.generator, self.discriminator)

    # -- random draws: the whole global batch on every process, then this process's slice

    def _slice(self, tensor: torch.Tensor) -> torch.Tensor:
        start = self.rank * self.local_batch
        return tensor[start : start + self.local_batch].to(self.device)

    def _real_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        indices = self.sampler.take(self.config.batch_size)
        images, labels = self.data.batch(self._slice(indices).cpu())
        return images.to(self.device), labels.to(self.device)

    def _noise(self) -> torch.Tensor:
        return self._slice(torch.randn(self.config.batch_size, self.config.shape.z_dim, generator=self.rng))

    def _labels_for(self, labels: torch.Tensor) -> torch.Tensor | None:
        return labels if self.config.shape.conditional else None

    # -- steps

    def discriminator_step(self) -> torch.Tensor:
        """Take one D step; return (loss, penalty, mean gradient norm) as one detached tensor of three values."""
        config = self.config
        real, labels = self._real_batch()
        z = self._noise()
        alpha = self._slice(torch.rand(config.batch_size, generator=self.rng))
        labels = self._labels_for(labels)
        self._last_labels = labels
        with torch.no_grad():
            fake = self.generator(z, labels)

        loss, penalty, grad_norm = discriminator_objective(
            self.d_parallel, real, fake, labels, self.loss, config.method_spec.penalty, config.lam, config.gradient_of, alpha
        )
        self.d_optimizer.zero_grad(set_to_none=True)
        (loss + penalty).backward()
        self.d_optimizer.step()
        return torch.stack([loss.detach(), penalty.detach(), grad_norm])

    def generator_step(self, labels: torch.Tensor | None) -> torch.Tensor:
        """Take one G step through D without computing D's parameter gradients; return G's loss."""
        z = self._noise()
        self.discriminator.requires_grad_(False)
        try:
            fake = self.g_parallel(z, labels)
            loss = self.loss.generator(self.discriminator(fake, labels))
            self.g_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.g_optimizer.step()
        finally:
            self.discriminator.requires_grad_(True)
        return loss.detach()

    @torch.no_grad()
    def update_average(self) -> None:
        beta = self.config.ema_beta
        for average, current in zip(self.average.parameters(), self.generator.parameters()):
            average.lerp_(current, 1 - beta)

    def evaluate(self, iteration: int, elapsed: float) -> None:
        if self.rank != 0 or self.score is None:
            return
        images = generate(self.average, self.config.eval_samples, seed=self.config.seed, device=self.device)
        self.run.evaluations.append(Evaluation(iteration, float(self.score(images)), elapsed))

    # -- checkpoints

    def state_dict(self) -> dict[str, object]:
        return {
            "format": 1,
            "config": self.config.to_dict(),
            "iteration": self.run.iterations_done,
            "generator": self.generator.state_dict(),
            "average": self.average.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "g_optimizer": self.g_optimizer.state_dict(),
            "d_optimizer": self.d_optimizer.state_dict(),
            "rng": self.rng.get_state(),
            "sampler": self.sampler.state_dict(),
            "evaluations": [dataclasses.asdict(e) for e in self.run.evaluations],
            "losses": self.run.losses,
            "wall_time_s": self.run.wall_time_s,
        }

    def load_state_dict(self, state: dict[str, object], path: Path) -> None:
        saved = _config_from_dict(state["config"])
        differing = [
            f.name
            for f in dataclasses.fields(ImageGanConfig)
            if f.name not in RESUMABLE_CHANGES and getattr(saved, f.name) != getattr(self.config, f.name)
        ]
        if differing:
            raise ValueError(
                f"checkpoint {path} was written by a run with other settings ({', '.join(differing)} differ); "
                "use another checkpoint folder, or delete this checkpoint to start afresh"
            )
        if state["iteration"] > self.config.iterations:
            raise ValueError(
                f"checkpoint {path} is at G step {state['iteration']}, past iterations={self.config.iterations}; "
                "raise iterations or use another checkpoint folder"
            )
        self.generator.load_state_dict(state["generator"])
        self.average.load_state_dict(state["average"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.g_optimizer.load_state_dict(state["g_optimizer"])
        self.d_optimizer.load_state_dict(state["d_optimizer"])
        self.rng.set_state(state["rng"])
        self.sampler.load_state_dict(state["sampler"])
        self.run.evaluations = [Evaluation(**e) for e in state["evaluations"]]
        self.run.losses = {k: list(v) for k, v in state["losses"].items()}
        self.run.iterations_done = int(state["iteration"])
        self.run.wall_time_s = float(state["wall_time_s"])
        self.run.resumed_from = self.run.iterations_done

    def save(self, folder: Path | None) -> None:
        if folder is not None and self.rank == 0:
            _write_atomically(self.state_dict(), folder / CHECKPOINT_NAME)

    # -- the loop

    def _record(self, iteration: int, d_values: torch.Tensor, g_loss: torch.Tensor) -> None:
        values = torch.cat([d_values, g_loss.view(1)]).cpu().tolist()
        for key, value in zip(LOSS_KEYS, values):
            if not math.isfinite(value):
                raise ImageGanDiverged(iteration, key, value, self.run)
        for key, value in zip(LOSS_KEYS, values):
            self.run.losses[key].append(value)

    def train(self, checkpoint_dir: Path | None, progress: bool) -> ImageGanRun:
        from tqdm.auto import tqdm

        config = self.config
        start = self.run.iterations_done
        started = time.perf_counter() - self.run.wall_time_s
        if start == 0:
            self.evaluate(0, 0.0)
        steps = range(start + 1, config.iterations + 1)
        bar = tqdm(steps, desc=config.method, disable=not progress or self.rank != 0, leave=False)
        for iteration in bar:
            for _ in range(config.critic_steps):
                d_values = self.discriminator_step()
            # The G step reuses the labels of D's last real batch, as
            # Mescheder et al.'s training loop does.
            g_loss = self.generator_step(self._last_labels)
            # Checked before the average takes in G's new weights, so the
            # average, the network that is scored, stays finite.
            self._record(iteration, d_values, g_loss)
            self.update_average()
            self.run.iterations_done = iteration
            self.run.wall_time_s = time.perf_counter() - started
            last = iteration == config.iterations
            if last or (config.eval_every and iteration % config.eval_every == 0):
                self.evaluate(iteration, self.run.wall_time_s)
            if last or (config.checkpoint_every and iteration % config.checkpoint_every == 0):
                self.save(checkpoint_dir)
        return self.run


def train_image_gan(
    config: ImageGanConfig,
    data: ImageData,
    score: Callable[[torch.Tensor], float] | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> ImageGanRun:
    """Train one image GAN, resuming from the checkpoint in ``checkpoint_dir`` when there is one.

    A checkpoint whose settings differ in anything but ``iterations``,
    ``checkpoint_every`` or ``device`` raises ValueError.

    Args:
        config: the run's settings.
        data: the real images and labels; their shape must match ``config.shape``.
        score: maps images ``(n, channels, size, size)`` in [−1, 1] to a
            number, e.g. an Inception score; None skips evaluation.
        checkpoint_dir: folder for ``checkpoint.pt``; None keeps no checkpoint.
        progress: show a progress bar.

    Returns:
        The run. A finished checkpoint of the same settings returns at once.

    Raises:
        ImageGanDiverged: a loss became non-finite; its ``run`` keeps the scores so far.
        ValueError: invalid settings, data of the wrong shape, or a checkpoint of other settings.
    """
    if not isinstance(config, ImageGanConfig):
        raise ValueError(f"config must be an ImageGanConfig, got {type(config).__name__}")
    if config.checkpoint_every and checkpoint_dir is None:
        raise ValueError("checkpoint_every is set but checkpoint_dir is None; name a folder for the checkpoints")
    sample, _ = data.batch([0])
    expected = (1, config.shape.channels, config.shape.size, config.shape.size)
    if tuple(sample.shape) != expected:
        raise ValueError(f"the data's images have shape {tuple(sample.shape)[1:]}, the models expect {expected[1:]}")
    labels = getattr(data, "labels", None)
    if config.shape.conditional and labels is not None and not 0 <= int(labels.min()) <= int(labels.max()) < config.shape.n_classes:
        raise ValueError(f"labels must lie in [0, {config.shape.n_classes}); set shape.n_classes to the data's class count")

    trainer = _Trainer(config, data, score)
    folder = None if checkpoint_dir is None else Path(checkpoint_dir)
    if folder is not None and (folder / CHECKPOINT_NAME).exists():
        path = folder / CHECKPOINT_NAME
        trainer.load_state_dict(load_checkpoint(path), path)
    return trainer.train(folder, progress)
