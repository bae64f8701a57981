"""Run by tests/meta/test_distributed.py, under torchrun (2 ranks) or as one plain process."""
import sys
from pathlib import Path

import torch

from graphnca.meta import distributed as ddp
from graphnca.graph import WeightGraph
from graphnca.grow import fresh_states
from graphnca.meta.trainer import Config, MetaTrainer, TaskConfig, TrainConfig

ARCH, PER_RANK = (4, 5, 3), 3


def config(batch: int, pool: int = 0, steps: int = 1) -> Config:
    return Config(task=TaskConfig(archs=(ARCH,)),
                  train=TrainConfig(steps=steps, batch_per_arch=batch, pool_size=pool, pool_fresh=1,
                                    schedule="fixed:3", eval_every=0, checkpoint_every=1, warmup=1))


def main(mode: str, out: str, world: int) -> None:
    if mode == "step":   # one meta-step on a fixed set of 2 * PER_RANK start states, split over the ranks
        tr = MetaTrainer(config(PER_RANK * 2 // world), out)
        graph = WeightGraph.from_sizes(ARCH)
        every = fresh_states(graph, 2 * PER_RANK, tr.cfg.rule.hidden_size, tr.cfg.init,
                             torch.Generator().manual_seed(7))
        mine = every.chunk(world)[tr.rank]
        tr.meta_step(initial=(mine.reshape(-1, mine.shape[-1]), [None]))
        if tr.rank == 0:
            torch.save([p.detach() for p in tr.conv.parameters()], Path(out) / f"params_{world}.pt")
    elif mode == "train":
        MetaTrainer(config(PER_RANK, pool=4, steps=2), out).run(progress=False)
    elif mode == "fail":
        tr = MetaTrainer(config(PER_RANK), out)
        if tr.rank == 1:
            raise RuntimeError("rank 1 failed on purpose")
        tr.meta_step()   # rank 0 waits in a collective for rank 1, which is gone: torchrun must end the job


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
    ddp.cleanup()
