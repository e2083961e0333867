"""Penalty values against closed forms for a linear discriminator f(v) = w·v + b.

For such a D the input gradient is known exactly: ∇ᵥ f = w for the logit and
∇ᵥ σ(f) = σ(f)(1 − σ(f)) w for the probability.
"""

import copy
import math

import pytest
import torch
from torch import nn

from gp_core.models import make_discriminator
from gp_core.penalties import (
    PENALTIES,
    centered_square,
    discriminator_pass,
    gradient_penalty,
    input_gradient,
    interpolate,
    per_sample_norm,
)

F64 = torch.float64
W = torch.tensor([0.6, -1.7], dtype=F64)
B = 0.3
LAM = 2.5


def linear_discriminator(w: torch.Tensor = W, b: float = B) -> nn.Linear:
    d = nn.Linear(w.numel(), 1, dtype=torch.float64)
    with torch.no_grad():
        d.weight.copy_(w.view(1, -1))
        d.bias.fill_(b)
    return d


@pytest.fixture
def batch():
    generator = torch.Generator().manual_seed(1)
    x_real = torch.randn(16, 2, generator=generator, dtype=torch.float64)
    x_fake = torch.randn(16, 2, generator=generator, dtype=torch.float64) + 1.0
    alpha = torch.rand(16, generator=generator, dtype=torch.float64)
    return x_real, x_fake, alpha


def sigmoid_slope(points: torch.Tensor) -> torch.Tensor:
    """σ'(f(v)) = σ(f)(1 − σ(f)) at each point, for the linear D."""
    p = torch.sigmoid(points @ W + B)
    return p * (1 - p)


def expected_penalty(name: str, gradient_of: str, x_real, x_fake, alpha) -> float:
    if name == "none":
        return 0.0
    points = x_real if name == "0-GP-sample" else alpha[:, None] * x_real + (1 - alpha[:, None]) * x_fake
    norms = W.norm() * torch.ones(len(points), dtype=F64)
    if gradient_of == "probability":
        norms = sigmoid_slope(points) * W.norm()
    center = 1.0 if name == "1-GP" else 0.0
    return LAM * ((norms - center) ** 2).mean().item()


@pytest.mark.parametrize("gradient_of", ["probability", "logit"])
@pytest.mark.parametrize("name", list(PENALTIES))
def test_penalty_matches_closed_form(name, gradient_of, batch):
    x_real, x_fake, alpha = batch
    result = gradient_penalty(name, linear_discriminator(), x_real, x_fake, LAM, gradient_of, alpha=alpha)
    expected = expected_penalty(name, gradient_of, x_real, x_fake, alpha)
    assert result.value.item() == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_logit_zero_gp_closed_form(batch):
    x_real, x_fake, alpha = batch
    result = gradient_penalty("0-GP", linear_discriminator(), x_real, x_fake, LAM, "logit", alpha=alpha)
    assert result.value.item() == pytest.approx(LAM * (0.6**2 + 1.7**2), rel=1e-12)
    assert result.grad_norm.item() == pytest.approx(math.hypot(0.6, 1.7), rel=1e-12)


def test_one_gp_is_zero_for_unit_gradient(batch):
    x_real, x_fake, alpha = batch
    unit = torch.tensor([0.6, 0.8], dtype=F64)
    result = gradient_penalty("1-GP", linear_discriminator(unit), x_real, x_fake, LAM, "logit", alpha=alpha)
    assert result.value.item() == pytest.approx(0.0, abs=1e-12)


def test_none_has_no_gradient_norm(batch):
    x_real, x_fake, _ = batch
    result = gradient_penalty("none", linear_discriminator(), x_real, x_fake, LAM)
    assert result.value.item() == 0.0
    assert result.grad_norm is None


def test_lam_zero_gives_zero_penalty(batch):
    x_real, x_fake, alpha = batch
    result = gradient_penalty("0-GP", linear_discriminator(), x_real, x_fake, 0.0, alpha=alpha)
    assert result.value.item() == 0.0


def test_sample_penalty_ignores_fake_points(batch):
    x_real, x_fake, _ = batch
    d = linear_discriminator()
    first = gradient_penalty("0-GP-sample", d, x_real, x_fake, LAM).value
    second = gradient_penalty("0-GP-sample", d, x_real, x_fake + 100.0, LAM).value
    assert first.item() == second.item()


def test_penalty_gradient_reaches_parameters(batch):
    """D's optimiser must see the penalty: d/dw of λ‖w‖² is 2λw for the logit 0-GP."""
    x_real, x_fake, alpha = batch
    d = linear_discriminator()
    gradient_penalty("0-GP", d, x_real, x_fake, LAM, "logit", alpha=alpha).value.backward()
    assert torch.allclose(d.weight.grad.view(-1), 2 * LAM * W, rtol=1e-12)


def test_zero_gp_gradient_is_finite_for_flat_discriminator(batch):
    """A flat D has ∇D = 0, where the derivative of the norm itself is undefined."""
    x_real, x_fake, alpha = batch
    d = linear_discriminator(torch.zeros(2, dtype=F64), 0.0)
    for name in ("0-GP", "0-GP-sample", "1-GP"):
        d.zero_grad()
        gradient_penalty(name, d, x_real, x_fake, LAM, "logit", alpha=alpha).value.backward()
        assert torch.isfinite(d.weight.grad).all(), name


def test_alpha_is_one_per_pair():
    """Every coordinate of sample i lies the same fraction α_i along the segment from y_i to x_i."""
    generator = torch.Generator().manual_seed(3)
    x_real = torch.randn(8, 3, 4, generator=generator, dtype=F64)
    x_fake = torch.randn(8, 3, 4, generator=generator, dtype=F64)
    alpha = torch.rand(8, generator=generator, dtype=F64)
    v = interpolate(x_real, x_fake, alpha)
    fraction = (v - x_fake) / (x_real - x_fake)
    assert torch.allclose(fraction, alpha.view(8, 1, 1).expand_as(fraction), rtol=1e-9, atol=1e-9)


def test_random_alpha_differs_between_pairs_but_not_within(batch):
    x_real, x_fake, _ = batch
    x_real = x_real.view(16, 2, 1).expand(16, 2, 5).contiguous()
    x_fake = x_fake.view(16, 2, 1).expand(16, 2, 5).contiguous()
    seen = []

    def recording_discriminator(v):
        seen.append(v.detach().clone())
        return v.flatten(1).sum(1, keepdim=True)

    gradient_penalty("0-GP", recording_discriminator, x_real, x_fake, 1.0, "logit", torch.Generator().manual_seed(0))
    fraction = (seen[0] - x_fake) / (x_real - x_fake)
    per_sample = fraction.flatten(1)
    assert torch.allclose(per_sample, per_sample[:, :1].expand_as(per_sample), atol=1e-9)
    assert per_sample[:, 0].unique().numel() == 16


def test_norm_is_over_all_non_batch_dimensions():
    """For images the norm runs over channels, height and width together."""
    weights = torch.arange(1.0, 13.0, dtype=F64).view(1, 3, 2, 2) / 10

    def image_discriminator(v):
        return (v * weights).flatten(1).sum(1, keepdim=True)

    images = torch.randn(5, 3, 2, 2, dtype=F64)
    grad = input_gradient(image_discriminator, images, "logit")
    assert torch.allclose(per_sample_norm(grad), weights.norm().expand(5), rtol=1e-12)
    result = gradient_penalty("0-GP-sample", image_discriminator, images, images, LAM, "logit")
    assert result.value.item() == pytest.approx(LAM * weights.pow(2).sum().item(), rel=1e-12)


def test_probability_and_logit_differ_by_sigmoid_slope(batch):
    x_real, _, _ = batch
    d = linear_discriminator()
    ratio = per_sample_norm(input_gradient(d, x_real, "probability")) / per_sample_norm(input_gradient(d, x_real, "logit"))
    assert torch.allclose(ratio, sigmoid_slope(x_real), rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "2-GP"}, "unknown penalty '2-GP'"),
        ({"lam": -1.0}, "lam must be >= 0, got -1.0"),
        ({"lam": float("nan")}, "finite number, got nan"),
        ({"gradient_of": "logits"}, "unknown gradient_of 'logits'"),
    ],
)
def test_invalid_penalty_settings_raise(kwargs, message, batch):
    x_real, x_fake, _ = batch
    arguments = {"name": "0-GP", "lam": 1.0, "gradient_of": "probability"} | kwargs
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        gradient_penalty(
            arguments["name"], linear_discriminator(), x_real, x_fake, arguments["lam"], arguments["gradient_of"]
        )


def test_interpolate_rejects_mismatched_batches():
    with pytest.raises(ValueError, match=r"same shape to interpolate, got \(4, 2\) and \(3, 2\)"):
        interpolate(torch.zeros(4, 2), torch.zeros(3, 2), torch.zeros(4))


def test_centered_square_accepts_one_centre_per_member():
    squared_norm = torch.tensor([[0.0, 4.0], [0.0, 4.0]], dtype=F64, requires_grad=True)
    center = torch.tensor([[0.0], [1.0]], dtype=F64)
    value = centered_square(squared_norm, center)
    torch.testing.assert_close(value.detach(), torch.tensor([[0.0, 4.0], [1.0, 1.0]], dtype=F64))
    torch.testing.assert_close(value[0], centered_square(squared_norm[0], 0.0))
    torch.testing.assert_close(value[1], centered_square(squared_norm[1], 1.0))
    value.sum().backward()
    assert torch.isfinite(squared_norm.grad).all()  # no square root's derivative at zero leaks in


@pytest.mark.parametrize("gradient_of", ["probability", "logit"])
@pytest.mark.parametrize("name", list(PENALTIES))
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_discriminator_pass_equals_separate_passes(name, gradient_of, activation, batch):
    """One fused pass gives D's logits and the penalty, with the closed-form input gradient for an MLP."""
    x_real, x_fake, alpha = batch
    with torch.random.fork_rng():
        torch.manual_seed(5)
        mlp = make_discriminator(2, 6, 2, activation).to(F64)
    generic = nn.Sequential(*[copy.deepcopy(layer) for layer in mlp])  # not an MLP: autograd's double backward
    grads = []
    for model in (mlp, generic):
        result = discriminator_pass(name, model, x_real, x_fake, LAM, gradient_of, alpha=alpha)
        torch.testing.assert_close(result.d_real, model(x_real), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(result.d_fake, model(x_fake), rtol=1e-12, atol=1e-12)
        expected = gradient_penalty(name, model, x_real, x_fake, LAM, gradient_of, alpha=alpha)
        torch.testing.assert_close(result.penalty.value, expected.value, rtol=1e-12, atol=1e-12)
        (result.d_real.mean() - result.d_fake.mean() + result.penalty.value).backward()
        grads.append([p.grad for p in model.parameters()])
    for mine, theirs in zip(*grads):
        torch.testing.assert_close(mine, theirs, rtol=1e-10, atol=1e-12)
