"""The people-count curriculum (section 5.1, after Romera-Paredes & Torr and Ren & Zemel).

The model is supervised on at most M people per image. M starts at ``start_people`` (2)
until the epoch loss settles (plateau rule in :class:`~.config.CurriculumConfig`), then
grows by one right after settling and again every ``increase_every`` (2) epochs.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .config import CurriculumConfig


@dataclass
class Curriculum:
    config: CurriculumConfig
    settled_epoch: int | None = None           # last epoch of the warm-up phase
    warmup_losses: list[float] = field(default_factory=list)

    def max_people(self, epoch: int) -> int:
        """M for 0-based ``epoch``."""
        c = self.config
        if self.settled_epoch is None or epoch <= self.settled_epoch:
            m = c.start_people
        else:
            m = c.start_people + 1 + (epoch - self.settled_epoch - 1) // c.increase_every
        return min(m, c.max_people) if c.max_people > 0 else m

    def epoch_values(self, epoch: int) -> dict[str, int]:
        """The engine's hook: M of ``epoch``, logged and given to the loss."""
        return {"max_people": self.max_people(epoch)}

    def has_settled(self) -> bool:
        c, losses = self.config, self.warmup_losses
        if len(losses) >= c.max_warmup_epochs:
            return True
        if len(losses) < max(c.min_epochs, c.plateau_window + 1):
            return False
        before = min(losses[:-c.plateau_window])
        recent = min(losses[-c.plateau_window:])
        return recent > before * (1.0 - c.plateau_rel_tol)

    def end_epoch(self, epoch: int, loss: float) -> None:
        """Record the epoch's mean training loss (same value on every process)."""
        if self.settled_epoch is not None:
            return
        self.warmup_losses.append(float(loss))
        if self.has_settled():
            self.settled_epoch = epoch

    def state_dict(self) -> dict:
        return {"settled_epoch": self.settled_epoch, "warmup_losses": list(self.warmup_losses),
                "config": asdict(self.config)}

    def load_state_dict(self, state: dict) -> None:
        self.settled_epoch = state["settled_epoch"]
        self.warmup_losses = list(state["warmup_losses"])
