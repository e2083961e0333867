"""Fully connected generator and discriminator of the synthetic and MNIST experiments."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["MLPConfig", "MLP", "make_generator", "make_discriminator", "is_plain_mlp", "ACTIVATIONS"]

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh}


@dataclass(frozen=True)
class MLPConfig:
    """Shape of a multilayer perceptron.

    Attributes:
        in_features: input dimension (2 for the synthetic data, the noise size for G).
        out_features: output dimension (1 for D, the data dimension for G).
        width: units in every hidden layer (64 in Figure 1, 512 in Figure 2).
        depth: number of hidden layers (2 in the synthetic figures of Thanh-Tung et al., 2019).
        activation: hidden nonlinearity, ``"relu"`` or ``"tanh"``.
    """

    in_features: int
    out_features: int
    width: int = 64
    depth: int = 2
    activation: str = "relu"

    def __post_init__(self) -> None:
        for name in ("in_features", "out_features", "width"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"MLP {name} must be a positive integer, got {value!r}")
        if not isinstance(self.depth, int) or self.depth < 0:
            raise ValueError(f"MLP depth must be a non-negative integer, got {self.depth!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {self.activation!r}; choose one of {sorted(ACTIVATIONS)}"
            )


class MLP(nn.Sequential):
    """Linear layers with an activation between them and a linear output.

    The output has no nonlinearity: a discriminator built from it returns
    logits, and the sigmoid is applied by the loss or the penalty that needs
    it. A generator built from it returns data points directly.
    Input ``(batch, in_features)``, output ``(batch, out_features)``.
    """

    def __init__(self, config: MLPConfig):
        layers: list[nn.Module] = []
        size = config.in_features
        for _ in range(config.depth):
            layers += [nn.Linear(size, config.width), ACTIVATIONS[config.activation]()]
            size = config.width
        layers.append(nn.Linear(size, config.out_features))
        super().__init__(*layers)
        self.config = config


def make_generator(
    noise_dim: int = 2, data_dim: int = 2, width: int = 64, depth: int = 2, activation: str = "relu"
) -> MLP:
    """Build G: z of shape ``(batch, noise_dim)`` to samples of shape ``(batch, data_dim)``."""
    return MLP(MLPConfig(noise_dim, data_dim, width, depth, activation))


def make_discriminator(
    data_dim: int = 2, width: int = 64, depth: int = 2, activation: str = "relu"
) -> MLP:
    """Build D: samples of shape ``(batch, data_dim)`` to logits of shape ``(batch, 1)``."""
    return MLP(MLPConfig(data_dim, 1, width, depth, activation))


def is_plain_mlp(module: object, scalar_output: bool = False) -> bool:
    """Return True if ``module`` is an ``MLP`` whose forward pass is exactly its layers' arithmetic.

    Code that writes out an MLP's gradients by hand (``gp_core.mlp_step``
    and the input gradient of ``gp_core.penalties``) checks this first and
    uses autograd for any other module. The check rejects:

    * subclasses of MLP, which may override ``forward``;
    * forward hooks and pre-hooks on the model or a layer, which
      ``spectral_norm`` and ``weight_norm`` add;
    * layers other than Linear and the configured activation, and Linear
      layers whose parameters are not exactly ``weight`` and ``bias``;
    * frozen parameters (``requires_grad=False``), which must get no gradient;
    * with ``scalar_output``, more than one output, as a discriminator has one.
    """
    if type(module) is not MLP or module._forward_hooks or module._forward_pre_hooks:
        return False
    if scalar_output and module.config.out_features != 1:
        return False
    layers = list(module)
    if len(layers) % 2 == 0:
        return False
    activation = ACTIVATIONS[module.config.activation]
    for position, layer in enumerate(layers):
        if type(layer) is not (nn.Linear if position % 2 == 0 else activation):
            return False
        if layer._forward_hooks or layer._forward_pre_hooks:
            return False
        if position % 2 == 0:
            parameters = layer._parameters
            if parameters.keys() != {"weight", "bias"} or not all(
                parameter is not None and parameter.requires_grad for parameter in parameters.values()
            ):
                return False
    return True
