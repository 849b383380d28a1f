"""Stochastic weight averaging with a cyclical learning rate (Izmailov et al., 2018).

Within each cycle of ``cycle`` epochs the learning rate falls geometrically from
``lr`` to ``lr_min`` (the orderless seed's schedule: 1e-3 -> 1e-6 over 3; the rate
itself is ``mlcap.training.recipe.LrSchedule``'s "swa" schedule); at the end of each
cycle, at its lowest learning rate, the weights join a running average. At the end
of the stage the average replaces the weights and the BatchNorm statistics of the
*trained* parts are recomputed over the training set; a frozen part (a fixed
backbone, or one replaced by cached features that never runs) keeps its own.
"""

from __future__ import annotations

import torch


class WeightAverager:
    def __init__(self, cycle: int):
        self.cycle = cycle
        self.average: dict[str, torch.Tensor] | None = None
        self.count = 0

    def is_cycle_end(self, epoch: int) -> bool:
        return (epoch + 1) % self.cycle == 0

    def end_of_epoch(self, model: torch.nn.Module, epoch: int) -> None:
        if not self.is_cycle_end(epoch):
            return
        current = {k: v.detach().float().cpu().clone() for k, v in model.state_dict().items()
                   if v.is_floating_point()}
        if self.average is None:
            self.average = current
        else:
            for k, v in current.items():
                self.average[k] += (v - self.average[k]) / (self.count + 1)
        self.count += 1

    def state(self) -> dict:
        return {"count": self.count, "average": self.average or {}}

    def load_state(self, state: dict) -> None:
        self.count = int(state.get("count", 0))
        self.average = state.get("average") or None

    @torch.no_grad()
    def apply(self, model: torch.nn.Module, batches) -> None:
        """Load the average into ``model`` and recompute BatchNorm statistics on ``batches``."""
        if self.average is None:
            return
        own = model.state_dict()
        model.load_state_dict({k: v.to(own[k].dtype) for k, v in self.average.items()}, strict=False)
        norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                 and any(p.requires_grad for p in m.parameters())]
        if not norms:
            return
        for m in norms:
            m.reset_running_stats()
            m.momentum = None      # cumulative average over the pass
        was_training = model.training
        model.train()
        for m in model.modules():     # frozen BatchNorm keeps its statistics during the pass
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m not in norms:
                m.eval()
        for batch in batches:
            model.encoder.encode(batch)
        for m in norms:
            m.momentum = 0.1
        model.train(was_training)
