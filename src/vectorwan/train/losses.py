"""Loss terms of the training recipe.

``flow_matching_loss`` is Wan's objective (MSE on the velocity). Extra terms (the layer-wise
vector supervision) take the same (prediction, target, batch) arguments and are summed by the
loop with their weights.
"""

from __future__ import annotations

import torch


def flow_matching_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.mse_loss(pred.float(), target.float())
