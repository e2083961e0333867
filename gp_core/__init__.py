"""Models, gradient penalties and trainers for reproducing Thanh-Tung et al. (ICLR 2019).

"Improving Generalization and Stability of Generative Adversarial Networks",
Hoang Thanh-Tung, Truyen Tran and Svetha Venkatesh, arXiv:1902.03984.
"""

from .data import GaussianPair, TARGETS, eight_gaussians, figure1_gaussians, sample_target, swiss_roll, twenty_five_gaussians
from .losses import LOSSES, get_loss
from .models import MLP, MLPConfig, make_discriminator, make_generator
from .penalties import PENALTIES, gradient_penalty
from .train import NonFiniteError, TrainConfig, TrainResult, train_discriminator, train_gan

__version__ = "0.1.0"
