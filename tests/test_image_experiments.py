"""Figures 4 and 10: settings per scale, data and scorer choice, runs, tables, the command line and the widget."""

import dataclasses
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image

matplotlib.use("Agg")

from gp_core.experiments import SCALES, settings_table  # noqa: E402
from gp_core.experiments import imagenet  # noqa: E402
from gp_core.experiments.imagenet import (  # noqa: E402
    FIGURE4_METHODS,
    ImageRecord,
    ImageResult,
    Scorer,
    image_settings,
    load_image_data,
    main,
    plot_sample_grid,
    plot_score_curves,
    run_image_gans,
    score_findings,
    score_table,
)
from gp_core.image_gan import CHECKPOINT_NAME, Evaluation, ImageGanConfig, TensorImages, train_image_gan  # noqa: E402
from gp_core.resnet import ResnetShape  # noqa: E402


def tiny_settings(figure=4, **changes):
    settings = image_settings(figure, "smoke")
    values = dict(nf=4, nf_max=8, z_dim=6, embed_size=4, batch_size=4, iterations=2, eval_every=1, eval_samples=20)
    return dataclasses.replace(settings, **{**values, **changes})


@pytest.fixture
def fake_digits(monkeypatch):
    """Replace the embedded digits and the classifier by random images and a fixed random scorer."""

    def digit_scorer():
        rng = torch.Generator().manual_seed(0)
        images = torch.rand(64, 1, 28, 28, generator=rng) * 2 - 1
        labels = torch.arange(64) % 10
        weights = torch.randn(784, 10, generator=rng)

        def probabilities(batch):
            return torch.softmax(batch.reshape(len(batch), 784) @ weights, dim=1)

        return TensorImages(images, labels), Scorer("test score", probabilities, 1, "A random linear classifier.")

    monkeypatch.setattr(imagenet, "_digit_scorer", digit_scorer)


def write_folder(root: Path, classes=3, per_class=4, size=20):
    for c in range(classes):
        folder = root / f"class{c}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            colour = (40 * c + 10 * i, 100, 200 - 30 * c)
            Image.new("RGB", (size + 4 * i, size), colour).save(folder / f"{i}.png")


# --- settings


@pytest.mark.parametrize("figure", [4, 10])
def test_settings_exist_for_every_scale(figure):
    table = settings_table({s: image_settings(figure, s) for s in SCALES})
    assert "`iterations`" in table
    assert "`lam`" in table


def test_paper_settings_follow_caption_and_mescheder():
    settings = image_settings(4, "paper", data_folder="/data")
    assert settings.methods == FIGURE4_METHODS
    assert (settings.size, settings.channels, settings.nf, settings.nf_max) == (128, 3, 64, 1024)
    assert (settings.z_dim, settings.embed_size, settings.batch_size) == (256, 256, 128)
    assert (settings.lam, settings.lr_g, settings.lr_d, settings.betas) == (10.0, 1e-4, 3e-4, (0.0, 0.99))
    assert (settings.ema_beta, settings.eval_every) == (0.999, 10_000)
    config = settings.config("WGAN-GP", 0, 1000, "cpu")
    assert config.critic_steps == 5
    assert config.shape.n_classes == 1000


def test_quick_settings_are_digits():
    settings = image_settings(4, "quick")
    assert (settings.size, settings.channels, settings.seeds) == (28, 1, 2)
    assert image_settings(10, "quick").methods == ("GAN-0-GP",)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: image_settings(5, "quick"), "unknown figure 5"),
        (lambda: image_settings(4, "huge"), "unknown scale 'huge'"),
        (lambda: dataclasses.replace(image_settings(4, "quick"), methods=("GAN-9",)), "unknown methods"),
        (lambda: dataclasses.replace(image_settings(4, "quick"), seeds=0), "seeds must be a positive integer"),
    ],
)
def test_settings_reject_invalid_values(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_checkpoints_follow_eval_cadence_when_folder_given(tmp_path):
    settings = dataclasses.replace(image_settings(4, "quick"), checkpoint_dir=str(tmp_path))
    assert settings.config("GAN-0-GP", 0, 10, "cpu").checkpoint_every == settings.eval_every
    assert image_settings(4, "quick").config("GAN-0-GP", 0, 10, "cpu").checkpoint_every == 0


# --- data and scorer


def test_paper_without_data_folder_names_parameter():
    with pytest.raises(ValueError, match="data_folder is None"):
        load_image_data(image_settings(4, "paper"))


def test_image_folder_without_inception_weights_names_parameter(tmp_path):
    write_folder(tmp_path)
    settings = dataclasses.replace(tiny_settings(), data_folder=str(tmp_path), size=16, channels=3)
    with pytest.raises(ValueError, match="inception_weights is None"):
        load_image_data(settings)


def test_missing_data_folder_is_reported(tmp_path):
    settings = dataclasses.replace(tiny_settings(), data_folder=str(tmp_path / "missing"), size=16, channels=3)
    with pytest.raises(FileNotFoundError, match="missing"):
        load_image_data(settings)


def test_digits_at_other_size_are_rejected():
    with pytest.raises(ValueError, match="embedded digits are 28 × 28 × 1"):
        load_image_data(dataclasses.replace(tiny_settings(), size=32))


def test_image_folder_trains_with_inception_file(tmp_path):
    write_folder(tmp_path / "data")

    class TinyInception(torch.nn.Module):
        def forward(self, images):
            return images.mean(dim=(2, 3)) @ torch.ones(3, 5)

    weights = tmp_path / "inception.pt2"
    example = (torch.zeros(2, 3, 299, 299),)
    program = torch.export.export(TinyInception().eval(), example, dynamic_shapes={"images": {0: torch.export.Dim("batch")}})
    torch.export.save(program, str(weights))
    settings = dataclasses.replace(
        tiny_settings(), data_folder=str(tmp_path / "data"), inception_weights=str(weights), size=8, channels=3, seeds=1
    )
    data, n_classes, scorer = load_image_data(settings)
    assert n_classes == 3
    assert scorer.name == "Inception score"
    result = run_image_gans(settings, device="cpu")
    assert len(result.records) == 3
    assert all(r.run.iterations_done == 2 for r in result.records)
    assert 1.0 <= result.real_score <= 5.0


# --- runs, tables, figures


def test_figure4_runs_every_method_and_seed(fake_digits, capsys):
    result = run_image_gans(tiny_settings(seeds=2), seed=5, device="cpu")
    assert [(r.method, r.seed) for r in result.records] == [(m, s) for m in FIGURE4_METHODS for s in (5, 6)]
    assert all([e.iteration for e in r.run.evaluations] == [0, 1, 2] for r in result.records)
    assert "WGAN-GP, seed 6: 2 G steps" in capsys.readouterr().out


def test_runs_resume_from_checkpoint_folder(fake_digits, tmp_path, capsys):
    settings = tiny_settings(10, checkpoint_dir=str(tmp_path), seeds=1)
    first = run_image_gans(settings, device="cpu")
    assert (tmp_path / "figure10-smoke-GAN-0-GP-seed0" / CHECKPOINT_NAME).is_file()
    again = run_image_gans(settings, device="cpu")
    assert "resumed from step 2" in capsys.readouterr().out
    assert again.records[0].run.evaluations == first.records[0].run.evaluations


def make_result(scores_by_method, diverged=()):
    """Build an ImageResult whose runs have the given score curves (one list per seed)."""
    shape = ResnetShape(size=8, nf=4, nf_max=8, z_dim=6, n_classes=3, embed_size=4)
    records = []
    for method, curves in scores_by_method.items():
        for seed, curve in enumerate(curves):
            config = ImageGanConfig(method=method, shape=shape, iterations=0, seed=seed)
            data = TensorImages(torch.zeros(4, 1, 8, 8), torch.zeros(4, dtype=torch.long))
            run = train_image_gan(config, data)
            run.evaluations = [Evaluation(10 * i, score, 0.0) for i, score in enumerate(curve)]
            message = "diverged" if (method, seed) in diverged else None
            records.append(ImageRecord(method, seed, run, message))
    settings = dataclasses.replace(tiny_settings(), methods=tuple(scores_by_method), iterations=10 * (len(curve) - 1))
    scorer = Scorer("test score", lambda images: torch.full((len(images), 3), 1 / 3), 1, "A test classifier.")
    return ImageResult(settings, records, scorer, real_score=2.9, n_classes=3)


def test_table_and_findings_count_seeds():
    result = make_result({
        "GAN-0-GP": [[1.0, 2.5], [1.0, 2.0], [1.0, 1.2]],
        "GAN-0-GP-sample": [[1.0, 2.0], [1.0, 2.0], [1.0, 1.5]],
        "WGAN-GP": [[1.0, 1.1], [1.0, 1.1], [1.0, 0.9]],
    })
    table = score_table(result)
    assert "| GAN-0-GP | 1.90 ± 0.66 | 2.50, 2.00, 1.20 |" in table
    assert "| real training images | 2.90 |" in table
    findings = score_findings(result)
    assert "than GAN-0-GP-sample (mean difference +0.07): **holds in 1 of 3 seeds**" in findings  # 2.00 = 2.00 is a tie
    assert "than WGAN-GP (mean difference +0.87): **holds in every seed** (3 of 3)" in findings
    assert "WGAN-GP's score rises from step 0 to step 10 (1.00 to 1.03 on average): **holds in 2 of 3 seeds**" in findings


def test_diverged_run_counts_as_loss_and_is_listed():
    result = make_result({"GAN-0-GP": [[1.0, 2.0], [1.0, 2.0]], "WGAN-GP": [[1.0, 3.0], [1.0, 3.0]]}, diverged={("WGAN-GP", 1)})
    assert "| WGAN-GP | 3.00 (one seed) (1 diverged) | 3.00, diverged |" in score_table(result)
    findings = score_findings(result)
    assert "than WGAN-GP (mean difference -1.00): **holds in 1 of 2 seeds**" in findings
    assert "Diverged: WGAN-GP (seed 1)" in findings


def test_figures_draw(fake_digits):
    settings = tiny_settings(seeds=1)
    result = run_image_gans(settings, device="cpu")
    curves = plot_score_curves(result)
    assert len(curves.axes[0].lines) == 3 * 2 + 1  # per method: one seed and the mean; real images
    grid = plot_sample_grid(result.records[0], settings, result.n_classes, "samples")
    assert grid.axes[0].images[0].get_array().shape == (8 * 28, 8 * 28)
    assert grid.axes[0].get_yticklabels()[2].get_text() == "class 2"


# --- command line and widget


def test_command_line_trains_one_run(fake_digits, tmp_path, capsys):
    record = main(["--figure", "4", "--scale", "smoke", "--method", "WGAN-GP", "--checkpoint-dir", str(tmp_path),
                   "--iterations", "2", "--device", "cpu"])
    assert record.run.iterations_done == 2
    assert (tmp_path / "figure4-smoke-WGAN-GP-seed0" / CHECKPOINT_NAME).is_file()
    assert "WGAN-GP, seed 0: 2 G steps" in capsys.readouterr().out


def test_command_line_requires_checkpoint_dir(capsys):
    with pytest.raises(SystemExit):
        main(["--scale", "smoke"])
    assert "--checkpoint-dir" in capsys.readouterr().err


def test_command_line_paper_without_data_names_parameter(tmp_path):
    with pytest.raises(ValueError, match="data_folder is None"):
        main(["--checkpoint-dir", str(tmp_path)])


def test_widget_reruns_chosen_method(fake_digits):
    from gp_core.widgets import image_controls

    box = image_controls(tiny_settings(), seed=0, device="cpu")
    box.method.value = "GAN-0-GP-sample"
    box.controls.iterations.value = 3
    box.controls.run_button.click()
    assert box.controls.last_error is None
    record = box.controls.last_result
    assert record.method == "GAN-0-GP-sample"
    assert record.run.iterations_done == 3
    assert record.run.config.lam == pytest.approx(10.0)


def test_widget_reports_missing_data_folder(capsys):
    from gp_core.widgets import image_controls

    box = image_controls(image_settings(4, "paper"), seed=0, device="cpu")
    box.controls.run_button.click()
    assert isinstance(box.controls.last_error, ValueError)
    assert "data_folder is None" in str(box.controls.last_error)
    assert box.controls.last_result is None
