"""Residual generator and discriminator for images, after Mescheder et al. (2018).

The layout follows the ImageNet networks of Mescheder, Geiger and Nowozin,
"Which Training Methods for GANs do actually Converge?" (ICML 2018), which
Thanh-Tung et al. adapted for their ImageNet experiment:

* a residual block is two 3 × 3 convolutions with leaky ReLU (slope 0.2)
  before each, added to the input (through a 1 × 1 convolution when the
  channel count changes) with weight 0.1;
* G maps z (and, for a conditional model, a normalised class embedding) by a
  linear layer to a ``start × start`` feature map, then alternates blocks with
  nearest-neighbour 2× upsampling, and ends with leaky ReLU, a 3 × 3
  convolution and tanh;
* D mirrors it with 3 × 3 average pooling of stride 2 and ends with a linear
  layer with one output per class (one output when unconditional). A
  conditional D returns the output of the sample's class, so D's logit has
  shape ``(batch, 1)`` either way.

No layer normalises over the batch, so every sample's output depends on that
sample alone, which the gradient penalties require.

Filter counts double per resolution step from ``nf`` at full size up to
``nf_max``. With size 128, nf 64, nf_max 1024 and a 256-dim embedding this is
the ImageNet setting of Mescheder et al.; with size 28 and a few filters it
trains on digits on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ResnetShape", "ResidualBlock", "ResnetGenerator", "ResnetDiscriminator", "start_size"]

MIN_START = 4


def start_size(size: int) -> tuple[int, int]:
    """Return ``(start, steps)`` with ``size == start · 2**steps`` and ``start ≥ 4`` as small as halving allows.

    28 gives (7, 2), 32 gives (4, 3) and 128 gives (4, 5).
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < MIN_START:
        raise ValueError(f"image size must be an integer >= {MIN_START}, got {size!r}")
    start, steps = size, 0
    while start % 2 == 0 and start // 2 >= MIN_START:
        start //= 2
        steps += 1
    return start, steps


@dataclass(frozen=True)
class ResnetShape:
    """Sizes of a residual G and D pair.

    Attributes:
        size: image height and width in pixels.
        channels: image channels, 1 for digits, 3 for colour images.
        nf: filters at full resolution; they double per halving of the size.
        nf_max: the largest filter count.
        z_dim: length of G's Gaussian input.
        n_classes: number of classes; 0 makes both networks unconditional.
        embed_size: length of G's class embedding (ignored when unconditional).
    """

    size: int = 28
    channels: int = 1
    nf: int = 16
    nf_max: int = 64
    z_dim: int = 64
    n_classes: int = 10
    embed_size: int = 32

    def __post_init__(self) -> None:
        start_size(self.size)
        for name in ("channels", "nf", "nf_max", "z_dim", "embed_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ResnetShape.{name} must be a positive integer, got {value!r}")
        if isinstance(self.n_classes, bool) or not isinstance(self.n_classes, int) or self.n_classes < 0:
            raise ValueError(f"ResnetShape.n_classes must be an integer >= 0 (0: unconditional), got {self.n_classes!r}")
        if self.nf_max < self.nf:
            raise ValueError(f"ResnetShape.nf_max ({self.nf_max}) must be >= nf ({self.nf})")

    @property
    def conditional(self) -> bool:
        return self.n_classes > 0

    def filters(self, step: int) -> int:
        """Return the filter count at ``step`` halvings below full resolution."""
        return min(self.nf * 2**step, self.nf_max)


def _leaky(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class ResidualBlock(nn.Module):
    """x + 0.1 · conv(act(conv(act(x)))), with a 1 × 1 convolution on x when the channels change."""

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        hidden = min(channels_in, channels_out)
        self.conv_0 = nn.Conv2d(channels_in, hidden, 3, padding=1)
        self.conv_1 = nn.Conv2d(hidden, channels_out, 3, padding=1)
        self.shortcut = None if channels_in == channels_out else nn.Conv2d(channels_in, channels_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.shortcut is None else self.shortcut(x)
        dx = self.conv_1(_leaky(self.conv_0(_leaky(x))))
        return skip + 0.1 * dx


def _check_labels(labels: torch.Tensor | None, batch: int, shape: ResnetShape) -> None:
    if not shape.conditional:
        if labels is not None:
            raise ValueError("this network is unconditional (n_classes=0); call it without labels")
        return
    if labels is None:
        raise ValueError(f"this network is conditional on {shape.n_classes} classes; pass labels of shape ({batch},)")
    if labels.shape != (batch,):
        raise ValueError(f"labels must have shape ({batch},), got {tuple(labels.shape)}")


class ResnetGenerator(nn.Module):
    """G: z of shape ``(batch, z_dim)`` (and labels ``(batch,)``) to images ``(batch, channels, size, size)`` in [−1, 1]."""

    def __init__(self, shape: ResnetShape) -> None:
        super().__init__()
        self.shape = shape
        self.start, steps = start_size(shape.size)
        self.embedding = nn.Embedding(shape.n_classes, shape.embed_size) if shape.conditional else None
        inputs = shape.z_dim + (shape.embed_size if shape.conditional else 0)
        self.start_filters = shape.filters(steps)
        self.fc = nn.Linear(inputs, self.start_filters * self.start * self.start)
        layers: list[nn.Module] = []
        for step in range(steps, 0, -1):
            layers += [ResidualBlock(shape.filters(step), shape.filters(step - 1)), nn.Upsample(scale_factor=2)]
        layers.append(ResidualBlock(shape.nf, shape.nf))
        self.blocks = nn.Sequential(*layers)
        self.to_image = nn.Conv2d(shape.nf, shape.channels, 3, padding=1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.shape.z_dim:
            raise ValueError(f"z must have shape (batch, {self.shape.z_dim}), got {tuple(z.shape)}")
        _check_labels(labels, z.shape[0], self.shape)
        if self.embedding is not None:
            # Unit-length embeddings keep the class input on the scale of z
            # whatever the embedding weights grow to.
            embedded = F.normalize(self.embedding(labels), dim=1)
            z = torch.cat([z, embedded], dim=1)
        x = self.fc(z).view(-1, self.start_filters, self.start, self.start)
        x = self.blocks(x)
        return torch.tanh(self.to_image(_leaky(x)))


class ResnetDiscriminator(nn.Module):
    """D: images ``(batch, channels, size, size)`` (and labels ``(batch,)``) to logits ``(batch, 1)``."""

    def __init__(self, shape: ResnetShape) -> None:
        super().__init__()
        self.shape = shape
        self.start, steps = start_size(shape.size)
        self.from_image = nn.Conv2d(shape.channels, shape.nf, 3, padding=1)
        layers: list[nn.Module] = [ResidualBlock(shape.nf, shape.nf)]
        for step in range(steps):
            layers += [nn.AvgPool2d(3, stride=2, padding=1), ResidualBlock(shape.filters(step), shape.filters(step + 1))]
        self.blocks = nn.Sequential(*layers)
        self.end_filters = shape.filters(steps)
        self.fc = nn.Linear(self.end_filters * self.start * self.start, max(shape.n_classes, 1))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        expected = (self.shape.channels, self.shape.size, self.shape.size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"images must have shape (batch, {', '.join(map(str, expected))}), got {tuple(x.shape)}")
        _check_labels(labels, x.shape[0], self.shape)
        features = self.blocks(self.from_image(x))
        outputs = self.fc(_leaky(features).flatten(start_dim=1))
        if labels is None:
            return outputs
        return outputs.gather(1, labels.view(-1, 1))
