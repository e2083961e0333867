"""Train a tiny image GAN under torchrun and save each process's weights.

Run by test_image_gan.py as
``python -m torch.distributed.run --standalone --nproc_per_node 2 ddp_worker.py OUT METHOD``.
"""

import sys
from pathlib import Path

import torch
import torch.distributed as dist

from gp_core.image_gan import ImageGanConfig, TensorImages, train_image_gan
from gp_core.resnet import ResnetShape


def tiny_data() -> TensorImages:
    rng = torch.Generator().manual_seed(123)
    images = torch.rand(40, 1, 8, 8, generator=rng) * 2 - 1
    labels = torch.randint(0, 3, (40,), generator=rng)
    return TensorImages(images, labels)


def tiny_config(method: str) -> ImageGanConfig:
    shape = ResnetShape(size=8, channels=1, nf=4, nf_max=8, z_dim=6, n_classes=3, embed_size=4)
    return ImageGanConfig(method=method, shape=shape, batch_size=8, iterations=3, eval_every=0, device="cpu")


def main() -> None:
    out, method = Path(sys.argv[1]), sys.argv[2]
    dist.init_process_group("gloo")
    run = train_image_gan(tiny_config(method), tiny_data())
    state = {
        "generator": run.raw_generator.state_dict(),
        "discriminator": run.discriminator.state_dict(),
        "average": run.generator.state_dict(),
        "losses": run.losses,
    }
    torch.save(state, out / f"rank{dist.get_rank()}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
