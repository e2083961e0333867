"""Class probabilities of an Inception-v3 network, for the Inception score of Salimans et al. (2016).

The book scores the paper-scale ImageNet run with the TensorFlow
Inception-v3 graph ``inception-2015-12-05`` that the reference code of
Salimans et al. loads (openai/improved-gan, ``inception_score/model.py``).
Its weights are a file that the user downloads on a machine with network
access and passes by path.
``load_inception`` never downloads anything. It reads three kinds of file:

- a ``torch.export`` archive (``.pt2``) that maps float32 images in [-1, 1]
  of shape (n, 3, 299, 299) to logits of shape (n, K);
- a TorchScript archive with the same input and output;
- torch-fidelity's weights file ``weights-inception-2015-12-05-6726825d.pth``,
  which needs the torch-fidelity package (tested against 0.4.0) and a
  torchvision build that imports beside the installed torch.

torch-fidelity 0.4.0 requires torchvision, and ``pip install torch-fidelity``
on torch 2.13.0+cpu resolves to torch 2.14.1 and torchvision 0.29.1, so it
would replace torch. The first two formats need only torch, so a ``.pt2``
file made once on a machine with torch-fidelity is the portable choice.
torch 2.13 marks ``torch.jit.load`` as deprecated in favour of ``torch.export``.

To make the ``.pt2`` file, on a machine with network access and
torch-fidelity 0.4.0 installed, run::

    import torch
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class InceptionLogits(torch.nn.Module):
        def __init__(self, weights_path):
            super().__init__()
            self.inception = FeatureExtractorInceptionV3(
                "inception-v3-compat", ["logits_unbiased"], feature_extractor_weights_path=weights_path
            )

        def forward(self, images):
            pixels = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
            return self.inception(pixels)[0]

    model = InceptionLogits("weights-inception-2015-12-05-6726825d.pth").eval()
    example = (torch.zeros(2, 3, 299, 299),)
    program = torch.export.export(model, example, dynamic_shapes={"images": {0: torch.export.Dim("batch")}})
    torch.export.save(program, "inception-2015-12-05-logits.pt2")

This recipe ran with torch 2.13.0+cpu and torch-fidelity 0.4.0. In a check
with randomly initialised weights, the file it wrote gave the same logits
through ``load_inception`` as the weights file, bit for bit, on 299 × 299 images.

The weights file comes from ``TORCH_FIDELITY_WEIGHTS_URL``. The module
rounds images to 8-bit pixels, as torch-fidelity expects, and returns the
1008 logits without the bias of the last layer. That feature is torch-fidelity
0.4.0's default for the Inception score, and the reference code of Salimans
et al. also multiplies the ``pool_3`` features by the last weights without the bias.
"""

from __future__ import annotations

import importlib
import os
import pickle
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

__all__ = [
    "INCEPTION_SIZE",
    "TORCH_FIDELITY_CLASSES",
    "TORCH_FIDELITY_WEIGHTS_FILE",
    "TORCH_FIDELITY_WEIGHTS_URL",
    "InceptionClassifier",
    "load_inception",
    "resize_bilinear_tf1",
]

# Side in pixels of the square input of Inception-v3.
INCEPTION_SIZE = 299

# torch-fidelity 0.4.0 stores the 2015 TensorFlow Inception-v3 weights in this
# file. Its last layer has 1008 outputs: the 1,000 ImageNet classes and 8 unused ones.
TORCH_FIDELITY_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
TORCH_FIDELITY_WEIGHTS_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + TORCH_FIDELITY_WEIGHTS_FILE
)
TORCH_FIDELITY_CLASSES = 1008
_TORCH_FIDELITY_FEATURES = 2048
# The feature that torch-fidelity 0.4.0 scores by default for the Inception score:
# the logits of the last layer without its bias.
_TORCH_FIDELITY_FEATURE = "logits_unbiased"

# Values may exceed [-1, 1] by this much, for rounding in the generator's output,
# and are clamped to [-1, 1] before scoring.
RANGE_TOLERANCE = 1e-3

_PIXEL_MAX = 255

_PARAMETER_HINT = (
    f"On a machine with network access, download torch-fidelity's {TORCH_FIDELITY_WEIGHTS_FILE} "
    f"from {TORCH_FIDELITY_WEIGHTS_URL}, or convert it to a .pt2 file as the gp_core.inception "
    f"docstring shows, copy the file here and set inception_weights to its path"
)


class InceptionClassifier:
    """Callable that maps images in [-1, 1] to Inception class probabilities, in batches.

    Build one with ``load_inception``. Calling it with float images of shape
    (n, 3, H, W) returns float32 probabilities of shape (n, K) on the CPU, K
    being the number of classes of the network (1008 for torch-fidelity's weights).

    Attributes:
        source: the format of the weights file: "torch.export", "TorchScript" or "torch-fidelity".
        path: the weights file.
        device: the device that runs the network.
        batch_size: images per forward pass.
    """

    def __init__(
        self,
        logits: Callable[[torch.Tensor], torch.Tensor],
        source: str,
        path: Path,
        device: torch.device,
        batch_size: int,
    ) -> None:
        self._logits = logits
        self.source = source
        self.path = path
        self.device = device
        self.batch_size = batch_size

    def __repr__(self) -> str:
        return (
            f"InceptionClassifier(source={self.source!r}, path={str(self.path)!r}, "
            f"device={str(self.device)!r}, batch_size={self.batch_size})"
        )

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Compute the class probabilities of ``images``, float (n, 3, H, W) in [-1, 1], as float32 (n, K).

        Each batch moves to ``device`` and is resized to 299 × 299 with
        TensorFlow 1's bilinear resize (see ``resize_bilinear_tf1``). For the
        torch.export and TorchScript formats, gp_core resizes the float
        images. For torch-fidelity's weights, gp_core rounds the images to
        8-bit pixels and torch-fidelity 0.4.0 resizes them, so the two routes
        may differ by up to one 8-bit level per resized pixel, from rounding
        before or after the resize. The softmax is computed in float64.

        Raises:
            ValueError: ``images`` has the wrong type, shape or range, or the
                network returns logits of the wrong shape or non-finite values.
        """
        _validate_images(images)
        parts = []
        classes = None
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                batch = images[start : start + self.batch_size].to(self.device, torch.float32).clamp(-1, 1)
                logits = self._logits(batch)
                if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or len(logits) != len(batch):
                    shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
                    raise ValueError(
                        f"the network in {self.path} returned {shape} for {len(batch)} images, "
                        f"expected logits of shape ({len(batch)}, K). Export a module that returns logits"
                    )
                if classes is not None and logits.shape[1] != classes:
                    raise ValueError(
                        f"the network in {self.path} returned {classes} classes for one batch "
                        f"and {logits.shape[1]} for the next"
                    )
                classes = logits.shape[1]
                if not torch.isfinite(logits).all():
                    raise ValueError(f"the network in {self.path} returned NaN or infinite logits")
                parts.append(torch.softmax(logits.double(), dim=1).float().cpu())
        return torch.cat(parts)


def _validate_images(images: object) -> None:
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        description = images.dtype if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a floating point tensor in [-1, 1], got {description}")
    if images.dim() != 4 or images.shape[1] != 3 or images.shape[2] == 0 or images.shape[3] == 0:
        grayscale = images.dim() == 4 and images.shape[1] == 1
        hint = ". Repeat the single channel with images.expand(-1, 3, -1, -1)" if grayscale else ""
        raise ValueError(f"images must have shape (n, 3, H, W), got {tuple(images.shape)}{hint}")
    if len(images) == 0:
        raise ValueError("images is empty. Pass at least one image")
    if not torch.isfinite(images).all():
        raise ValueError("images contains NaN or infinite values")
    smallest, largest = float(images.min()), float(images.max())
    if smallest < -1 - RANGE_TOLERANCE or largest > 1 + RANGE_TOLERANCE:
        raise ValueError(
            f"images must be in [-1, 1], got values from {smallest:.4g} to {largest:.4g}. "
            f"Map images in [0, 1] with images * 2 - 1"
        )


def resize_bilinear_tf1(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``images`` (n, c, H, W) to float32 (n, c, size, size) like TensorFlow 1's default ``resize_bilinear``.

    With ``align_corners=False`` and no half-pixel centres, output pixel i
    samples the input at i · H / size, so the first output row copies the
    first input row and the last input row is repeated past the edge.
    torch-fidelity 0.4.0 resizes with this mapping before its Inception-v3,
    to match TensorFlow 1. ``torch.nn.functional.interpolate`` samples at
    (i + 0.5) · H / size − 0.5 instead, a shift of (H / size − 1) / 2 input
    pixels. There is no antialiasing.
    """
    height, width = images.shape[-2:]
    rows_low, rows_high, row_weights = _tf1_sample_points(height, size, images.device)
    columns_low, columns_high, column_weights = _tf1_sample_points(width, size, images.device)

    # Interpolating along rows first, then between rows, in float32, follows torch-fidelity 0.4.0, so rounding matches.
    images = images.float()
    top = _lerp_columns(images[..., rows_low, :], columns_low, columns_high, column_weights)
    bottom = _lerp_columns(images[..., rows_high, :], columns_low, columns_high, column_weights)
    return top + (bottom - top) * row_weights.unsqueeze(-1)


def _lerp_columns(
    rows: torch.Tensor, low: torch.Tensor, high: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    left = rows[..., low]
    return left + (rows[..., high] - left) * weights


def _tf1_sample_points(
    input_size: int, output_size: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return the lower and upper input indices and the weight of the upper one for each output index."""
    scale = torch.tensor(input_size / output_size, dtype=torch.float32, device=device)
    positions = torch.arange(output_size, dtype=torch.float32, device=device) * scale
    low = positions.floor().long().clamp(max=input_size - 1)
    high = (low + 1).clamp(max=input_size - 1)
    return low, high, positions - low.float()


def _resize_then(network: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    def logits(images: torch.Tensor) -> torch.Tensor:
        if images.shape[-2:] != (INCEPTION_SIZE, INCEPTION_SIZE):
            images = resize_bilinear_tf1(images, INCEPTION_SIZE)
        return network(images)

    return logits


def _archive_kind(path: Path) -> str:
    """Name the kind of PyTorch file at ``path`` from its zip entries.

    Returns "torch.export", "TorchScript", "torch.save" or, for a file that
    is not a zip archive, "other". torch.save wrote files in an older, non-zip
    format before PyTorch 1.6, so "other" may still be weights.
    """
    if not zipfile.is_zipfile(path):
        return "other"
    with zipfile.ZipFile(path) as archive:
        entries = {name.split("/", 1)[-1] for name in archive.namelist()}
    if "archive_format" in entries:
        return "torch.export"
    if "constants.pkl" in entries:
        return "TorchScript"
    if "data.pkl" in entries:
        return "torch.save"
    return "other"


def _load_exported(path: Path, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    try:
        # torch.export.load reads paths only when they end in .pt2, but reads open files of any name.
        with open(path, "rb") as file:
            program = torch.export.load(file)
    except (RuntimeError, ValueError, KeyError) as error:
        raise ValueError(f"{path} looks like a torch.export archive, but torch.export.load failed: {error}") from error
    # NOTE: modules from torch.export reject .eval() in torch 2.13, so the network runs
    # in the mode it was exported in. The recipe in the module docstring exports in eval mode.
    # Moving a program exported on the CPU to a GPU was not tested.
    return program.module().to(device)


def _load_torchscript(path: Path, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    try:
        with warnings.catch_warnings():
            # torch 2.13 warns that torch.jit.load is deprecated. The module docstring recommends .pt2 instead.
            warnings.filterwarnings(
                "ignore", message=r".*torch\.jit\.load.* is deprecated", category=DeprecationWarning
            )
            module = torch.jit.load(str(path), map_location=device)
    except RuntimeError as error:
        raise ValueError(f"{path} looks like a TorchScript archive, but torch.jit.load failed: {error}") from error
    return module.eval()


def _validate_state_dict(path: Path) -> None:
    """Raise ValueError unless ``path`` contains torch-fidelity's Inception-v3 weights, read with weights_only=True."""
    unrecognised = (
        f"{path} is not a torch.export (.pt2) file, a TorchScript file or torch-fidelity's "
        f"Inception-v3 weights ({TORCH_FIDELITY_WEIGHTS_FILE})"
    )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, KeyError, ValueError, OSError) as error:
        # torch.load raises these for truncated files, non-PyTorch files and
        # pickles that weights_only=True rejects.
        raise ValueError(
            f"{unrecognised}. torch.load failed with {type(error).__name__}: {error}. {_PARAMETER_HINT}"
        ) from error
    weight = state.get("fc.weight") if isinstance(state, Mapping) else None
    expected = (TORCH_FIDELITY_CLASSES, _TORCH_FIDELITY_FEATURES)
    if not isinstance(weight, torch.Tensor):
        raise ValueError(f"{unrecognised}. It has no fc.weight tensor. {_PARAMETER_HINT}")
    if tuple(weight.shape) != expected:
        raise ValueError(
            f"{unrecognised}. Its fc.weight has shape {tuple(weight.shape)} instead of {expected}. {_PARAMETER_HINT}"
        )


def _import_torch_fidelity() -> type:
    # Importing the submodule still runs torch_fidelity/__init__.py, which imports torchvision in 0.4.0.
    try:
        module = importlib.import_module("torch_fidelity.feature_extractor_inceptionv3")
    except ModuleNotFoundError as error:
        package = (error.name or "").split(".")[0]
        if package not in ("torch_fidelity", "torchvision"):
            raise
        missing = "torch-fidelity" if package == "torch_fidelity" else "torchvision, which torch-fidelity imports,"
        raise ImportError(_install_hint(f"{missing} is not installed")) from error
    except RuntimeError as error:
        # A torchvision built for another torch fails here, for example with
        # "operator torchvision::nms does not exist".
        raise ImportError(_install_hint(f"torch-fidelity failed to import: {error}")) from error
    return module.FeatureExtractorInceptionV3


def _install_hint(problem: str) -> str:
    return (
        f"{problem}. Reading {TORCH_FIDELITY_WEIGHTS_FILE} needs torch-fidelity and a torchvision "
        f"built for the installed torch {torch.__version__}. Install them without replacing torch: "
        f"pip install --no-deps torch-fidelity, then the torchvision release for this torch from the "
        f"same package index as torch. Alternatively, convert the weights to a .pt2 file on another "
        f"machine as the gp_core.inception docstring shows, which needs only torch here"
    )


def _load_torch_fidelity(path: Path, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    _validate_state_dict(path)
    extractor_class = _import_torch_fidelity()
    try:
        # An explicit path stops torch-fidelity 0.4.0 from downloading the weights.
        extractor = extractor_class(
            "inception-v3-compat", [_TORCH_FIDELITY_FEATURE], feature_extractor_weights_path=str(path)
        )
    except RuntimeError as error:
        # load_state_dict raises RuntimeError for missing, extra or misshaped keys.
        raise ValueError(f"torch-fidelity could not load {path}: {error}. {_PARAMETER_HINT}") from error
    extractor = extractor.to(device)

    def logits(images: torch.Tensor) -> torch.Tensor:
        pixels = ((images + 1) * (_PIXEL_MAX / 2)).round().clamp(0, _PIXEL_MAX).to(torch.uint8)
        return extractor(pixels)[0]

    return logits


def load_inception(
    weights: str | os.PathLike | None, device: str | torch.device = "cpu", batch_size: int = 100
) -> InceptionClassifier:
    """Load an Inception-v3 network from a local file and return a callable that computes class probabilities.

    The file format is found from its content, not its name: a torch.export
    archive, a TorchScript archive or torch-fidelity's weights (see the
    module docstring). Nothing is downloaded.

    Args:
        weights: path of the file, which the book's notebooks take as ``inception_weights``.
        device: device that runs the network, for example "cpu" or "cuda".
        batch_size: images per forward pass, a positive integer.

    Raises:
        ValueError: ``weights`` is None, a folder or a file in none of the three
            formats, or ``batch_size`` or ``device`` is invalid.
        FileNotFoundError: ``weights`` does not exist.
        ImportError: the file is torch-fidelity's weights, but torch-fidelity
            or a working torchvision is not installed.
    """
    if weights is None:
        raise ValueError(
            "inception_weights is None, but the Inception score at paper scale needs the Inception-v3 "
            f"weights, and gp_core never downloads them. {_PARAMETER_HINT}"
        )
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(f"inception_weights must be a path, got {type(weights).__name__} {weights!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device must name a torch device such as 'cpu' or 'cuda', got {device!r}") from error

    path = Path(weights)
    if not path.exists():
        raise FileNotFoundError(f"Inception weights file {path} not found. {_PARAMETER_HINT}")
    if path.is_dir():
        raise ValueError(f"inception_weights must be a file, but {path} is a folder. {_PARAMETER_HINT}")

    kind = _archive_kind(path)
    if kind == "torch.export":
        network = _resize_then(_load_exported(path, device))
    elif kind == "TorchScript":
        network = _resize_then(_load_torchscript(path, device))
    else:
        network = _load_torch_fidelity(path, device)
        kind = "torch-fidelity"
    return InceptionClassifier(network, kind, path, device, batch_size)
