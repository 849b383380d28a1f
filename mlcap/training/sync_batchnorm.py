"""``--sync-bn``: BatchNorm over the global batch of all ranks (mlcap/training/distributed.py).

On CUDA this is torch's ``SyncBatchNorm``. Torch's has no CPU kernel, so on CPU (gloo) every
BatchNorm becomes a ``GlobalBatchNorm``: in training, the per-channel sums of x (then of (x − mean)²) and
the count are summed over the ranks by the differentiable ``torch.distributed.nn.all_reduce``,
which also carries the gradients of the statistics back to every rank; the normalisation and
the running statistics (unbiased variance, ``momentum``) are then BatchNorm's own. The sums
are taken in float64 and the variance in a second pass over the centred values, so that its
rounding stays below fp32 BatchNorm's own. In one
process, or in eval mode, it is exactly ``F.batch_norm``. The state dict keeps BatchNorm's
names: checkpoints load into the plain model.
"""

from __future__ import annotations

import torch
from torch import nn


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input (got {input.dim()}-D)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from mlcap.training import distributed

        if not (self.training and distributed.active()):
            return super().forward(x)
        import torch.distributed.nn as dist_nn

        dims = [0] + list(range(2, x.dim()))
        C, shape = x.shape[1], [1, x.shape[1]] + [1] * (x.dim() - 2)
        xd = x.double()         # the statistics in float64: as close to F.batch_norm's as fp32 allows
        count = torch.full((1,), xd.numel() / C, dtype=xd.dtype, device=x.device)
        totals = dist_nn.all_reduce(torch.cat([xd.sum(dims), count]))
        n = totals[-1]
        mean = totals[:C] / n
        centred = xd - mean.view(shape)
        var = dist_nn.all_reduce((centred * centred).sum(dims)) / n      # two passes, no cancellation
        y = centred * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            self._update_running_stats(mean.detach(), var.detach(), float(n))
        return y.to(x.dtype)

    def _update_running_stats(self, mean: torch.Tensor, var: torch.Tensor, n: float) -> None:
        with torch.no_grad():
            self.num_batches_tracked.add_(1)
            momentum = (1.0 / float(self.num_batches_tracked)) if self.momentum is None else self.momentum
            unbiased = var * (n / max(n - 1.0, 1.0))
            self.running_mean.mul_(1 - momentum).add_(mean.to(self.running_mean.dtype), alpha=momentum)
            self.running_var.mul_(1 - momentum).add_(unbiased.to(self.running_var.dtype), alpha=momentum)


def convert_batchnorm(model: nn.Module, cuda: bool) -> nn.Module:
    """Every BatchNorm of ``model`` synchronised over the ranks, in place (the weights and
    statistics kept); the model."""
    if cuda:
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for name, child in list(model.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, GlobalBatchNorm):
            setattr(model, name, _global(child))
        else:
            convert_batchnorm(child, cuda)
    return model


def _global(bn: nn.modules.batchnorm._BatchNorm) -> GlobalBatchNorm:
    new = GlobalBatchNorm(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats,
                          device=bn.weight.device if bn.affine else None)
    new.load_state_dict(bn.state_dict())
    new.train(bn.training)
    if bn.affine:
        new.weight.requires_grad_(bn.weight.requires_grad)
        new.bias.requires_grad_(bn.bias.requires_grad)
    return new
