"""Image GAN training: the fused D objective, determinism, checkpoints, divergence and DDP."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gp_core import image_gan
from gp_core.image_gan import (
    CHECKPOINT_NAME,
    METHODS,
    ImageGanConfig,
    ImageGanDiverged,
    TensorImages,
    discriminator_objective,
    generate,
    load_checkpoint,
    train_image_gan,
)
from gp_core.losses import get_loss
from gp_core.penalties import gradient_penalty
from gp_core.resnet import ResnetDiscriminator, ResnetShape

sys.path.insert(0, str(Path(__file__).parent))
from ddp_worker import tiny_config, tiny_data  # noqa: E402

TESTS = Path(__file__).parent


def weights_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def scores_of(run):
    return [(e.iteration, e.score) for e in run.evaluations]


def mean_pixel(images: torch.Tensor) -> float:
    return float(images.mean())


# --- the fused objective


class LinearCritic:
    """D(v) = <w, v>, whose input gradient is w everywhere."""

    def __init__(self, weight: torch.Tensor) -> None:
        self.weight = weight

    def __call__(self, v: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return (v * self.weight).flatten(start_dim=1).sum(dim=1, keepdim=True)


@pytest.mark.parametrize("name, center", [("0-GP", 0.0), ("0-GP-sample", 0.0), ("1-GP", 1.0)])
def test_objective_penalty_closed_form_linear_critic(name, center):
    weight = torch.full((1, 2, 3, 3), 0.5)  # ‖w‖ = 0.5 · √18
    real, fake = torch.randn(4, 1, 2, 3, 3)[:, 0], torch.randn(4, 2, 3, 3)
    _, penalty, grad_norm = discriminator_objective(
        LinearCritic(weight), real, fake, None, get_loss("wgan"), name, 10.0, "logit", torch.rand(4)
    )
    norm = 0.5 * 18**0.5
    assert penalty.item() == pytest.approx(10.0 * (norm - center) ** 2, rel=1e-6)
    assert grad_norm.item() == pytest.approx(norm, rel=1e-6)


def test_objective_probability_gradient_closed_form():
    # With D = σ(<w, v>) and <w, v> = 0 at v = 0, ∇ D = w / 4.
    weight = torch.full((1, 1, 2, 2), 1.0)
    zeros = torch.zeros(3, 1, 2, 2)
    _, penalty, _ = discriminator_objective(
        LinearCritic(weight), zeros, zeros, None, get_loss("gan"), "0-GP-sample", 2.0, "probability", torch.rand(3)
    )
    assert penalty.item() == pytest.approx(2.0 * (4 / 16), rel=1e-6)


@pytest.mark.parametrize("name", ["none", "0-GP", "0-GP-sample", "1-GP"])
@pytest.mark.parametrize("gradient_of", ["logit", "probability"])
def test_objective_matches_separate_passes(name, gradient_of):
    torch.manual_seed(0)
    shape = ResnetShape(size=8, nf=4, nf_max=8, z_dim=6, n_classes=3, embed_size=4)
    discriminator = ResnetDiscriminator(shape)
    real, fake = torch.randn(5, 1, 8, 8), torch.randn(5, 1, 8, 8)
    labels = torch.tensor([0, 1, 2, 0, 1])
    alpha = torch.rand(5)
    loss_fn = get_loss("gan")

    loss, penalty, _ = discriminator_objective(discriminator, real, fake, labels, loss_fn, name, 10.0, gradient_of, alpha)
    expected_loss = loss_fn.discriminator(discriminator(real, labels), discriminator(fake, labels))
    expected = gradient_penalty(name, lambda v: discriminator(v, labels), real, fake, 10.0, gradient_of, alpha=alpha)
    assert loss.item() == pytest.approx(expected_loss.item(), rel=1e-5)
    assert penalty.item() == pytest.approx(expected.value.item(), rel=1e-4, abs=1e-8)

    if name != "none":
        grads = torch.autograd.grad(loss + penalty, list(discriminator.parameters())[:2])
        expected_grads = torch.autograd.grad(expected_loss + expected.value, list(discriminator.parameters())[:2])
        for got, want in zip(grads, expected_grads):
            assert torch.allclose(got, want, rtol=1e-4, atol=1e-6)


# --- training runs


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_trains_and_scores(method):
    run = train_image_gan(tiny_config(method).replace(eval_every=2, eval_samples=6), tiny_data(), score=mean_pixel)
    assert run.iterations_done == 3
    assert [e.iteration for e in run.evaluations] == [0, 2, 3]
    assert all(len(values) == 3 for values in run.losses.values())
    if METHODS[method].penalty == "none":
        assert run.losses["penalty"] == [0.0, 0.0, 0.0]
    else:
        assert all(value > 0 for value in run.losses["penalty"])


def test_same_seed_same_weights():
    first = train_image_gan(tiny_config("GAN-0-GP"), tiny_data())
    second = train_image_gan(tiny_config("GAN-0-GP"), tiny_data())
    assert weights_equal(first.raw_generator, second.raw_generator)
    assert weights_equal(first.discriminator, second.discriminator)
    assert first.losses == second.losses


def test_other_seed_other_weights():
    first = train_image_gan(tiny_config("GAN-0-GP"), tiny_data())
    second = train_image_gan(tiny_config("GAN-0-GP").replace(seed=1), tiny_data())
    assert not weights_equal(first.raw_generator, second.raw_generator)


def test_critic_steps_follow_method():
    assert tiny_config("WGAN-GP").critic_steps == 5
    assert tiny_config("GAN-0-GP").critic_steps == 1
    assert tiny_config("WGAN-GP").replace(d_steps=2).critic_steps == 2


def test_average_with_zero_beta_is_current_generator():
    run = train_image_gan(tiny_config("GAN-0-GP").replace(ema_beta=0.0), tiny_data())
    assert weights_equal(run.generator, run.raw_generator)


def test_average_lags_current_generator():
    run = train_image_gan(tiny_config("GAN-0-GP").replace(ema_beta=0.5), tiny_data())
    assert not weights_equal(run.generator, run.raw_generator)


def test_generate_cycles_classes_and_is_seeded():
    run = train_image_gan(tiny_config("GAN").replace(iterations=1), tiny_data())
    images = generate(run.generator, 7, seed=3)
    assert images.shape == (7, 1, 8, 8)
    # Batch size changes the convolution's summation order, not the draws.
    assert torch.allclose(images, generate(run.generator, 7, seed=3, batch=2), atol=1e-6)
    assert not torch.equal(images, generate(run.generator, 7, seed=4))


# --- checkpoints


def test_resumed_run_matches_uninterrupted(tmp_path):
    config = tiny_config("GAN-0-GP").replace(iterations=6, eval_every=2, eval_samples=6)
    whole = train_image_gan(config, tiny_data(), score=mean_pixel)

    first = train_image_gan(config.replace(iterations=3), tiny_data(), score=mean_pixel, checkpoint_dir=tmp_path)
    assert first.iterations_done == 3
    resumed = train_image_gan(config, tiny_data(), score=mean_pixel, checkpoint_dir=tmp_path)
    assert resumed.resumed_from == 3
    assert weights_equal(whole.raw_generator, resumed.raw_generator)
    assert weights_equal(whole.discriminator, resumed.discriminator)
    assert weights_equal(whole.generator, resumed.generator)
    assert whole.losses == resumed.losses
    # The first session also scored its last step, 3, which is off the cadence.
    assert [s for s in scores_of(resumed) if s[0] != 3] == scores_of(whole)


def test_run_stopped_by_error_resumes_from_last_checkpoint(tmp_path):
    config = tiny_config("WGAN-GP").replace(iterations=6, eval_every=2, eval_samples=6, checkpoint_every=2)
    whole = train_image_gan(config.replace(checkpoint_every=0), tiny_data(), score=mean_pixel)

    def failing_score(images):
        if len(failing_score.calls) == 2:  # the evaluation at G step 4
            raise KeyboardInterrupt
        failing_score.calls.append(1)
        return mean_pixel(images)

    failing_score.calls = []
    with pytest.raises(KeyboardInterrupt):
        train_image_gan(config, tiny_data(), score=failing_score, checkpoint_dir=tmp_path)
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["iteration"] == 2
    assert list(tmp_path.iterdir()) == [tmp_path / CHECKPOINT_NAME]

    resumed = train_image_gan(config, tiny_data(), score=mean_pixel, checkpoint_dir=tmp_path)
    assert resumed.resumed_from == 2
    assert weights_equal(whole.raw_generator, resumed.raw_generator)
    assert whole.losses == resumed.losses
    assert scores_of(whole) == scores_of(resumed)


def test_finished_checkpoint_returns_without_training(tmp_path):
    config = tiny_config("GAN")
    train_image_gan(config, tiny_data(), checkpoint_dir=tmp_path)
    again = train_image_gan(config, tiny_data(), checkpoint_dir=tmp_path)
    assert again.resumed_from == 3
    assert again.iterations_done == 3


def test_checkpoint_of_other_settings_is_rejected(tmp_path):
    train_image_gan(tiny_config("GAN"), tiny_data(), checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match=r"other settings \(lr_d differ\)"):
        train_image_gan(tiny_config("GAN").replace(lr_d=1e-3), tiny_data(), checkpoint_dir=tmp_path)


def test_checkpoint_past_iterations_is_rejected(tmp_path):
    train_image_gan(tiny_config("GAN"), tiny_data(), checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="past iterations=2"):
        train_image_gan(tiny_config("GAN").replace(iterations=2), tiny_data(), checkpoint_dir=tmp_path)


def test_corrupt_checkpoint_names_file(tmp_path):
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=f"{CHECKPOINT_NAME} cannot be read.*delete it"):
        train_image_gan(tiny_config("GAN"), tiny_data(), checkpoint_dir=tmp_path)


def test_foreign_checkpoint_names_file(tmp_path):
    torch.save({"weights": 1}, tmp_path / CHECKPOINT_NAME)
    with pytest.raises(ValueError, match="is not a checkpoint of gp_core.image_gan"):
        train_image_gan(tiny_config("GAN"), tiny_data(), checkpoint_dir=tmp_path)


def test_missing_checkpoint_file():
    with pytest.raises(FileNotFoundError, match="not found"):
        load_checkpoint("/nonexistent/checkpoint.pt")


def test_failed_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    config = tiny_config("GAN").replace(iterations=4, checkpoint_every=2)
    train_image_gan(config.replace(iterations=2), tiny_data(), checkpoint_dir=tmp_path)
    before = (tmp_path / CHECKPOINT_NAME).read_bytes()

    def broken_save(payload, stream):
        stream.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(image_gan.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        train_image_gan(config, tiny_data(), checkpoint_dir=tmp_path)
    assert (tmp_path / CHECKPOINT_NAME).read_bytes() == before
    assert list(tmp_path.iterdir()) == [tmp_path / CHECKPOINT_NAME]


def test_checkpoint_every_needs_folder():
    with pytest.raises(ValueError, match="checkpoint_dir is None"):
        train_image_gan(tiny_config("GAN").replace(checkpoint_every=1), tiny_data())


# --- divergence and bad input


def test_divergence_keeps_scores_and_checkpoint(tmp_path):
    data = tiny_data()
    config = tiny_config("GAN-0-GP").replace(iterations=4, eval_every=1, eval_samples=6, checkpoint_every=1)
    train_image_gan(config.replace(iterations=2), data, score=mean_pixel, checkpoint_dir=tmp_path)
    before = (tmp_path / CHECKPOINT_NAME).read_bytes()
    data.images[:] = float("nan")
    with pytest.raises(ImageGanDiverged, match="GAN-0-GP diverged at G step 3: loss_d is nan. Lower lr_d") as caught:
        train_image_gan(config, data, score=mean_pixel, checkpoint_dir=tmp_path)
    assert caught.value.iteration == 3
    assert caught.value.run.iterations_done == 2
    assert [e.iteration for e in caught.value.run.evaluations] == [0, 1, 2]
    assert (tmp_path / CHECKPOINT_NAME).read_bytes() == before
    assert all(torch.isfinite(p).all() for p in caught.value.run.generator.parameters())


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"method": "GAN-2-GP"}, "unknown method 'GAN-2-GP'"),
        ({"lam": -1.0}, "lam must be >= 0"),
        ({"method": "WGAN-GP", "gradient_of": "probability"}, "WGAN critic has no sigmoid"),
        ({"gradient_of": "both"}, "unknown gradient_of"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"iterations": -1}, "iterations must be an integer >= 0"),
        ({"lr_d": 0.0}, "lr_d must be a finite number > 0"),
        ({"lr_g": float("nan")}, "lr_g must be a finite number > 0"),
        ({"betas": (0.5, 1.0)}, r"betas must be two numbers in \[0, 1\)"),
        ({"ema_beta": 1.0}, r"ema_beta must be in \[0, 1\)"),
        ({"d_steps": 0}, "d_steps must be an integer >= 1"),
        ({"eval_samples": 0}, "eval_samples must be an integer >= 1"),
        ({"shape": {"size": 8}}, "shape must be a ResnetShape"),
    ],
)
def test_config_rejects_invalid_values(changes, message):
    with pytest.raises(ValueError, match=message):
        tiny_config("GAN-0-GP").replace(**changes)


def test_data_of_wrong_size_is_rejected():
    data = TensorImages(torch.zeros(4, 1, 16, 16), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"images have shape \(1, 16, 16\), the models expect \(1, 8, 8\)"):
        train_image_gan(tiny_config("GAN"), data)


def test_labels_outside_classes_are_rejected():
    data = TensorImages(torch.zeros(4, 1, 8, 8), torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        train_image_gan(tiny_config("GAN"), data)


@pytest.mark.parametrize(
    "images, labels, message",
    [
        (torch.zeros(4, 8, 8), torch.zeros(4, dtype=torch.long), "images must have shape"),
        (torch.zeros(4, 1, 8, 8), torch.zeros(3, dtype=torch.long), r"labels must have shape \(4,\)"),
        (torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.long), "no images given"),
    ],
)
def test_tensor_images_reject_bad_input(images, labels, message):
    with pytest.raises(ValueError, match=message):
        TensorImages(images, labels)


# --- distributed data parallel


@pytest.mark.parametrize("method", ["GAN-0-GP", "WGAN-GP"])
def test_two_gloo_processes_match_one(tmp_path, method):
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        str(TESTS / "ddp_worker.py"), str(tmp_path), method,
    ]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, env=environment)
    assert done.returncode == 0, done.stderr[-3000:]

    single = train_image_gan(tiny_config(method), tiny_data())
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    for name, module in [("generator", single.raw_generator), ("discriminator", single.discriminator), ("average", single.generator)]:
        for key, expected in module.state_dict().items():
            assert torch.equal(ranks[0][name][key], ranks[1][name][key]), f"{name}.{key} differs between ranks"
            assert torch.allclose(ranks[0][name][key], expected, rtol=1e-4, atol=1e-6), f"{name}.{key} differs from one process"
