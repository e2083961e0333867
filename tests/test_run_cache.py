"""The run cache: keys, atomic entries, rejected entries, clearing, and its use by the figure runners."""

import dataclasses

import pytest
import torch

from gp_core import run_cache
from gp_core.experiments import figure1_settings, run_figure1_panel
from gp_core.experiments.figure1 import FIGURE1_PANELS
from gp_core.experiments.synthetic import ModelShape, RunSpec, Target, train_specs
from gp_core.train import TrainConfig


@dataclasses.dataclass(frozen=True)
class Settings:
    width: int
    betas: tuple


def test_key_same_for_equal_inputs():
    first = run_cache.run_key("f", settings=Settings(4, (0.5, 0.9)), data=torch.arange(6.0))
    second = run_cache.run_key("f", settings=Settings(4, (0.5, 0.9)), data=torch.arange(6.0))
    assert first == second


@pytest.mark.parametrize(
    "changes",
    [
        {"settings": Settings(5, (0.5, 0.9))},
        {"settings": Settings(4, (0.5, 0.99))},
        {"data": torch.arange(6.0) + 1e-6},
        {"data": torch.arange(6.0).view(2, 3)},
        {"data": torch.arange(6, dtype=torch.float64)},
    ],
)
def test_key_changes_with_any_input(changes):
    inputs = {"settings": Settings(4, (0.5, 0.9)), "data": torch.arange(6.0)}
    assert run_cache.run_key("f", **inputs) != run_cache.run_key("f", **{**inputs, **changes})


def test_key_changes_with_function_and_source(monkeypatch):
    key = run_cache.run_key("f", width=4)
    assert key != run_cache.run_key("g", width=4)
    monkeypatch.setattr(run_cache, "source_digest", lambda: "edited source")
    assert key != run_cache.run_key("f", width=4)


def test_key_rejects_undescribable_value():
    with pytest.raises(TypeError, match="cannot key the run cache on a function"):
        run_cache.run_key("f", callback=lambda: None)


def test_store_and_load_round_trip(run_cache_on):
    key = run_cache.run_key("f", width=4)
    path = run_cache.store("f", key, {"weights": torch.ones(3)})
    assert path.parent == run_cache_on
    assert torch.equal(run_cache.load("f", key)["weights"], torch.ones(3))


def test_load_misses_other_key(run_cache_on):
    run_cache.store("f", run_cache.run_key("f", width=4), 1)
    assert run_cache.load("f", run_cache.run_key("f", width=5)) is None


def test_entry_under_wrong_key_is_ignored(run_cache_on):
    key, other = run_cache.run_key("f", width=4), run_cache.run_key("f", width=5)
    path = run_cache.store("f", other, "other value")
    path.rename(run_cache._path("f", key))
    with pytest.warns(RuntimeWarning, match="whose key does not match"):
        assert run_cache.load("f", key) is None


def test_corrupt_entry_is_ignored(run_cache_on):
    key = run_cache.run_key("f", width=4)
    path = run_cache.store("f", key, 1)
    path.write_bytes(path.read_bytes()[:20])
    with pytest.warns(RuntimeWarning, match="ignoring unreadable run-cache entry"):
        assert run_cache.load("f", key) is None


def test_failed_write_leaves_no_entry(run_cache_on, monkeypatch):
    def broken_save(payload, stream):
        stream.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(run_cache.torch, "save", broken_save)
    key = run_cache.run_key("f", width=4)
    with pytest.warns(RuntimeWarning, match="disk full"):
        assert run_cache.store("f", key, 1) is None
    assert list(run_cache_on.iterdir()) == []


def test_interrupted_write_leaves_no_entry(run_cache_on, monkeypatch):
    def interrupted_save(payload, stream):
        stream.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(run_cache.torch, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        run_cache.store("f", run_cache.run_key("f", width=4), 1)
    assert list(run_cache_on.iterdir()) == []


def test_cached_computes_once(run_cache_on):
    calls = []

    def compute():
        calls.append(1)
        return torch.tensor([2.0])

    first, first_hit = run_cache.cached("f", compute, width=4)
    second, second_hit = run_cache.cached("f", compute, width=4)
    assert (first_hit, second_hit) == (False, True)
    assert torch.equal(first, second)
    assert len(calls) == 1


def test_cache_off_stores_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("GP_CORE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("GP_CORE_RUN_CACHE", "off")
    key = run_cache.run_key("f", width=4)
    assert run_cache.store("f", key, 1) is None
    assert run_cache.load("f", key) is None
    assert not (tmp_path / "runs").exists()


def test_clear_deletes_entries_and_temporary_files(run_cache_on, capsys):
    run_cache.store("f", run_cache.run_key("f", width=4), 1)
    run_cache.store("g", run_cache.run_key("g", width=4), 2)
    (run_cache_on / "f-x.run.pt.123.tmp").write_bytes(b"partial")
    (run_cache_on / "notes.txt").write_text("kept")
    assert run_cache.main(["info"]) == 0
    assert "2 entries" in capsys.readouterr().out
    assert run_cache.main(["clear"]) == 0
    assert "Deleted 3 files" in capsys.readouterr().out
    assert [p.name for p in run_cache_on.iterdir()] == ["notes.txt"]


def test_clear_without_folder(run_cache_on):
    assert run_cache.clear() == (0, 0)


# --- the runners


def tiny_specs():
    config = TrainConfig(penalty="0-GP", lam=1.0, iterations=5, batch_size=8, snapshot_at=(5,))
    target = Target("8gaussians", 10.0)
    return [RunSpec("0-GP", config, target), RunSpec("none", config.replace(penalty="none"), target)]


def test_train_specs_loads_second_call(run_cache_on, capsys, monkeypatch):
    first = train_specs(tiny_specs(), [0, 1], ModelShape(8))
    assert "loaded from the run cache" not in capsys.readouterr().out

    def no_training(*args, **kwargs):
        raise AssertionError("trained although every run is cached")

    monkeypatch.setattr("gp_core.experiments.synthetic.train_gan_ensemble", no_training)
    second = train_specs(tiny_specs(), [0, 1], ModelShape(8))
    assert "4 of 4 runs loaded from the run cache" in capsys.readouterr().out
    for (a, _), (b, _) in zip(first, second):
        assert torch.equal(next(a.snapshots[5].generator.parameters()), next(b.snapshots[5].generator.parameters()))


def test_train_specs_trains_only_missing_runs(run_cache_on, capsys):
    train_specs(tiny_specs()[:1], [0], ModelShape(8))
    capsys.readouterr()
    train_specs(tiny_specs(), [0], ModelShape(8))
    output = capsys.readouterr().out
    assert "1 of 2 runs loaded from the run cache" in output
    assert "1 runs at once" in output


def test_figure1_panel_uses_cache(run_cache_on, monkeypatch):
    settings = dataclasses.replace(figure1_settings("smoke"), iterations=3)
    first = run_figure1_panel(settings, FIGURE1_PANELS[0], progress=False)
    monkeypatch.setattr("gp_core.experiments.figure1.train_discriminator", lambda *a, **k: pytest.fail("trained again"))
    second = run_figure1_panel(settings, FIGURE1_PANELS[0], progress=False)
    assert first.mean_error == second.mean_error


def test_image_run_uses_cache(run_cache_on, monkeypatch):
    from gp_core.experiments import imagenet
    from gp_core.image_gan import ImageGanConfig, TensorImages
    from gp_core.resnet import ResnetShape

    shape = ResnetShape(size=8, nf=4, nf_max=8, z_dim=6, n_classes=3, embed_size=4)
    config = ImageGanConfig(method="GAN-0-GP", shape=shape, batch_size=4, iterations=2, eval_every=1, eval_samples=6)
    data = TensorImages(torch.rand(12, 1, 8, 8) * 2 - 1, torch.arange(12) % 3)
    scorer = imagenet.Scorer("test score", lambda images: torch.full((len(images), 3), 1 / 3), 1, "Uniform.")
    first = imagenet._train(config, data, scorer, None, False)
    monkeypatch.setattr(imagenet, "train_image_gan", lambda *a, **k: pytest.fail("trained again"))
    second = imagenet._train(config, data, scorer, None, False)
    assert second.run.evaluations == first.run.evaluations
    changed = TensorImages(data.images + 0.01, data.labels)
    with pytest.raises(pytest.fail.Exception, match="trained again"):
        imagenet._train(config, changed, scorer, None, False)
