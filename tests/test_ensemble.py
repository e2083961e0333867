"""The batched ensemble trainer: each member follows train_gan, members never interact."""

import pytest
import torch

from gp_core import data
from gp_core.ensemble import EnsembleMLP, Member, train_gan_ensemble
from gp_core.models import make_discriminator, make_generator
from gp_core.train import TrainConfig, seeded, train_gan


def eight_gaussians(n, rng):
    return data.eight_gaussians(n, rng)


def swiss_roll(n, rng):
    return data.swiss_roll(n, rng)


def config(**changes):
    return TrainConfig(iterations=25, log_every=5, snapshot_at=(0, 25), **changes)


def single_run(member: Member, width: int = 16):
    with seeded(member.config.seed):
        generator_net = make_generator(width=width)
        discriminator = make_discriminator(width=width)
    return train_gan(generator_net, discriminator, member.sample_real, member.config, noise_dim=2, progress=False)


def outputs(model, seed=99):
    z = torch.randn(64, 2, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return model(z)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_every_member_follows_its_single_run(optimizer):
    members = [
        Member(config(penalty="0-GP", seed=0, optimizer=optimizer), eight_gaussians),
        Member(config(penalty="1-GP", seed=1, optimizer=optimizer, lr_g=1e-3), eight_gaussians),
        Member(config(penalty="0-GP-sample", seed=2, optimizer=optimizer, lam=3.0), swiss_roll),
        Member(config(penalty="none", seed=3, optimizer=optimizer), swiss_roll),
    ]
    ensemble = train_gan_ensemble(members, width=16)
    assert ensemble.errors == [None] * 4
    for member, result in zip(members, ensemble.results):
        single = single_run(member)
        assert result.iterations_done == single.iterations_done == 25
        torch.testing.assert_close(outputs(result.generator), outputs(single.generator), rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(outputs(result.discriminator), outputs(single.discriminator), rtol=1e-4, atol=1e-4)
        for key in ("loss_d", "loss_g", "penalty", "grad_norm"):
            assert result.history[key] == pytest.approx(single.history[key], rel=1e-4, abs=1e-6), key
        assert sorted(result.snapshots) == [0, 25]
        torch.testing.assert_close(outputs(result.snapshots[0].generator), outputs(single.snapshots[0].generator))


def test_ensemble_is_deterministic():
    members = [Member(config(penalty="0-GP", seed=s), eight_gaussians) for s in (5, 6)]
    first = train_gan_ensemble(members, width=8)
    second = train_gan_ensemble(members, width=8)
    for a, b in zip(first.results, second.results):
        assert a.history == b.history
        assert torch.equal(outputs(a.generator), outputs(b.generator))


def test_diverging_member_stops_alone():
    healthy = Member(config(penalty="0-GP", seed=0), eight_gaussians, "healthy")
    wild = Member(config(penalty="0-GP", seed=1, lr_d=1e30, lr_g=1e30), eight_gaussians, "wild")
    together = train_gan_ensemble([healthy, wild], width=8)
    alone = train_gan_ensemble([healthy], width=8)

    error = together.errors[1]
    assert together.errors[0] is None
    assert error is not None and "diverged at iteration" in str(error)
    assert error.result is together.results[1]
    assert together.results[1].iterations_done == error.iteration - 1
    assert 0 in together.results[1].snapshots
    assert 25 not in together.results[1].snapshots
    assert torch.isfinite(outputs(together.results[1].generator)).all()  # its weights stayed at the last finite step
    # Batched kernels may round differently for another member count, nothing more.
    for key, values in alone.results[0].history.items():
        assert together.results[0].history[key] == pytest.approx(values, rel=1e-5, abs=1e-7), key


def test_members_must_share_the_computation_shape():
    members = [Member(config(seed=0), eight_gaussians), Member(config(seed=1, batch_size=64), eight_gaussians, "small")]
    with pytest.raises(ValueError, match=r"must share 'batch_size': member 0 has 128, member 1 \(small\) has 64"):
        train_gan_ensemble(members)


def test_empty_ensemble_is_rejected():
    with pytest.raises(ValueError, match="at least one member"):
        train_gan_ensemble([])


def test_stack_and_member_round_trip():
    models = []
    for seed in (0, 1, 2):
        with seeded(seed):
            models.append(make_discriminator(width=8))
    ensemble = EnsembleMLP.stack(models)
    x = torch.randn(3, 10, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        batched = ensemble(x)
        for k, model in enumerate(models):
            torch.testing.assert_close(batched[k], model(x[k]))
            torch.testing.assert_close(ensemble.member(k)(x[k]), model(x[k]))


def test_stack_rejects_mixed_shapes():
    with pytest.raises(ValueError, match="share one MLPConfig"):
        EnsembleMLP.stack([make_discriminator(width=8), make_discriminator(width=16)])


def test_ensemble_needs_a_positive_member_count():
    with pytest.raises(ValueError, match="positive number of members, got 0"):
        EnsembleMLP(make_discriminator(width=8).config, 0)


def test_wrong_sample_shape_names_the_member():
    def flat(n, rng):
        return torch.zeros(n)

    members = [Member(config(seed=0), eight_gaussians), Member(config(seed=1), flat, "flat")]
    with pytest.raises(ValueError, match=r"member 1 \(flat\) draws real samples of shape \(128,\); expected \(128, 2\)"):
        train_gan_ensemble(members, width=8)


def test_stack_needs_a_model():
    with pytest.raises(ValueError, match="at least one model"):
        EnsembleMLP.stack([])
