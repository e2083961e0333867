"""load_inception on tiny torch.export and TorchScript networks, the TensorFlow 1 resize and every error path.

The torch-fidelity route runs against a stand-in class here, and against the
real package only where it imports.
"""

import sys
import types
import warnings
import zipfile

import pytest
import torch

from gp_core import inception
from gp_core.inception import (
    INCEPTION_SIZE,
    TORCH_FIDELITY_CLASSES,
    TORCH_FIDELITY_WEIGHTS_FILE,
    load_inception,
    resize_bilinear_tf1,
)

CLASSES = 7


class TinyClassifier(torch.nn.Module):
    """Conv, pool and linear layers that map (n, 3, 299, 299) images to 7 logits and reject other sizes."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, kernel_size=5, stride=4)
        self.linear = torch.nn.Linear(4, CLASSES)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[2] != 299 or images.shape[3] != 299:
            raise ValueError("TinyClassifier expects 299 x 299 images")
        pooled = torch.nn.functional.adaptive_avg_pool2d(torch.relu(self.conv(images)), 1)
        return self.linear(pooled.flatten(1)) * 10


class WrongShape(torch.nn.Module):
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.mean(dim=(2, 3)).unsqueeze(-1)


class NaNLogits(torch.nn.Module):
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.mean(dim=(2, 3)) * float("nan")


def save_torchscript(module, path):
    with warnings.catch_warnings():
        # torch 2.13 marks torch.jit.script as deprecated, but still supports it.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(module.eval()).save(str(path))
    return path


def save_exported(module, path):
    example = (torch.zeros(2, 3, INCEPTION_SIZE, INCEPTION_SIZE),)
    program = torch.export.export(module.eval(), example, dynamic_shapes={"images": {0: torch.export.Dim("batch")}})
    torch.export.save(program, str(path))
    return path


@pytest.fixture(scope="module")
def tiny_network():
    torch.manual_seed(0)
    return TinyClassifier().eval()


@pytest.fixture(scope="module")
def network_files(tiny_network, tmp_path_factory):
    folder = tmp_path_factory.mktemp("networks")
    return {
        "TorchScript": save_torchscript(tiny_network, folder / "tiny.ts"),
        "torch.export": save_exported(tiny_network, folder / "tiny.pt2"),
    }


def random_images(n, side, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, side, side, generator=generator) * 2 - 1


@pytest.mark.parametrize("source", ["TorchScript", "torch.export"])
def test_probabilities_shape_and_sum(network_files, source):
    classifier = load_inception(network_files[source])

    probabilities = classifier(random_images(5, 32))

    assert classifier.source == source
    assert probabilities.shape == (5, CLASSES)
    assert probabilities.dtype == torch.float32
    assert probabilities.device.type == "cpu"
    assert (probabilities >= 0).all()
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(5))


@pytest.mark.parametrize("source", ["TorchScript", "torch.export"])
def test_probabilities_match_network(network_files, tiny_network, source):
    images = random_images(3, 40)

    probabilities = load_inception(network_files[source])(images)

    with torch.no_grad():
        expected = torch.softmax(tiny_network(resize_bilinear_tf1(images, INCEPTION_SIZE)), dim=1)
    torch.testing.assert_close(probabilities, expected)


@pytest.mark.parametrize("source", ["TorchScript", "torch.export"])
def test_batches_match_single_pass(network_files, source):
    images = random_images(5, 299)

    whole = load_inception(network_files[source], batch_size=100)(images)
    batched = load_inception(network_files[source], batch_size=2)(images)

    torch.testing.assert_close(batched, whole)


def test_source_found_from_content(network_files, tmp_path):
    renamed = tmp_path / "network.bin"
    renamed.write_bytes(network_files["torch.export"].read_bytes())

    classifier = load_inception(renamed)

    assert classifier.source == "torch.export"
    assert classifier(random_images(1, 16)).shape == (1, CLASSES)


def test_accepts_float64_images(network_files):
    classifier = load_inception(network_files["TorchScript"])

    probabilities = classifier(random_images(2, 32).double())

    assert probabilities.dtype == torch.float32
    torch.testing.assert_close(probabilities, classifier(random_images(2, 32)))


def test_repr_names_source_and_path(network_files):
    text = repr(load_inception(network_files["TorchScript"], batch_size=4))

    assert "TorchScript" in text
    assert str(network_files["TorchScript"]) in text
    assert "batch_size=4" in text


def test_resize_copies_first_row_and_repeats_last():
    # TensorFlow 1 samples output pixel i at i * 2 / 4, so [a, b] becomes [a, (a + b) / 2, b, b].
    images = torch.tensor([[0.0, 8.0], [4.0, 12.0]]).view(1, 1, 2, 2)

    resized = resize_bilinear_tf1(images, 4)

    expected_row_0 = torch.tensor([0.0, 4.0, 8.0, 8.0])
    expected_row_1 = torch.tensor([2.0, 6.0, 10.0, 10.0])
    expected_row_2 = torch.tensor([4.0, 8.0, 12.0, 12.0])
    torch.testing.assert_close(resized[0, 0, 0], expected_row_0)
    torch.testing.assert_close(resized[0, 0, 1], expected_row_1)
    torch.testing.assert_close(resized[0, 0, 2], expected_row_2)
    torch.testing.assert_close(resized[0, 0, 3], expected_row_2)


def test_resize_keeps_same_size_and_constants():
    images = random_images(2, 9)

    torch.testing.assert_close(resize_bilinear_tf1(images, 9), images, rtol=0, atol=0)
    constant = torch.full((1, 3, 5, 7), 0.25)
    torch.testing.assert_close(resize_bilinear_tf1(constant, 11), torch.full((1, 3, 11, 11), 0.25))


def test_resize_downscale_samples_every_other_pixel():
    images = torch.arange(16.0).view(1, 1, 4, 4)

    resized = resize_bilinear_tf1(images, 2)

    torch.testing.assert_close(resized[0, 0], torch.tensor([[0.0, 2.0], [8.0, 10.0]]))


def test_weights_none_explains_download():
    with pytest.raises(ValueError, match="inception_weights") as error:
        load_inception(None)

    message = str(error.value)
    assert TORCH_FIDELITY_WEIGHTS_FILE in message
    assert "network access" in message
    assert "never downloads" in message


def test_weights_not_path():
    with pytest.raises(ValueError, match="must be a path"):
        load_inception(42)


def test_missing_file(tmp_path):
    missing = tmp_path / "inception.pt2"

    with pytest.raises(FileNotFoundError, match="not found") as error:
        load_inception(missing)

    assert str(missing) in str(error.value)
    assert "inception_weights" in str(error.value)


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(ValueError, match="is a folder"):
        load_inception(tmp_path)


@pytest.mark.parametrize("batch_size", [0, -1, 2.0, True, "8"])
def test_invalid_batch_size(network_files, batch_size):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        load_inception(network_files["TorchScript"], batch_size=batch_size)


def test_invalid_device(network_files):
    with pytest.raises(ValueError, match="device must name a torch device"):
        load_inception(network_files["TorchScript"], device="not-a-device")


def write_zip(path, entries):
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return path


class Pickled:
    pass


@pytest.mark.parametrize(
    "make_file",
    [
        pytest.param(lambda path: path.write_bytes(b""), id="empty"),
        pytest.param(lambda path: path.write_bytes(b"not a network"), id="text"),
        pytest.param(lambda path: write_zip(path, {"notes/readme.txt": "hello"}), id="other zip"),
        pytest.param(lambda path: torch.save({"linear.weight": torch.zeros(2, 2)}, path), id="other state dict"),
        pytest.param(lambda path: torch.save({"fc.weight": torch.zeros(10, 2048)}, path), id="fc of wrong shape"),
        pytest.param(lambda path: torch.save([torch.zeros(3)], path), id="list of tensors"),
        pytest.param(lambda path: torch.save(Pickled(), path), id="arbitrary pickle"),
    ],
)
def test_unrecognised_file(tmp_path, make_file):
    path = tmp_path / "weights.pth"
    make_file(path)

    with pytest.raises(ValueError, match="is not a torch.export") as error:
        load_inception(path)

    assert str(path) in str(error.value)
    assert TORCH_FIDELITY_WEIGHTS_FILE in str(error.value)


def test_corrupt_torchscript(network_files, tmp_path):
    corrupt = tmp_path / "corrupt.ts"
    with zipfile.ZipFile(network_files["TorchScript"]) as source, zipfile.ZipFile(corrupt, "w") as target:
        for name in source.namelist():
            if "/code/" not in name:
                target.writestr(name, source.read(name))

    with pytest.raises(ValueError, match="torch.jit.load failed"):
        load_inception(corrupt)


def test_corrupt_export(network_files, tmp_path):
    corrupt = tmp_path / "corrupt.pt2"
    with zipfile.ZipFile(network_files["torch.export"]) as source, zipfile.ZipFile(corrupt, "w") as target:
        for name in source.namelist():
            if not name.endswith("model.json"):
                target.writestr(name, source.read(name))

    with pytest.raises(ValueError, match="torch.export.load failed"):
        load_inception(corrupt)


@pytest.mark.parametrize(
    "images, message",
    [
        (torch.zeros(2, 3, 8, 8, dtype=torch.uint8), "floating point"),
        ([[0.0]], "floating point"),
        (torch.zeros(3, 8, 8), r"shape \(n, 3, H, W\)"),
        (torch.zeros(2, 1, 8, 8), r"expand\(-1, 3, -1, -1\)"),
        (torch.zeros(2, 4, 8, 8), r"shape \(n, 3, H, W\)"),
        (torch.zeros(2, 3, 0, 8), r"shape \(n, 3, H, W\)"),
        (torch.zeros(0, 3, 8, 8), "empty"),
        (torch.full((1, 3, 8, 8), float("nan")), "NaN"),
        (torch.full((1, 3, 8, 8), 255.0), r"images \* 2 - 1"),
        (torch.full((1, 3, 8, 8), -1.01), r"in \[-1, 1\]"),
    ],
)
def test_invalid_images(network_files, images, message):
    classifier = load_inception(network_files["TorchScript"])

    with pytest.raises(ValueError, match=message):
        classifier(images)


def test_rounding_past_range_is_clamped(network_files):
    classifier = load_inception(network_files["TorchScript"])
    images = random_images(2, 16).clamp(-1, 1)
    images[0, 0, 0, 0] = 1 + 1e-4

    probabilities = classifier(images)

    torch.testing.assert_close(probabilities, classifier(images.clamp(-1, 1)))


def test_network_with_wrong_output_shape(tmp_path):
    path = save_torchscript(WrongShape(), tmp_path / "wrong.ts")

    with pytest.raises(ValueError, match=r"expected logits of shape \(2, K\)"):
        load_inception(path)(random_images(2, 8))


def test_network_with_nan_logits(tmp_path):
    path = save_torchscript(NaNLogits(), tmp_path / "nan.ts")

    with pytest.raises(ValueError, match="NaN or infinite logits"):
        load_inception(path)(random_images(2, 8))


@pytest.fixture(scope="module")
def fidelity_shaped_weights(tmp_path_factory):
    """A state dict with torch-fidelity's fc.weight shape, and no other Inception layers."""
    path = tmp_path_factory.mktemp("weights") / TORCH_FIDELITY_WEIGHTS_FILE
    torch.save({"fc.weight": torch.zeros(TORCH_FIDELITY_CLASSES, 2048)}, path)
    return path


@pytest.mark.parametrize(
    "failure, problem",
    [
        (
            ModuleNotFoundError("No module named 'torch_fidelity'", name="torch_fidelity"),
            "torch-fidelity is not installed",
        ),
        (ModuleNotFoundError("No module named 'torchvision'", name="torchvision"), "torchvision, which torch-fidelity"),
        (RuntimeError("operator torchvision::nms does not exist"), "torchvision::nms"),
    ],
)
def test_torch_fidelity_unavailable(fidelity_shaped_weights, monkeypatch, failure, problem):
    def failing_import(name):
        raise failure

    monkeypatch.setattr(inception.importlib, "import_module", failing_import)

    with pytest.raises(ImportError, match=problem) as error:
        load_inception(fidelity_shaped_weights)

    assert "pip install --no-deps torch-fidelity" in str(error.value)
    assert torch.__version__ in str(error.value)
    assert ".pt2" in str(error.value)


def test_other_missing_module_propagates(fidelity_shaped_weights, monkeypatch):
    def failing_import(name):
        raise ModuleNotFoundError("No module named 'scipy'", name="scipy")

    monkeypatch.setattr(inception.importlib, "import_module", failing_import)

    with pytest.raises(ModuleNotFoundError, match="scipy"):
        load_inception(fidelity_shaped_weights)


class StandInExtractor(torch.nn.Module):
    """Stand-in for torch-fidelity's FeatureExtractorInceptionV3 that records its arguments.

    Its logits are the mean 8-bit pixel value in class 0 and zeros elsewhere.
    """

    calls = []

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__()
        self.calls.append((name, features_list, feature_extractor_weights_path))
        state = torch.load(feature_extractor_weights_path, weights_only=True)
        self.fc = torch.nn.Linear(2048, TORCH_FIDELITY_CLASSES, bias=False)
        self.fc.weight.data.copy_(state["fc.weight"])

    def forward(self, pixels):
        if pixels.dtype != torch.uint8:
            raise ValueError("expecting uint8 images")
        logits = torch.zeros(len(pixels), TORCH_FIDELITY_CLASSES)
        logits[:, 0] = pixels.float().mean(dim=(1, 2, 3))
        return (logits,)


def test_torch_fidelity_route_with_stand_in(fidelity_shaped_weights, monkeypatch):
    StandInExtractor.calls.clear()
    stand_in_module = types.SimpleNamespace(FeatureExtractorInceptionV3=StandInExtractor)
    monkeypatch.setattr(inception.importlib, "import_module", lambda name: stand_in_module)

    classifier = load_inception(fidelity_shaped_weights, batch_size=2)
    probabilities = classifier(torch.zeros(3, 3, 16, 16))

    assert classifier.source == "torch-fidelity"
    assert StandInExtractor.calls == [("inception-v3-compat", ["logits_unbiased"], str(fidelity_shaped_weights))]
    assert probabilities.shape == (3, TORCH_FIDELITY_CLASSES)
    # 0.0 in [-1, 1] rounds to the 8-bit pixel 128, so class 0 has logit 128 and the others 0.
    expected_first = 1 / (1 + (TORCH_FIDELITY_CLASSES - 1) * torch.exp(torch.tensor(-128.0, dtype=torch.float64)))
    torch.testing.assert_close(probabilities[:, 0], torch.full((3,), float(expected_first)))


def test_torch_fidelity_load_error(fidelity_shaped_weights, monkeypatch):
    class RejectingExtractor:
        def __init__(self, *args, **kwargs):
            raise RuntimeError('Missing key(s) in state_dict: "Conv2d_1a_3x3.conv.weight"')

    stand_in_module = types.SimpleNamespace(FeatureExtractorInceptionV3=RejectingExtractor)
    monkeypatch.setattr(inception.importlib, "import_module", lambda name: stand_in_module)

    with pytest.raises(ValueError, match="torch-fidelity could not load"):
        load_inception(fidelity_shaped_weights)


def import_torch_fidelity_or_skip():
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except (ImportError, RuntimeError) as error:
        pytest.skip(f"torch-fidelity does not import here: {error}")
    return FeatureExtractorInceptionV3


def test_torch_fidelity_matches_package(tmp_path, monkeypatch):
    extractor_class = import_torch_fidelity_or_skip()
    # Build the network with its random initial weights: skip the weights file that the constructor would load.
    placeholder = tmp_path / "placeholder.pth"
    torch.save({}, placeholder)
    with monkeypatch.context() as patch:
        patch.setattr(torch.nn.Module, "load_state_dict", lambda self, *args, **kwargs: None)
        torch.manual_seed(0)
        extractor = extractor_class(
            "inception-v3-compat", ["logits_unbiased"], feature_extractor_weights_path=str(placeholder)
        )
    weights = tmp_path / TORCH_FIDELITY_WEIGHTS_FILE
    torch.save(extractor.state_dict(), weights)
    images = random_images(2, 64)

    probabilities = load_inception(weights)(images)

    pixels = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    with torch.no_grad():
        expected = torch.softmax(extractor(pixels)[0].double(), dim=1).float()
    assert probabilities.shape == (2, TORCH_FIDELITY_CLASSES)
    torch.testing.assert_close(probabilities, expected)
    assert "torch_fidelity" in sys.modules
