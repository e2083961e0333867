"""GAN and WGAN losses, written on D's logits.

With d_real = f(x) and d_fake = f(G(z)) the logits (the critic's outputs for
WGAN) of a batch:

* ``"gan"``: D minimises BCE(σ(d_real), 1) + BCE(σ(d_fake), 0); G minimises
  the non-saturating BCE(σ(d_fake), 1) (Goodfellow et al., 2014).
* ``"wgan"``: the critic minimises −mean d_real + mean d_fake; G minimises
  −mean d_fake (Arjovsky et al., 2017).

BCE on a sigmoid is computed as softplus of the logit, which stays finite
where σ saturates. Every function takes the mean over ``dim``: over all
entries by default (a scalar), or over the sample dimensions only, e.g.
``dim=(1, 2)`` for an ensemble's ``(members, batch, 1)`` logits, which gives
one loss per member.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

import torch
import torch.nn.functional as F

__all__ = ["Loss", "LOSSES", "get_loss"]

LossFn = Callable[..., torch.Tensor]


Dims = Union[int, tuple[int, ...], None]


def _mean(values: torch.Tensor, dim: Dims) -> torch.Tensor:
    return values.mean() if dim is None else values.mean(dim)


def _gan_discriminator(d_real: torch.Tensor, d_fake: torch.Tensor, dim: Dims = None) -> torch.Tensor:
    # BCE(σ(a), 1) = softplus(−a) and BCE(σ(a), 0) = softplus(a).
    return _mean(F.softplus(-d_real), dim) + _mean(F.softplus(d_fake), dim)


def _gan_generator(d_fake: torch.Tensor, dim: Dims = None) -> torch.Tensor:
    return _mean(F.softplus(-d_fake), dim)


def _wgan_discriminator(d_real: torch.Tensor, d_fake: torch.Tensor, dim: Dims = None) -> torch.Tensor:
    return _mean(d_fake, dim) - _mean(d_real, dim)


def _wgan_generator(d_fake: torch.Tensor, dim: Dims = None) -> torch.Tensor:
    return -_mean(d_fake, dim)


@dataclass(frozen=True)
class Loss:
    """The pair of objectives of one GAN formulation.

    Attributes:
        discriminator: ``(d_real, d_fake, dim=None) -> loss``, minimised by D.
        generator: ``(d_fake, dim=None) -> loss``, minimised by G.
    """

    discriminator: LossFn
    generator: LossFn


LOSSES: dict[str, Loss] = {
    "gan": Loss(_gan_discriminator, _gan_generator),
    "wgan": Loss(_wgan_discriminator, _wgan_generator),
}


def get_loss(name: str) -> Loss:
    """Return the loss pair named ``name`` (``"gan"`` or ``"wgan"``)."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}") from None
