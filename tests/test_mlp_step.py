"""The hand-written gradients of gp_core.mlp_step against autograd, and the trainer that uses them."""

import itertools

import pytest
import torch

import gp_core.train as train_module
from gp_core import data, mlp_step
from gp_core.losses import get_loss
from gp_core.models import MLP, MLPConfig, make_discriminator, make_generator
from gp_core.penalties import PENALTIES, gradient_penalty, input_gradient
from gp_core.train import TrainConfig, _update, make_optimizer, seeded, train_gan

F64 = torch.float64
LAM = 2.5


class AutogradMLP(MLP):
    """The same network, but not a plain MLP, so that every gp_core path takes autograd."""


def twin(model: MLP) -> AutogradMLP:
    copy = AutogradMLP(model.config).to(next(model.parameters()).dtype)
    copy.load_state_dict(model.state_dict())
    return copy


def batch(n_real: int = 6, n_fake: int = 6, dim: int = 3, seed: int = 0):
    rng = torch.Generator().manual_seed(seed)
    x_real = torch.randn(n_real, dim, generator=rng, dtype=F64)
    x_fake = torch.randn(n_fake, dim, generator=rng, dtype=F64) + 0.5
    alpha = torch.rand(n_real, generator=rng, dtype=F64)
    return x_real, x_fake, alpha


COMBINATIONS = [
    (activation, gradient_of, penalty, loss, depth)
    for activation, gradient_of, penalty, loss, depth in itertools.product(
        ["relu", "tanh"], ["probability", "logit"], list(PENALTIES), ["gan", "wgan"], [0, 1, 3]
    )
]


@pytest.mark.parametrize("activation, gradient_of, penalty, loss, depth", COMBINATIONS)
def test_discriminator_gradients_match_autograd(activation, gradient_of, penalty, loss, depth):
    with seeded(1):
        discriminator = make_discriminator(3, 7, depth, activation).to(F64)
    x_real, x_fake, alpha = batch()
    step = mlp_step.discriminator_gradients(discriminator, x_real, x_fake, loss, penalty, LAM, gradient_of, alpha=alpha)

    reference = twin(discriminator)
    loss_d = get_loss(loss).discriminator(reference(x_real), reference(x_fake))
    value = gradient_penalty(penalty, reference, x_real, x_fake, LAM, gradient_of, alpha=alpha).value
    (loss_d + value).backward()
    torch.testing.assert_close(step.loss, loss_d.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(step.penalty, value.detach(), rtol=1e-12, atol=1e-12)
    assert len(step.grads) == len(list(reference.parameters()))
    for grad, parameter in zip(step.grads, reference.parameters()):
        torch.testing.assert_close(grad, parameter.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("penalty", ["none", "0-GP-sample"])
def test_fake_batch_of_another_size(penalty):
    with seeded(2):
        discriminator = make_discriminator(3, 5, 2, "tanh").to(F64)
    x_real, x_fake, _ = batch(n_real=4, n_fake=7)
    step = mlp_step.discriminator_gradients(discriminator, x_real, x_fake, "gan", penalty, LAM)
    reference = twin(discriminator)
    loss_d = get_loss("gan").discriminator(reference(x_real), reference(x_fake))
    (loss_d + gradient_penalty(penalty, reference, x_real, x_fake, LAM).value).backward()
    for grad, parameter in zip(step.grads, reference.parameters()):
        torch.testing.assert_close(grad, parameter.grad, rtol=1e-10, atol=1e-12)


def test_alpha_is_drawn_as_the_penalty_draws_it():
    with seeded(3):
        discriminator = make_discriminator(3, 6, 2).to(F64)
    x_real, x_fake, _ = batch()
    step = mlp_step.discriminator_gradients(
        discriminator, x_real, x_fake, "gan", "0-GP", LAM, generator=torch.Generator().manual_seed(9)
    )
    value = gradient_penalty("0-GP", twin(discriminator), x_real, x_fake, LAM, generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(step.penalty, value.value.detach(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("penalty", ["0-GP", "1-GP"])
def test_flat_discriminator_matches_autograd(penalty):
    discriminator = make_discriminator(2, 4, 2).to(F64)
    for parameter in discriminator.parameters():
        torch.nn.init.zeros_(parameter)
    x_real, x_fake, alpha = batch(dim=2)
    step = mlp_step.discriminator_gradients(discriminator, x_real, x_fake, "gan", penalty, LAM, alpha=alpha)
    assert all(torch.isfinite(grad).all() for grad in step.grads)

    reference = twin(discriminator)
    loss_d = get_loss("gan").discriminator(reference(x_real), reference(x_fake))
    (loss_d + gradient_penalty(penalty, reference, x_real, x_fake, LAM, alpha=alpha).value).backward()
    for grad, parameter in zip(step.grads, reference.parameters()):
        torch.testing.assert_close(grad, parameter.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("activation, loss, depth", list(itertools.product(["relu", "tanh"], ["gan", "wgan"], [0, 2])))
def test_generator_gradients_match_autograd(activation, loss, depth):
    with seeded(4):
        generator_net = make_generator(2, 3, 6, depth, activation).to(F64)
        discriminator = make_discriminator(3, 5, 2, activation).to(F64)
    z = torch.randn(8, 2, generator=torch.Generator().manual_seed(5), dtype=F64)
    step = mlp_step.generator_gradients(generator_net, discriminator, z, loss)
    assert all(parameter.grad is None for parameter in discriminator.parameters())

    reference_g, reference_d = twin(generator_net), twin(discriminator).requires_grad_(False)
    loss_g = get_loss(loss).generator(reference_d(reference_g(z)))
    loss_g.backward()
    torch.testing.assert_close(step.loss, loss_g.detach(), rtol=1e-12, atol=1e-12)
    for grad, parameter in zip(step.grads, reference_g.parameters()):
        torch.testing.assert_close(grad, parameter.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("activation, gradient_of", list(itertools.product(["relu", "tanh"], ["probability", "logit"])))
def test_input_gradient_and_sample_match(activation, gradient_of):
    with seeded(6):
        discriminator = make_discriminator(3, 8, 2, activation).to(F64)
    x = batch()[0]
    expected = input_gradient(twin(discriminator), x, gradient_of, create_graph=False)
    closed_form = input_gradient(discriminator, x, gradient_of, create_graph=False)
    torch.testing.assert_close(closed_form, expected, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(mlp_step.sample(discriminator, x), discriminator(x).detach(), rtol=1e-12, atol=1e-14)


def test_only_plain_mlps_are_supported():
    model = make_discriminator(2, 4, 1)
    assert mlp_step.supported(model, scalar_output=True)
    assert mlp_step.supported(make_generator(2, 2, 4, 2))
    assert not mlp_step.supported(make_generator(2, 2, 4, 2), scalar_output=True)
    assert not mlp_step.supported(twin(model))
    assert not mlp_step.supported(torch.nn.Sequential(torch.nn.Linear(2, 1)))

    hooked = make_discriminator(2, 4, 1)
    hooked.register_forward_hook(lambda module, inputs, output: output * 2)
    assert not mlp_step.supported(hooked)

    normalised = make_discriminator(2, 4, 1)
    torch.nn.utils.spectral_norm(normalised[0])
    assert not mlp_step.supported(normalised)

    frozen = make_discriminator(2, 4, 1)
    frozen[0].requires_grad_(False)
    assert not mlp_step.supported(frozen)

    swapped = make_discriminator(2, 4, 1, "relu")
    swapped[1] = torch.nn.Tanh()
    assert not mlp_step.supported(swapped)
    assert mlp_step.loss_name(get_loss("gan")) == "gan"
    assert mlp_step.loss_name(get_loss("wgan")) == "wgan"


def test_unknown_penalty_is_rejected_by_name():
    x_real, x_fake, _ = batch()
    with pytest.raises(ValueError, match="unknown penalty '0-gp'"):
        mlp_step.discriminator_gradients(make_discriminator(3, 4, 1).to(F64), x_real, x_fake, "gan", "0-gp", 1.0)


@pytest.mark.parametrize("optimizer, penalty", [("sgd", "0-GP"), ("adam", "1-GP"), ("sgd", "0-GP-sample")])
def test_train_gan_follows_autograd_run(optimizer, penalty):
    config = TrainConfig(penalty=penalty, lam=10.0, optimizer=optimizer, lr_d=1e-2, lr_g=1e-2, batch_size=32,
                         iterations=30, log_every=5, seed=3)
    runs = []
    for wrap in (lambda model: model, twin):
        with seeded(0):
            generator_net, discriminator = make_generator(2, 2, 16, 2), make_discriminator(2, 16, 2)
        generator_net, discriminator = wrap(generator_net), wrap(discriminator)
        runs.append(train_gan(generator_net, discriminator, data.eight_gaussians, config, 2, progress=False))
    fast, reference = runs
    for key, values in reference.history.items():
        torch.testing.assert_close(torch.tensor(fast.history[key]), torch.tensor(values), rtol=1e-4, atol=1e-5)
    for mine, theirs in zip(fast.discriminator.parameters(), reference.discriminator.parameters()):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-5)


def test_sgd_update_equals_torch_sgd():
    with seeded(7):
        first, second = make_discriminator(2, 8, 2), make_discriminator(2, 8, 2)
    second.load_state_dict(first.state_dict())
    config = TrainConfig(optimizer="sgd")
    optimizers = [make_optimizer(model.parameters(), config, 0.37) for model in (first, second)]
    for model in (first, second):
        for i, parameter in enumerate(model.parameters()):
            parameter.grad = torch.full_like(parameter, 0.1 * (i + 1))
    _update(optimizers[0])
    optimizers[1].step()
    for mine, theirs in zip(first.parameters(), second.parameters()):
        assert torch.equal(mine, theirs)


def small_run(compile: bool):
    config = TrainConfig(penalty="0-GP", lam=10.0, batch_size=16, iterations=6, log_every=2, seed=1)
    with seeded(0):
        generator_net, discriminator = make_generator(2, 2, 8, 1), make_discriminator(2, 8, 1)
    return train_gan(generator_net, discriminator, data.eight_gaussians, config, 2, progress=False, compile=compile)


def test_compiled_step_follows_eager():
    compiled, eager = small_run(True), small_run(False)
    for key, values in eager.history.items():
        torch.testing.assert_close(torch.tensor(compiled.history[key]), torch.tensor(values), rtol=1e-4, atol=1e-5)


def test_compile_failure_names_switch(monkeypatch):
    def broken_compile(function, **kwargs):
        def run(*args):
            raise torch._dynamo.exc.TorchDynamoException("no C++ compiler")
        return run

    monkeypatch.setattr(train_module, "_COMPILED", {})
    monkeypatch.setattr(torch, "compile", broken_compile)
    with pytest.raises(RuntimeError, match="Train with compile=False"):
        small_run(True)


def test_compile_warns_for_other_models():
    config = TrainConfig(penalty="0-GP", batch_size=16, iterations=2, seed=1)
    with seeded(0):
        generator_net, discriminator = twin(make_generator(2, 2, 8, 1)), twin(make_discriminator(2, 8, 1))
    with pytest.warns(UserWarning, match="compile=True applies only to two plain gp_core.models MLPs"):
        result = train_gan(generator_net, discriminator, data.eight_gaussians, config, 2, progress=False, compile=True)
    assert result.iterations_done == 2
