"""A small convolutional MNIST classifier for scoring generated digits, with a disk cache.

The scores in ``gp_core.scores`` (Inception Score, class coverage, Stacked
MNIST modes) need class probabilities for generated digits. This module trains
one small network on the training part of a ``DigitSplit`` and keeps its
weights in a cache folder. On the 5,000-digit subset, training took 11 s on
one CPU thread and a later load, held-out accuracy included, took 0.2 s.

Pixel convention: every public function here takes images as ``(n, 784)``
float pixels in [0, 1], the convention of ``DigitSplit``, and normalises them
with ``gp_core.mnist.normalize``. Only ``DigitClassifier.forward`` takes
normalised pixels.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import tempfile
import time
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .mnist import IMAGE_PIXELS as N_PIXELS
from .mnist import IMAGE_SIDE, DigitSplit, normalize
from .train import resolve_device, seeded

__all__ = [
    "ARCHITECTURE_VERSION",
    "CACHE_DIR_ENV",
    "ClassifierResult",
    "DigitClassifier",
    "accuracy",
    "cache_path",
    "class_probabilities",
    "default_cache_dir",
    "load_or_train_classifier",
    "train_classifier",
]

N_CLASSES = 10

# Change this string whenever DigitClassifier's layers change, so that old cache files stop matching.
ARCHITECTURE_VERSION = "conv16-conv32-fc128-v1"
CACHE_DIR_ENV = "GP_CORE_CACHE_DIR"

# With these settings, seeds 0 to 3 reached 97.8% to 98.3% accuracy on the 1,000 held-out digits of
# load_digits(), in 10 to 12 s of CPU time on one thread each (PyTorch 2.13 CPU build, 2-core x86 machine).
# With 32 and 64 channels, 8 epochs took 17 s for 97.4% (seed 0) and 97.8% (seed 1).
DEFAULT_EPOCHS = 12
DEFAULT_BATCH_SIZE = 64
DEFAULT_LR = 2e-3
DEFAULT_MAX_SHIFT = 2

# Pixels may exceed [0, 1] by this much, so that rounding errors in a generator's output pass.
PIXEL_TOLERANCE = 1e-4


class DigitClassifier(nn.Module):
    """Convolutional classifier of 28 × 28 digits.

    Layers: 3 × 3 conv with 16 channels, ReLU, 2 × 2 max pool, 3 × 3 conv with
    32 channels, ReLU, 2 × 2 max pool, dropout 0.25, linear 1568 → 128, ReLU,
    dropout 0.5, linear 128 → 10. About 207,000 parameters.
    Input ``(n, 784)`` normalised pixels (``gp_core.mnist.normalize`` of
    pixels in [0, 1]), rows in row-major image order. Output ``(n, 10)`` logits.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.dropout_conv = nn.Dropout(0.25)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.dropout_fc = nn.Dropout(0.5)
        self.fc2 = nn.Linear(128, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != N_PIXELS:
            raise ValueError(f"DigitClassifier expects (n, {N_PIXELS}) normalised pixels, got shape {tuple(x.shape)}")
        h = x.view(-1, 1, IMAGE_SIDE, IMAGE_SIDE)
        h = F.max_pool2d(F.relu(self.conv1(h)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        h = self.dropout_conv(h).flatten(1)
        h = self.dropout_fc(F.relu(self.fc1(h)))
        return self.fc2(h)


@dataclass
class ClassifierResult:
    """A trained or loaded digit classifier and its score on the held-out digits.

    Attributes:
        model: the classifier in eval mode, on the requested device.
        heldout_accuracy: fraction of the split's held-out digits classified
            correctly, in [0, 1]. NaN when the split has no held-out digits.
        trained_now: True when this call trained the model, False when it loaded it from the cache.
        path: the cache file. None when writing it failed, which a warning reports.
    """

    model: DigitClassifier
    heldout_accuracy: float
    trained_now: bool
    path: Path | None


def _validate_pixels(images: torch.Tensor, name: str) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 2 or images.shape[1] != N_PIXELS:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"{name} must be a tensor of shape (n, {N_PIXELS}), got {shape}")
    if len(images) == 0:
        raise ValueError(f"{name} is empty. Pass at least one image")
    if not images.is_floating_point():
        raise ValueError(f"{name} must be floating point pixels in [0, 1], got dtype {images.dtype}")
    low, high = float(images.min()), float(images.max())
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"{name} contains NaN or infinite pixels")
    if low < -PIXEL_TOLERANCE or high > 1 + PIXEL_TOLERANCE:
        raise ValueError(
            f"{name} must be pixels in [0, 1], got values in [{low:.4g}, {high:.4g}]. Pass unnormalised "
            f"pixels (this module normalises them), and map outputs of a tanh generator with (x + 1) / 2"
        )


def _validate_labels(labels: torch.Tensor, n_images: int, name: str) -> None:
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.dtype != torch.int64:
        description = f"{tuple(labels.shape)} {labels.dtype}" if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"{name} must be a 1-D int64 tensor of class indices, got {description}")
    if len(labels) != n_images:
        raise ValueError(f"{name} has length {len(labels)} but there are {n_images} images. Pass one label per image")
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= N_CLASSES):
        raise ValueError(
            f"{name} must be in [0, {N_CLASSES - 1}], got values in [{int(labels.min())}, {int(labels.max())}]"
        )


def _validate_positive_int(value: object, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _shift_images(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each ``(n, 784)`` image by its own random whole-pixel offset in [-max_shift, max_shift].

    Pixels shifted in from outside the frame are 0 (background in [0, 1] units).
    """
    n = len(images)
    padded = F.pad(images.view(n, IMAGE_SIDE, IMAGE_SIDE), (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (2, n, 1), generator=generator).to(images.device)
    grid = torch.arange(IMAGE_SIDE, device=images.device)
    rows = (grid + offsets[0]).unsqueeze(2)  # (n, 28, 1)
    cols = (grid + offsets[1]).unsqueeze(1)  # (n, 1, 28)
    batch_index = torch.arange(n, device=images.device).view(n, 1, 1)
    return padded[batch_index, rows, cols].reshape(n, N_PIXELS)


def train_classifier(
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    epochs: int = DEFAULT_EPOCHS,
    seed: int = 0,
    device: str = "cpu",
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lr: float = DEFAULT_LR,
    max_shift: int = DEFAULT_MAX_SHIFT,
) -> DigitClassifier:
    """Train a fresh DigitClassifier with Adam and cross-entropy, and return it in eval mode.

    Each epoch reshuffles the images and shifts each one by a random whole
    number of pixels, at most ``max_shift`` in each direction (0 turns the
    augmentation off). The learning rate decays linearly to zero over the run.
    The last partial batch of an epoch is kept. On one device, the same seed
    and data give the same weights. The caller's global random state is left
    unchanged.

    NOTE: training uses torch's current number of CPU threads. With the default
    settings on a 2-core machine shared with another PyTorch process, 2 threads
    took 141 s and 1 thread 11 s, so call ``torch.set_num_threads(1)`` first on a busy machine.

    Args:
        train_images: ``(n, 784)`` pixels in [0, 1].
        train_labels: ``(n,)`` int64 classes in [0, 9].
        epochs: passes over the data, ≥ 1.
        seed: seeds the initial weights, the order, the shifts and dropout.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
        batch_size: images per Adam step, ≥ 1.
        lr: Adam's initial learning rate, > 0.
        max_shift: largest shift in pixels, in [0, 13].
    """
    _validate_pixels(train_images, "train_images")
    _validate_labels(train_labels, len(train_images), "train_labels")
    _validate_positive_int(epochs, "epochs")
    _validate_positive_int(batch_size, "batch_size")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    if not isinstance(max_shift, int) or isinstance(max_shift, bool) or not 0 <= max_shift < IMAGE_SIDE // 2:
        raise ValueError(f"max_shift must be an integer in [0, {IMAGE_SIDE // 2 - 1}] pixels, got {max_shift!r}")
    torch_device = resolve_device(device)

    images = train_images.detach().to(torch_device, torch.float32)
    labels = train_labels.detach().to(torch_device)
    n = len(images)
    steps_per_epoch = math.ceil(n / batch_size)
    rng = torch.Generator().manual_seed(seed)
    with seeded(seed):
        model = DigitClassifier().to(torch_device)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 1 - step / (epochs * steps_per_epoch)
        )
        model.train()
        for _ in range(epochs):
            order = torch.randperm(n, generator=rng).to(torch_device)
            for start in range(0, n, batch_size):
                index = order[start : start + batch_size]
                batch = images[index]
                if max_shift:
                    batch = _shift_images(batch, max_shift, rng)
                loss = F.cross_entropy(model(normalize(batch)), labels[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
    return model.eval()


def class_probabilities(model: nn.Module, images: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    """Compute softmax class probabilities ``(n, 10)``, float32 on the CPU, without gradients.

    ``images`` are ``(n, 784)`` pixels in [0, 1], processed ``batch`` at a time
    on the model's device. The model runs in eval mode, so dropout is off, and
    its previous mode is restored afterwards.
    """
    _validate_pixels(images, "images")
    _validate_positive_int(batch, "batch")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            chunks = [
                F.softmax(model(normalize(chunk.to(device, torch.float32))), dim=1).cpu()
                for chunk in images.split(batch)
            ]
    finally:
        model.train(was_training)
    return torch.cat(chunks)


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Return the fraction of ``(n, 784)`` images in [0, 1] whose most probable class equals ``labels`` ``(n,)``."""
    _validate_pixels(images, "images")
    _validate_labels(labels, len(images), "labels")
    predicted = class_probabilities(model, images).argmax(dim=1)
    return float((predicted == labels.cpu()).float().mean())


def default_cache_dir() -> Path:
    """Return the folder named by ``$GP_CORE_CACHE_DIR``, or ``~/.cache/gp-gan-book`` when it is unset or empty."""
    configured = os.environ.get(CACHE_DIR_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "gp-gan-book"


def _training_settings() -> dict[str, object]:
    return {
        "epochs": DEFAULT_EPOCHS,
        "seed": 0,
        "batch_size": DEFAULT_BATCH_SIZE,
        "lr": DEFAULT_LR,
        "max_shift": DEFAULT_MAX_SHIFT,
    }


def _data_digest(images: torch.Tensor, labels: torch.Tensor) -> str:
    """Return the sha256 of the images as float32 and the labels as int64, in C order, with their shapes."""
    digest = hashlib.sha256()
    digest.update(repr((tuple(images.shape), tuple(labels.shape))).encode())
    digest.update(images.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    digest.update(labels.detach().to("cpu", torch.int64).contiguous().numpy().tobytes())
    return digest.hexdigest()


def _cache_key(images: torch.Tensor, labels: torch.Tensor) -> str:
    record = {
        "architecture": ARCHITECTURE_VERSION,
        "settings": _training_settings(),
        "data_sha256": _data_digest(images, labels),
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def cache_path(split: DigitSplit, cache_dir: str | Path | None = None) -> Path:
    """Return the cache file of the classifier for ``split``.

    The file name is a hash of the architecture version, the training settings
    and the training digits. The held-out digits are not part of it, because
    they do not change the weights.
    """
    return _cache_file(cache_dir, _cache_key(split.train_images, split.train_labels))


def _cache_file(cache_dir: str | Path | None, key: str) -> Path:
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return folder / f"digit-classifier-{key[:16]}.pt"


def _write_atomically(payload: dict[str, object], path: Path) -> None:
    """Save ``payload`` with torch.save to a temporary file in ``path``'s folder, then rename it to ``path``.

    os.replace is atomic on one file system, so a reader sees either no file
    or the complete one. The temporary file is removed if saving raises. A
    process killed during the write leaves it behind, and it is never read.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)
    temporary = Path(handle.name)
    try:
        with handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


# Exceptions that torch.load and load_state_dict raise on a truncated, overwritten or foreign file.
_UNREADABLE_CACHE_ERRORS = (
    OSError,
    EOFError,
    RuntimeError,
    ValueError,
    KeyError,
    TypeError,
    pickle.UnpicklingError,
    zipfile.BadZipFile,
)


def _load_cached(path: Path, key: str, device: torch.device) -> DigitClassifier | None:
    """Load the model stored at ``path``, or warn and return None when the file is unreadable or stale."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("key") != key:
            raise ValueError("its key does not match the architecture, settings and training data")
        model = DigitClassifier()
        model.load_state_dict(payload["state_dict"])
    except _UNREADABLE_CACHE_ERRORS as error:
        warnings.warn(
            f"ignoring unreadable classifier cache file {path} ({type(error).__name__}: {error}). "
            f"Training a new classifier to overwrite it",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return model.to(device).eval()


def _heldout_accuracy(model: DigitClassifier, split: DigitSplit) -> float:
    if len(split.heldout_images) == 0:
        return math.nan
    return accuracy(model, split.heldout_images, split.heldout_labels)


def load_or_train_classifier(
    split: DigitSplit, cache_dir: str | Path | None = None, device: str = "cpu"
) -> ClassifierResult:
    """Load the classifier of ``split`` from the cache, or train it on the training digits and save it.

    The cache file is ``cache_path(split, cache_dir)``. Its folder defaults to
    ``$GP_CORE_CACHE_DIR`` or ``~/.cache/gp-gan-book`` and is created when
    missing. The file is written atomically. An unreadable or mismatched file
    triggers a RuntimeWarning and is retrained and overwritten. When the file
    cannot be written, a RuntimeWarning reports it and the result's ``path``
    is None. The held-out accuracy is measured on every call, loaded or trained.
    Prints one line saying whether the model was trained, with the time, or
    loaded, with the path.
    """
    torch_device = resolve_device(device)
    _validate_pixels(split.train_images, "split.train_images")
    _validate_labels(split.train_labels, len(split.train_images), "split.train_labels")
    key = _cache_key(split.train_images, split.train_labels)
    path = _cache_file(cache_dir, key)

    if path.exists():
        model = _load_cached(path, key, torch_device)
        if model is not None:
            heldout = _heldout_accuracy(model, split)
            print(f"Loaded the digit classifier from {path} (held-out accuracy {heldout:.2%})")
            return ClassifierResult(model=model, heldout_accuracy=heldout, trained_now=False, path=path)

    start = time.perf_counter()
    settings = _training_settings()
    model = train_classifier(split.train_images, split.train_labels, device=device, **settings)
    seconds = time.perf_counter() - start
    heldout = _heldout_accuracy(model, split)
    payload = {
        "key": key,
        "architecture": ARCHITECTURE_VERSION,
        "settings": settings,
        "source": split.source,
        "train_seconds": seconds,
        "state_dict": {name: value.cpu() for name, value in model.state_dict().items()},
    }
    saved_path: Path | None = path
    try:
        _write_atomically(payload, path)
    except OSError as error:
        warnings.warn(
            f"could not write the classifier cache file {path} ({error}), so the next call will train again. "
            f"Set {CACHE_DIR_ENV} or pass cache_dir to use a writable folder",
            RuntimeWarning,
            stacklevel=2,
        )
        saved_path = None
    destination = f"saved to {saved_path}" if saved_path is not None else "not saved"
    print(
        f"Trained the digit classifier on {len(split.train_images):,} digits in {seconds:.1f} s "
        f"(held-out accuracy {heldout:.2%}), {destination}"
    )
    return ClassifierResult(model=model, heldout_accuracy=heldout, trained_now=True, path=saved_path)
