"""ImageFolder on small folders of generated PNG files: labels, resizing, centre crop, modes and errors."""

import numpy as np
import pytest
import torch
from PIL import Image

from gp_core.images import IMAGE_EXTENSIONS, ImageFolder

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)


def save_solid(path, width, height, colour, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (width, height), colour).save(path)
    return path


def save_bands(path, bands, axis, thickness=16):
    """Save an RGB image of solid bands, given as (length, colour) pairs along ``axis`` ("x" or "y").

    The bands are ``thickness`` pixels across.
    """
    pieces = [np.broadcast_to(np.array(colour, dtype=np.uint8), (length, thickness, 3)) for length, colour in bands]
    pixels = np.concatenate(pieces, axis=0)
    if axis == "x":
        pixels = pixels.transpose(1, 0, 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(pixels)).save(path)
    return path


def to_unit_range(values):
    """Map 8-bit pixel values to [-1, 1] with the same float32 steps as ImageFolder."""
    return torch.tensor(values, dtype=torch.float32) / 127.5 - 1


def expected_image(colour, size):
    """Return the (3, size, size) tensor of a solid RGB colour in [-1, 1]."""
    return to_unit_range(colour).view(3, 1, 1).expand(3, size, size)


@pytest.fixture
def three_classes(tmp_path):
    """Three classes of four images each, of different sizes and aspect ratios, each class in one colour."""
    sizes = [(12, 12), (20, 10), (9, 27), (33, 16)]
    for name, colour in [("cat", RED), ("dog", GREEN), ("emu", BLUE)]:
        for number, (width, height) in enumerate(sizes):
            save_solid(tmp_path / name / f"{number}.png", width, height, colour)
    return tmp_path


def test_classes_sorted_with_labels(three_classes):
    dataset = ImageFolder(three_classes, size=8)

    assert dataset.classes == ["cat", "dog", "emu"]
    assert dataset.class_to_index == {"cat": 0, "dog": 1, "emu": 2}
    assert len(dataset) == 12
    assert [label for _, label in dataset.samples] == [0] * 4 + [1] * 4 + [2] * 4
    assert dataset.labels.dtype == torch.long
    assert dataset.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4


def test_labels_returns_copy(three_classes):
    dataset = ImageFolder(three_classes, size=8)

    dataset.labels[0] = 7

    assert dataset.labels[0].item() == 0


def test_items_have_shape_range_and_colour(three_classes):
    dataset = ImageFolder(three_classes, size=8)

    for index in range(len(dataset)):
        image, label = dataset[index]
        assert image.dtype == torch.float32
        assert image.shape == (3, 8, 8)
        assert image.min().item() >= -1
        assert image.max().item() <= 1
        colour = [RED, GREEN, BLUE][label]
        torch.testing.assert_close(image, expected_image(colour, 8), rtol=0, atol=0)


def test_negative_index_counts_from_end(three_classes):
    dataset = ImageFolder(three_classes, size=8)

    image, label = dataset[-1]

    assert label == 2
    torch.testing.assert_close(image, dataset[11][0], rtol=0, atol=0)


def test_centre_crop_without_resize(tmp_path):
    # A 16 × 8 image keeps its size for size=8, so the crop takes columns 4 to 11 exactly.
    save_bands(tmp_path / "a" / "wide.png", [(4, RED), (8, GREEN), (4, BLUE)], axis="x", thickness=8)

    image, _ = ImageFolder(tmp_path, size=8)[0]

    torch.testing.assert_close(image, expected_image(GREEN, 8), rtol=0, atol=0)


def test_centre_crop_after_downscale_wide(tmp_path):
    # 64 × 16 shrinks to 32 × 8, and the crop keeps source columns 24 to 39,
    # 8 pixels away from the red and blue quarters, more than the bicubic kernel reaches.
    save_bands(tmp_path / "a" / "wide.png", [(16, RED), (32, GREEN), (16, BLUE)], axis="x")

    image, _ = ImageFolder(tmp_path, size=8)[0]

    torch.testing.assert_close(image, expected_image(GREEN, 8), rtol=0, atol=0)


def test_centre_crop_after_downscale_tall(tmp_path):
    save_bands(tmp_path / "a" / "tall.png", [(16, RED), (32, GREEN), (16, BLUE)], axis="y")

    image, _ = ImageFolder(tmp_path, size=8)[0]

    torch.testing.assert_close(image, expected_image(GREEN, 8), rtol=0, atol=0)


def test_upscale_small_image(tmp_path):
    save_solid(tmp_path / "a" / "tiny.png", 3, 5, BLUE)

    image, _ = ImageFolder(tmp_path, size=16)[0]

    assert image.shape == (3, 16, 16)
    torch.testing.assert_close(image, expected_image(BLUE, 16), rtol=0, atol=0)


def test_crop_keeps_left_column_when_odd(tmp_path):
    # 9 × 8 leaves one spare column, which is cut on the right, so column 0 (red) stays.
    pixels = np.zeros((8, 9, 3), dtype=np.uint8)
    pixels[:, 0] = RED
    pixels[:, 1:] = GREEN
    (tmp_path / "a").mkdir()
    Image.fromarray(pixels).save(tmp_path / "a" / "odd.png")

    image, _ = ImageFolder(tmp_path, size=8)[0]

    torch.testing.assert_close(image[:, :, 0], expected_image(RED, 8)[:, :, 0], rtol=0, atol=0)
    torch.testing.assert_close(image[:, :, 1:], expected_image(GREEN, 8)[:, :, 1:], rtol=0, atol=0)


def test_grayscale_uses_luma(tmp_path):
    save_solid(tmp_path / "a" / "red.png", 8, 8, RED)

    image, _ = ImageFolder(tmp_path, size=8, channels=1)[0]

    assert image.shape == (1, 8, 8)
    # Pillow's luma of pure red is 255 * 299 / 1000 = 76.245, stored as 76.
    torch.testing.assert_close(image, to_unit_range(76.0).expand(1, 8, 8), rtol=0, atol=0)


def test_grayscale_file_read_as_rgb(tmp_path):
    save_solid(tmp_path / "a" / "gray.png", 8, 8, 51, mode="L")

    image, _ = ImageFolder(tmp_path, size=8)[0]

    assert image.shape == (3, 8, 8)
    torch.testing.assert_close(image, expected_image((51, 51, 51), 8), rtol=0, atol=0)


def test_rgba_drops_alpha(tmp_path):
    save_solid(tmp_path / "a" / "rgba.png", 8, 8, (0, 0, 255, 0), mode="RGBA")

    image, _ = ImageFolder(tmp_path, size=8)[0]

    torch.testing.assert_close(image, expected_image(BLUE, 8), rtol=0, atol=0)


def test_palette_with_transparency(tmp_path, recwarn):
    palette_image = Image.new("P", (8, 8), 1)
    palette_image.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    palette_image.info["transparency"] = 0
    (tmp_path / "a").mkdir()
    palette_image.save(tmp_path / "a" / "palette.png", transparency=0)

    image, _ = ImageFolder(tmp_path, size=8)[0]

    torch.testing.assert_close(image, expected_image(GREEN, 8), rtol=0, atol=0)
    assert not [warning for warning in recwarn if "Palette" in str(warning.message)]


def test_sixteen_bit_grayscale_scaled(tmp_path):
    pixels = np.full((8, 8), 65535, dtype=np.uint16)
    pixels[:, 4:] = 257 * 100
    (tmp_path / "a").mkdir()
    Image.fromarray(pixels).save(tmp_path / "a" / "deep.png")

    image, _ = ImageFolder(tmp_path, size=8, channels=1)[0]

    torch.testing.assert_close(image[0, :, :4], torch.ones(8, 4), rtol=0, atol=0)
    torch.testing.assert_close(image[0, :, 4:], to_unit_range(100.0).expand(8, 4), rtol=0, atol=0)


def test_extensions_case_insensitive_and_nested(tmp_path):
    save_solid(tmp_path / "a" / "photo.JPEG", 8, 8, RED)
    save_solid(tmp_path / "a" / "nested" / "deeper" / "b.Png", 8, 8, RED)
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    save_solid(tmp_path / "a" / ".hidden.png", 8, 8, RED)
    save_solid(tmp_path / "a" / ".ipynb_checkpoints" / "c.png", 8, 8, RED)
    save_solid(tmp_path / "loose.png", 8, 8, RED)
    save_solid(tmp_path / ".cache" / "d.png", 8, 8, RED)

    dataset = ImageFolder(tmp_path, size=8)

    assert dataset.classes == ["a"]
    paths = [path for path, _ in dataset.samples]
    assert paths == [str(tmp_path / "a" / "nested" / "deeper" / "b.Png"), str(tmp_path / "a" / "photo.JPEG")]
    assert ".jpeg" in IMAGE_EXTENSIONS
    assert ".webp" in IMAGE_EXTENSIONS


def test_batch_stacks_in_given_order(three_classes):
    dataset = ImageFolder(three_classes, size=8)

    images, labels = dataset.batch([11, 0, 5, -1])

    assert images.shape == (4, 3, 8, 8)
    assert images.dtype == torch.float32
    assert labels.dtype == torch.long
    assert labels.tolist() == [2, 0, 1, 2]
    for row, index in enumerate([11, 0, 5, -1]):
        torch.testing.assert_close(images[row], dataset[index][0], rtol=0, atol=0)


def test_batch_accepts_tensor_indices(three_classes):
    dataset = ImageFolder(three_classes, size=8)

    images, labels = dataset.batch(torch.tensor([4, 8]))

    assert images.shape == (2, 3, 8, 8)
    assert labels.tolist() == [1, 2]


def test_batch_empty(three_classes):
    dataset = ImageFolder(three_classes, size=8, channels=1)

    images, labels = dataset.batch([])

    assert images.shape == (0, 1, 8, 8)
    assert labels.shape == (0,)


def test_batch_rejects_float_tensor(three_classes):
    dataset = ImageFolder(three_classes, size=8)

    with pytest.raises(TypeError, match="1-D integer tensor"):
        dataset.batch(torch.tensor([0.0, 1.0]))


def test_works_with_data_loader(three_classes):
    loader = torch.utils.data.DataLoader(ImageFolder(three_classes, size=8), batch_size=5)

    images, labels = next(iter(loader))

    assert images.shape == (5, 3, 8, 8)
    assert labels.tolist() == [0, 0, 0, 0, 1]


def test_missing_root(tmp_path):
    missing = tmp_path / "missing"

    with pytest.raises(FileNotFoundError, match="data_folder") as error:
        ImageFolder(missing, size=8)

    assert str(missing) in str(error.value)


def test_root_is_file(tmp_path):
    path = save_solid(tmp_path / "single.png", 8, 8, RED)

    with pytest.raises(ValueError, match="is a file") as error:
        ImageFolder(path, size=8)

    assert str(path) in str(error.value)


def test_root_without_class_folders(tmp_path):
    save_solid(tmp_path / "a.png", 8, 8, RED)
    save_solid(tmp_path / "b.png", 8, 8, RED)

    with pytest.raises(ValueError, match="no class sub-folders") as error:
        ImageFolder(tmp_path, size=8)

    assert "2 image files directly" in str(error.value)


def test_empty_root(tmp_path):
    with pytest.raises(ValueError, match="no class sub-folders"):
        ImageFolder(tmp_path, size=8)


def test_class_folder_without_images(tmp_path):
    save_solid(tmp_path / "a" / "x.png", 8, 8, RED)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "readme.txt").write_text("no images here")

    with pytest.raises(ValueError, match="contains no image files") as error:
        ImageFolder(tmp_path, size=8)

    assert str(tmp_path / "b") in str(error.value)


@pytest.mark.parametrize("size", [0, -3, 2.5, "8", True, None])
def test_invalid_size(three_classes, size):
    with pytest.raises(ValueError, match="size must be a positive integer"):
        ImageFolder(three_classes, size=size)


@pytest.mark.parametrize("channels", [0, 2, 4, True, "3"])
def test_invalid_channels(three_classes, channels):
    with pytest.raises(ValueError, match="channels must be 1"):
        ImageFolder(three_classes, size=8, channels=channels)


@pytest.mark.parametrize("content", [b"", b"not a png at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20])
def test_unreadable_image_names_file(tmp_path, content):
    save_solid(tmp_path / "a" / "good.png", 8, 8, RED)
    bad = tmp_path / "a" / "zz_bad.png"
    bad.write_bytes(content)
    dataset = ImageFolder(tmp_path, size=8)

    dataset[0]
    with pytest.raises(ValueError, match="failed to read image") as error:
        dataset[1]

    assert str(bad) in str(error.value)


def test_truncated_image_names_file(tmp_path):
    path = tmp_path / "a" / "cut.png"
    save_bands(path, [(32, RED), (32, GREEN)], axis="x")
    path.write_bytes(path.read_bytes()[:-30])

    with pytest.raises(ValueError, match="failed to read image") as error:
        ImageFolder(tmp_path, size=8)[0]

    assert str(path) in str(error.value)


def test_batch_error_names_bad_file(tmp_path):
    save_solid(tmp_path / "a" / "good.png", 8, 8, RED)
    bad = tmp_path / "a" / "zz_bad.png"
    bad.write_bytes(b"garbage")

    with pytest.raises(ValueError, match="failed to read image") as error:
        ImageFolder(tmp_path, size=8).batch([0, 1])

    assert str(bad) in str(error.value)


@pytest.mark.parametrize("index", [12, -13, 100])
def test_index_out_of_range(three_classes, index):
    dataset = ImageFolder(three_classes, size=8)

    with pytest.raises(IndexError, match=f"image index {index} is out of range for 12 images"):
        dataset[index]
    with pytest.raises(IndexError, match="out of range"):
        dataset.batch([0, index])


@pytest.mark.parametrize("index", [1.0, "0", True, None])
def test_index_not_integer(three_classes, index):
    dataset = ImageFolder(three_classes, size=8)

    with pytest.raises(TypeError, match="must be an integer"):
        dataset[index]


def test_index_accepts_numpy_and_tensor_scalars(three_classes):
    dataset = ImageFolder(three_classes, size=8)

    assert dataset[np.int64(5)][1] == 1
    assert dataset[torch.tensor(9)][1] == 2


def test_batch_with_threads_matches_serial(three_classes):
    serial = ImageFolder(three_classes, size=8)
    threaded = ImageFolder(three_classes, size=8, workers=3)
    indices = list(range(len(serial)))[::-1]
    images, labels = threaded.batch(indices)
    expected_images, expected_labels = serial.batch(indices)
    assert torch.equal(images, expected_images)
    assert torch.equal(labels, expected_labels)


@pytest.mark.parametrize("workers", [0, -2, 1.5, True])
def test_invalid_workers_rejected(three_classes, workers):
    with pytest.raises(ValueError, match="workers"):
        ImageFolder(three_classes, size=8, workers=workers)
