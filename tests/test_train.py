"""Trainer behaviour on tiny models: determinism, snapshots, divergence and bad settings."""

import math

import pytest
import torch

from gp_core import data
from gp_core.losses import get_loss
from gp_core.models import MLPConfig, make_discriminator, make_generator
from gp_core.train import NonFiniteError, TrainConfig, seeded, train_discriminator, train_gan


def tiny_gan(seed: int = 0):
    with seeded(seed):
        return make_generator(width=8), make_discriminator(width=8)


def eight(n, rng):
    return data.eight_gaussians(n, rng)


def run_gan(config: TrainConfig, sample_real=eight):
    generator_net, discriminator = tiny_gan(config.seed)
    return train_gan(generator_net, discriminator, sample_real, config, noise_dim=2, progress=False)


BASE = TrainConfig(penalty="0-GP", lam=1.0, iterations=30, batch_size=16, log_every=5)


@pytest.mark.parametrize("penalty", ["none", "0-GP", "0-GP-sample", "1-GP"])
def test_same_seed_gives_same_history(penalty):
    config = BASE.replace(penalty=penalty)
    first = run_gan(config)
    second = run_gan(config)
    assert first.history == second.history
    for a, b in zip(first.generator.parameters(), second.generator.parameters()):
        assert torch.equal(a, b)


def test_different_seed_gives_different_history():
    assert run_gan(BASE).history["loss_d"] != run_gan(BASE.replace(seed=1)).history["loss_d"]


def test_history_is_logged_every_log_every_iterations():
    result = run_gan(BASE.replace(iterations=23))
    assert result.history["iteration"] == [5, 10, 15, 20, 23]
    assert all(len(values) == 5 for values in result.history.values())
    assert all(math.isfinite(v) for v in result.history["grad_norm"])
    assert result.iterations_done == 23


def test_adam_and_d_steps_run():
    result = run_gan(BASE.replace(optimizer="adam", lr_d=1e-3, lr_g=1e-4, d_steps=3, iterations=5))
    assert result.iterations_done == 5


def test_wgan_with_logit_penalty_runs():
    result = run_gan(BASE.replace(loss="wgan", penalty="1-GP", gradient_of="logit", iterations=5))
    assert result.iterations_done == 5


def test_snapshots_are_frozen_copies():
    result = run_gan(BASE.replace(snapshot_at=(0, 10, 30)))
    assert sorted(result.snapshots) == [0, 10, 30]
    early = result.snapshots[10].discriminator
    assert not any(p.requires_grad for p in early.parameters())
    final_weight = result.discriminator[0].weight
    assert not torch.equal(early[0].weight, final_weight)
    assert torch.equal(result.snapshots[30].discriminator[0].weight, final_weight.detach())


def test_generator_step_leaves_discriminator_trainable():
    result = run_gan(BASE.replace(iterations=2))
    assert all(p.requires_grad for p in result.discriminator.parameters())


def test_nan_in_data_raises_with_iteration_and_quantity():
    def poisoned(n, rng):
        poisoned.calls += 1
        x = data.eight_gaussians(n, rng)
        return x * float("nan") if poisoned.calls == 4 else x

    poisoned.calls = 0
    with pytest.raises(NonFiniteError, match="diverged at iteration 4: the discriminator loss is nan") as info:
        run_gan(BASE.replace(snapshot_at=(2,)), sample_real=poisoned)
    error = info.value
    assert error.iteration == 4
    assert error.quantity == "discriminator loss"
    assert error.result.iterations_done == 3
    assert 2 in error.result.snapshots


def test_exploding_learning_rate_is_caught():
    config = BASE.replace(penalty="none", lr_d=1e30, lr_g=1e30, iterations=200)
    with pytest.raises(NonFiniteError, match=r"diverged at iteration \d+: the .* is (nan|inf)"):
        run_gan(config)


def test_discriminator_trainer_separates_fixed_sets():
    pair = data.figure1_gaussians(100, seed=0)
    with seeded(0):
        discriminator = make_discriminator(width=16, activation="tanh")
    config = TrainConfig(
        optimizer="adam", lr_d=1e-2, beta1=0.9, beta2=0.999, batch_size=20, iterations=300, log_every=50, snapshot_at=(0,)
    )
    result = train_discriminator(discriminator, pair.x_real, pair.x_fake, config, progress=False)

    def full_set_loss(d):
        with torch.no_grad():
            return get_loss("gan").discriminator(d(pair.x_real), d(pair.x_fake)).item()

    assert full_set_loss(result.discriminator) < full_set_loss(result.snapshots[0].discriminator) - 0.05
    assert all(math.isnan(v) for v in result.history["loss_g"])


def test_discriminator_trainer_is_deterministic():
    pair = data.figure1_gaussians(50, seed=0)
    config = TrainConfig(penalty="1-GP", lam=1.0, batch_size=10, iterations=40, log_every=10)
    histories = []
    for _ in range(2):
        with seeded(0):
            discriminator = make_discriminator(width=8, activation="tanh")
        histories.append(train_discriminator(discriminator, pair.x_real, pair.x_fake, config, progress=False).history)
    assert histories[0] == histories[1]


def test_discriminator_trainer_rejects_batch_larger_than_set():
    pair = data.figure1_gaussians(10, seed=0)
    with pytest.raises(ValueError, match="batch_size=20 exceeds the smaller sample set"):
        train_discriminator(make_discriminator(), pair.x_real, pair.x_fake, TrainConfig(batch_size=20), progress=False)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"penalty": "R1"}, "unknown penalty 'R1'"),
        ({"lam": -0.5}, "lam must be >= 0, got -0.5"),
        ({"loss": "hinge"}, "unknown loss 'hinge'"),
        ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'"),
        ({"lr_d": 0.0}, "lr_d must be a positive finite number, got 0.0"),
        ({"lr_g": float("nan")}, "lr_g must be a positive finite number, got nan"),
        ({"beta1": 1.0}, r"beta1 must be in \[0, 1\), got 1.0"),
        ({"d_steps": 0}, "d_steps must be a positive integer, got 0"),
        ({"iterations": 2.5}, "iterations must be a positive integer, got 2.5"),
        ({"snapshot_at": (40,)}, r"snapshot iteration 40 is outside \[0, iterations=30\]"),
        ({"loss": "wgan"}, "set gradient_of='logit'"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
        ({"learning_rate": 0.1}, r"unknown TrainConfig field\(s\) \['learning_rate'\]"),
    ],
)
def test_invalid_config_raises(changes, message):
    with pytest.raises(ValueError, match=message):
        BASE.replace(**changes)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on machines without CUDA")
def test_cuda_request_without_cuda_raises():
    with pytest.raises(ValueError, match="CUDA is not available; use 'cpu' or 'auto'"):
        BASE.replace(device="cuda")


def test_auto_device_resolves():
    assert BASE.replace(device="auto").device == "auto"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"activation": "gelu"}, "unknown activation 'gelu'"),
        ({"width": 0}, "width must be a positive integer, got 0"),
        ({"depth": -1}, "depth must be a non-negative integer, got -1"),
    ],
)
def test_invalid_mlp_config_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLPConfig(in_features=2, out_features=1, **kwargs)


def test_mlp_shapes_and_logit_output():
    generator_net = make_generator(noise_dim=3, data_dim=2, width=16, depth=3)
    discriminator = make_discriminator(data_dim=2, width=16, activation="tanh")
    x = generator_net(torch.randn(5, 3))
    assert x.shape == (5, 2)
    logits = discriminator(x)
    assert logits.shape == (5, 1)
    assert sum(isinstance(m, torch.nn.Linear) for m in generator_net) == 4
    assert isinstance(discriminator[-1], torch.nn.Linear)


def test_losses_take_the_mean_per_member_over_dim():
    from gp_core.losses import LOSSES

    d_real = torch.randn(3, 5, 1, generator=torch.Generator().manual_seed(0))
    d_fake = torch.randn(3, 5, 1, generator=torch.Generator().manual_seed(1))
    for loss in LOSSES.values():
        per_member = loss.discriminator(d_real, d_fake, dim=(1, 2))
        assert per_member.shape == (3,)
        for k in range(3):
            torch.testing.assert_close(per_member[k], loss.discriminator(d_real[k], d_fake[k]))
            torch.testing.assert_close(loss.generator(d_fake, dim=(1, 2))[k], loss.generator(d_fake[k]))
