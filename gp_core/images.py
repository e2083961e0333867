"""Class-labelled image folders in the ImageNet layout: one sub-folder per class.

``ImageFolder`` feeds the paper-scale run of Figure 4 (128 × 128 images on a
GPU) and the tests, which write small folders of PNG files. Each image is
read with Pillow when it is requested, so a folder of any size costs only
the list of file paths in memory.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

__all__ = ["IMAGE_EXTENSIONS", "ImageFolder"]

# File name suffixes read as images, compared in lower case, so ".JPEG"
# (the suffix of the ImageNet training files) matches ".jpeg".
IMAGE_EXTENSIONS = frozenset({".bmp", ".gif", ".jpeg", ".jpg", ".png", ".ppm", ".tif", ".tiff", ".webp"})

# Pillow modes of 16-bit grayscale files. Pillow 13 clips such values to 255
# when it converts them to "L" or "RGB", so they are scaled to 8 bits first.
_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})
_SIXTEEN_BIT_MAX = 65535
_EIGHT_BIT_MAX = 255


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _is_image_file(name: str) -> bool:
    return not _is_hidden(name) and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _list_images(folder: Path) -> list[str]:
    """Return the paths of the image files in ``folder`` and its sub-folders, sorted, skipping hidden names."""
    paths = []
    for directory, subdirectories, files in os.walk(folder):
        # Pruning in place stops os.walk from entering hidden folders such as .ipynb_checkpoints.
        subdirectories[:] = sorted(name for name in subdirectories if not _is_hidden(name))
        paths.extend(os.path.join(directory, name) for name in files if _is_image_file(name))
    return sorted(paths)


def _validate_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


class ImageFolder(torch.utils.data.Dataset):
    """Labelled images read from ``root/<class name>/**/<image file>``, as square float32 tensors in [-1, 1].

    Classes are the non-hidden sub-folders of ``root`` in sorted name order,
    and the label of an image is the position of its class in ``classes``.
    Image files are found at any depth below a class folder. Files directly
    inside ``root`` and names that start with "." are skipped.

    Each image is converted to RGB (``channels=3``) or to 8-bit grayscale
    (``channels=1``). Pillow drops an alpha channel without blending it
    onto a background, and computes grayscale as the ITU-R 601-2 luma
    0.299 R + 0.587 G + 0.114 B. The image is then resized with Pillow's
    bicubic filter so that its shorter side is ``size`` pixels, and the
    centre ``size`` × ``size`` square is cropped. Pillow (13.0) widens the
    bicubic kernel by the reduction factor when it shrinks an image, which
    antialiases the result. When the crop cannot be centred to the pixel, the
    extra column or row is cut from the right or bottom. EXIF orientation
    tags are ignored.

    ``workers`` threads load the images of one ``batch`` call in parallel.

    Raises:
        FileNotFoundError: ``root`` does not exist.
        ValueError: ``root`` is a file, has no class sub-folders or has a
            class folder with no image files, or ``size``, ``channels`` or ``workers`` is invalid.
    """

    def __init__(self, root: str | os.PathLike, size: int, channels: int = 3, workers: int = 1) -> None:
        self.size = _validate_positive_int(size, "size")
        self.workers = _validate_positive_int(workers, "workers")
        if isinstance(channels, bool) or channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
        self.channels = channels
        self.root = Path(root)

        self.classes = self._find_classes(self.root)
        self.class_to_index = {name: index for index, name in enumerate(self.classes)}
        self.samples: list[tuple[str, int]] = []
        for index, name in enumerate(self.classes):
            paths = _list_images(self.root / name)
            if not paths:
                extensions = " ".join(sorted(IMAGE_EXTENSIONS))
                raise ValueError(
                    f"class folder {self.root / name} contains no image files (suffixes {extensions}). "
                    f"Add images to it or remove it from {self.root}"
                )
            self.samples.extend((path, index) for path in paths)
        self._labels = torch.tensor([label for _, label in self.samples], dtype=torch.long)

    @staticmethod
    def _find_classes(root: Path) -> list[str]:
        if not root.exists():
            raise FileNotFoundError(
                f"image folder {root} not found. Set data_folder to a folder with one sub-folder per class"
            )
        if not root.is_dir():
            raise ValueError(
                f"image folder {root} is a file, not a folder. "
                f"Set data_folder to a folder with one sub-folder per class"
            )
        entries = sorted(os.scandir(root), key=lambda entry: entry.name)
        classes = [entry.name for entry in entries if entry.is_dir() and not _is_hidden(entry.name)]
        if not classes:
            loose_images = sum(1 for entry in entries if entry.is_file() and _is_image_file(entry.name))
            hint = ""
            if loose_images:
                hint = f" It contains {loose_images} image files directly, which need to move into class folders."
            raise ValueError(
                f"image folder {root} has no class sub-folders.{hint} "
                f"Set data_folder to a folder with one sub-folder of images per class"
            )
        return classes

    def __len__(self) -> int:
        return len(self.samples)

    def __repr__(self) -> str:
        return (
            f"ImageFolder(root={str(self.root)!r}, classes={len(self.classes)}, images={len(self.samples)}, "
            f"size={self.size}, channels={self.channels})"
        )

    @property
    def labels(self) -> torch.Tensor:
        """Labels of all images in sample order, a new int64 tensor of shape (n,)."""
        return self._labels.clone()

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """Load image ``index`` and return it as a float32 (channels, size, size) tensor in [-1, 1] with its label.

        Negative indices count from the end, as for a list.

        Raises:
            IndexError: ``index`` is outside [-n, n).
            TypeError: ``index`` is not an integer.
            ValueError: Pillow cannot read the file. The message names the file.
        """
        path, label = self.samples[self._normalize_index(index)]
        return self._load(path), label

    def batch(self, indices: Sequence[int] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Load the images at ``indices`` and stack them.

        Returns images of shape (k, channels, size, size) and int64 labels of
        shape (k,) for k indices, in the order given. An empty ``indices``
        returns tensors with k = 0.

        Raises:
            IndexError, TypeError, ValueError: as ``__getitem__``, for the first bad index or file.
        """
        if isinstance(indices, torch.Tensor):
            if indices.dim() != 1 or indices.dtype.is_floating_point or indices.dtype == torch.bool:
                raise TypeError(
                    f"indices must be a 1-D integer tensor, got dtype {indices.dtype} and shape {tuple(indices.shape)}"
                )
            indices = indices.tolist()
        positions = [self._normalize_index(index) for index in indices]

        images = torch.empty((len(positions), self.channels, self.size, self.size), dtype=torch.float32)
        paths = [self.samples[position][0] for position in positions]
        if self.workers > 1 and len(paths) > 1:
            # Pillow releases the GIL while it decodes and resizes, so threads load images in parallel.
            with ThreadPoolExecutor(self.workers) as pool:
                loaded = list(pool.map(self._load, paths))
        else:
            loaded = [self._load(path) for path in paths]
        for row, image in enumerate(loaded):
            images[row] = image
        return images, self._labels[positions]

    def _normalize_index(self, index: object) -> int:
        if isinstance(index, bool):
            raise TypeError(f"image index must be an integer, got {index!r}")
        try:
            position = operator.index(index)
        except TypeError:
            raise TypeError(f"image index must be an integer, got {type(index).__name__} {index!r}") from None
        count = len(self.samples)
        if not -count <= position < count:
            raise IndexError(f"image index {position} is out of range for {count} images in {self.root}")
        return position % count

    def _load(self, path: str) -> torch.Tensor:
        mode = "RGB" if self.channels == 3 else "L"
        try:
            with Image.open(path) as image:
                image = self._to_mode(image, mode)
        except (OSError, SyntaxError, Image.DecompressionBombError) as error:
            # Pillow raises OSError (UnidentifiedImageError among them) for unknown or
            # truncated files, and some of its decoders raise SyntaxError for corrupt headers.
            raise ValueError(f"failed to read image {path}: {error}. Replace or delete the file") from error

        image = self._resize_and_crop(image)
        pixels = torch.from_numpy(np.array(image, dtype=np.uint8))
        if pixels.dim() == 2:
            pixels = pixels.unsqueeze(-1)
        return pixels.permute(2, 0, 1).float().div_(_EIGHT_BIT_MAX / 2).sub_(1)

    @staticmethod
    def _to_mode(image: Image.Image, mode: str) -> Image.Image:
        """Convert ``image`` to Pillow mode "RGB" or "L", decoding its pixels."""
        if image.mode in _SIXTEEN_BIT_MODES:
            # NOTE: mode "I" stores 32-bit integers. This code assumes 16-bit values, as
            # Pillow reads from PNG files, and clips larger values to white.
            values = np.clip(np.asarray(image, dtype=np.float64), 0, _SIXTEEN_BIT_MAX)
            eight_bit = np.rint(values * (_EIGHT_BIT_MAX / _SIXTEEN_BIT_MAX)).astype(np.uint8)
            return Image.fromarray(eight_bit, mode="L").convert(mode)
        if image.mode == "P" and "transparency" in image.info:
            # Going through RGBA avoids Pillow's warning about palette transparency.
            image = image.convert("RGBA")
        return image.convert(mode)

    def _resize_and_crop(self, image: Image.Image) -> Image.Image:
        width, height = image.size
        scale = self.size / min(width, height)
        new_width = max(self.size, round(width * scale))
        new_height = max(self.size, round(height * scale))
        if (new_width, new_height) != (width, height):
            image = image.resize((new_width, new_height), resample=Image.Resampling.BICUBIC)
        left = (new_width - self.size) // 2
        top = (new_height - self.size) // 2
        return image.crop((left, top, left + self.size, top + self.size))
