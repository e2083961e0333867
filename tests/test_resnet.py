"""Residual G and D: shapes, class conditioning, and rejected inputs."""

import pytest
import torch

from gp_core.penalties import gradient_penalty
from gp_core.resnet import ResnetDiscriminator, ResnetGenerator, ResnetShape, start_size

TINY = ResnetShape(size=8, channels=1, nf=4, nf_max=8, z_dim=6, n_classes=3, embed_size=4)


@pytest.mark.parametrize("size, expected", [(4, (4, 0)), (8, (4, 1)), (28, (7, 2)), (32, (4, 3)), (128, (4, 5)), (12, (6, 1))])
def test_start_size_table(size, expected):
    assert start_size(size) == expected


@pytest.mark.parametrize("size", [3, 0, -8, 2.0, True])
def test_start_size_rejects_small_or_non_integer(size):
    with pytest.raises(ValueError, match="image size"):
        start_size(size)


@pytest.mark.parametrize("size, channels", [(8, 1), (28, 1), (32, 3)])
def test_generator_output_shape_and_range(size, channels):
    shape = ResnetShape(size=size, channels=channels, nf=4, nf_max=16, z_dim=6, n_classes=3, embed_size=4)
    generator = ResnetGenerator(shape)
    images = generator(torch.randn(5, 6), torch.tensor([0, 1, 2, 0, 1]))
    assert images.shape == (5, channels, size, size)
    assert images.abs().max() <= 1


@pytest.mark.parametrize("size, channels", [(8, 1), (28, 1), (32, 3)])
def test_discriminator_output_shape(size, channels):
    shape = ResnetShape(size=size, channels=channels, nf=4, nf_max=16, z_dim=6, n_classes=3, embed_size=4)
    logits = ResnetDiscriminator(shape)(torch.randn(5, channels, size, size), torch.tensor([0, 1, 2, 0, 1]))
    assert logits.shape == (5, 1)


def test_filters_double_up_to_maximum():
    shape = ResnetShape(size=128, nf=64, nf_max=1024)
    assert [shape.filters(step) for step in range(6)] == [64, 128, 256, 512, 1024, 1024]


def test_paper_shape_builds_and_has_expected_sizes():
    shape = ResnetShape(size=128, channels=3, nf=64, nf_max=1024, z_dim=256, n_classes=1000, embed_size=256)
    generator = ResnetGenerator(shape)
    discriminator = ResnetDiscriminator(shape)
    assert generator.fc.out_features == 1024 * 4 * 4
    assert discriminator.fc.in_features == 1024 * 4 * 4
    assert discriminator.fc.out_features == 1000


def test_conditional_discriminator_picks_class_output():
    torch.manual_seed(0)
    discriminator = ResnetDiscriminator(TINY)
    x = torch.randn(4, 1, 8, 8)
    labels = torch.tensor([2, 0, 1, 2])
    picked = discriminator(x, labels)
    for i, label in enumerate(labels.tolist()):
        others = torch.full((4,), label)
        assert torch.allclose(picked[i], discriminator(x, others)[i])
    assert not torch.allclose(discriminator(x, torch.zeros(4, dtype=torch.long)), discriminator(x, torch.ones(4, dtype=torch.long)))


def test_generator_depends_on_label():
    torch.manual_seed(0)
    generator = ResnetGenerator(TINY)
    z = torch.randn(1, 6)
    assert not torch.allclose(generator(z, torch.tensor([0])), generator(z, torch.tensor([1])))


def test_unconditional_networks_take_no_labels():
    shape = ResnetShape(size=8, nf=4, nf_max=8, z_dim=6, n_classes=0)
    images = ResnetGenerator(shape)(torch.randn(3, 6))
    assert ResnetDiscriminator(shape)(images).shape == (3, 1)
    with pytest.raises(ValueError, match="unconditional"):
        ResnetDiscriminator(shape)(images, torch.zeros(3, dtype=torch.long))


def test_conditional_networks_require_labels():
    with pytest.raises(ValueError, match="conditional on 3 classes"):
        ResnetGenerator(TINY)(torch.randn(2, 6))
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\)"):
        ResnetDiscriminator(TINY)(torch.randn(2, 1, 8, 8), torch.zeros(3, dtype=torch.long))


def test_wrong_input_shapes_name_expected_shape():
    with pytest.raises(ValueError, match=r"z must have shape \(batch, 6\)"):
        ResnetGenerator(TINY)(torch.randn(2, 5), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"images must have shape \(batch, 1, 8, 8\)"):
        ResnetDiscriminator(TINY)(torch.randn(2, 3, 8, 8), torch.zeros(2, dtype=torch.long))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"nf": 0}, "nf must be a positive integer"),
        ({"channels": 2.0}, "channels must be a positive integer"),
        ({"n_classes": -1}, "n_classes must be an integer >= 0"),
        ({"nf": 16, "nf_max": 8}, r"nf_max \(8\) must be >= nf \(16\)"),
        ({"size": 2}, "image size"),
    ],
)
def test_shape_rejects_invalid_values(changes, message):
    values = {**TINY.__dict__, **changes}
    with pytest.raises(ValueError, match=message):
        ResnetShape(**values)


def test_samples_do_not_interact():
    torch.manual_seed(0)
    discriminator = ResnetDiscriminator(TINY)
    x = torch.randn(6, 1, 8, 8)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    together = discriminator(x, labels)
    alone = torch.cat([discriminator(x[i : i + 1], labels[i : i + 1]) for i in range(6)])
    assert torch.allclose(together, alone, atol=1e-6)


@pytest.mark.parametrize("name", ["0-GP", "0-GP-sample", "1-GP"])
def test_penalties_run_on_resnet_discriminator(name):
    torch.manual_seed(0)
    discriminator = ResnetDiscriminator(TINY)
    labels = torch.tensor([0, 1, 2, 1])
    real, fake = torch.randn(4, 1, 8, 8), torch.randn(4, 1, 8, 8)
    result = gradient_penalty(name, lambda v: discriminator(v, labels), real, fake, lam=10.0, gradient_of="logit")
    assert result.value.dim() == 0
    assert torch.isfinite(result.value)
    result.value.backward()
    # Every weight shapes ∇ᵥ D; the last bias does not, so it gets no gradient.
    unused = {"fc.bias"}
    assert all(p.grad is not None for n, p in discriminator.named_parameters() if n not in unused)
