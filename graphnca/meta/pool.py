"""Sample pool (Growing Neural Cellular Automata): grown states persist across meta-steps, so the rule is trained
on states that have already been updated many times and learns to keep good networks good."""
from __future__ import annotations

import torch
from torch import Tensor


class SamplePool:
    """``P`` packed states ``[P, E, 1 + H]`` of one architecture with the loss each last had and the meta-step
    it entered the pool (``born``; the initial fresh states count as born at step 0)."""

    def __init__(self, states: Tensor):
        if states.dim() != 3:
            raise ValueError(f"pool states must be [P, E, 1 + H], got {list(states.shape)}")
        self.states = states.detach().clone()
        self.loss = torch.full((states.shape[0],), float("inf"))
        self.born = torch.zeros(states.shape[0], dtype=torch.long)

    def __len__(self) -> int:
        return self.states.shape[0]

    def sample(self, k: int, generator: torch.Generator | None = None) -> Tensor:
        """``k`` distinct random indices, sorted worst (highest loss) first."""
        if not 0 <= k <= len(self):
            raise ValueError(f"cannot sample {k} of a pool of {len(self)}")
        idx = torch.randperm(len(self), generator=generator)[:k]
        return idx[torch.argsort(self.loss[idx], descending=True, stable=True)]

    def commit(self, idx: Tensor, states: Tensor, loss: Tensor) -> None:
        """Write grown states and their losses back into the pool."""
        if states.shape[1:] != self.states.shape[1:] or states.shape[0] != len(idx) or loss.shape != idx.shape:
            raise ValueError(f"commit of {list(states.shape)} states / {list(loss.shape)} losses does not fit "
                             f"{len(idx)} indices of a pool of {list(self.states.shape)}")
        self.states[idx] = states.detach().to(self.states.device)
        self.loss[idx] = loss.detach().float().cpu()

    def replace(self, idx: Tensor, states: Tensor, loss: Tensor, step: int) -> None:
        """Put newly grown states in slots ``idx``: a commit that also restarts their age."""
        self.commit(idx, states, loss)
        self.born[idx] = step

    def victim(self, rule: str) -> Tensor:
        """The slot (``[1]``) a new state takes: the ``worst`` (highest loss) or the ``oldest`` (earliest born;
        ties: the lowest slot). By loss, a state that starts to drift leaves before the rule must hold it; by
        age, every state lives the same number of meta-steps, drifting or not."""
        if rule == "worst":
            return torch.argmax(self.loss).view(1)
        if rule == "oldest":
            return torch.argmin(self.born).view(1)
        raise ValueError(f"pool replacement must be 'worst' or 'oldest', got {rule!r}")

    def state_dict(self) -> dict:
        return {"states": self.states, "loss": self.loss, "born": self.born}

    def load_state_dict(self, d: dict) -> None:
        if d["states"].shape != self.states.shape:
            raise ValueError(f"pool in checkpoint has shape {list(d['states'].shape)}, expected "
                             f"{list(self.states.shape)}")
        self.states, self.loss = d["states"].clone(), d["loss"].cpu().clone()   # losses stay on the host
        # checkpoints from before ages were kept: every state counts as born at step 0
        self.born = d["born"].cpu().clone() if "born" in d else torch.zeros(len(self), dtype=torch.long)
