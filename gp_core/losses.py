"""GAN and WGAN losses, written on D's logits.

With d_real = f(x) and d_fake = f(G(z)) the logits (the critic's outputs for
WGAN) of a batch:

* ``"gan"``: D minimises BCE(σ(d_real), 1) + BCE(σ(d_fake), 0); G minimises
  the non-saturating BCE(σ(d_fake), 1) (Goodfellow et al., 2014).
* ``"wgan"``: the critic minimises −mean d_real + mean d_fake; G minimises
  −mean d_fake (Arjovsky et al., 2017).

BCE on a sigmoid is computed as softplus of the logit, which stays finite
where σ saturates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

__all__ = ["Loss", "LOSSES", "get_loss"]

LossFn = Callable[..., torch.Tensor]


def _gan_discriminator(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    # BCE(σ(a), 1) = softplus(−a) and BCE(σ(a), 0) = softplus(a).
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def _gan_generator(d_fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-d_fake).mean()


def _wgan_discriminator(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    return d_fake.mean() - d_real.mean()


def _wgan_generator(d_fake: torch.Tensor) -> torch.Tensor:
    return -d_fake.mean()


@dataclass(frozen=True)
class Loss:
    """The pair of objectives of one GAN formulation.

    Attributes:
        discriminator: ``(d_real, d_fake) -> scalar``, minimised by D.
        generator: ``d_fake -> scalar``, minimised by G.
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
