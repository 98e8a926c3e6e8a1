"""Train the exported variant on PyTorch's distributed engine and write the result back as a transfusion-lab
checkpoint (weights transposed back to the lab's layout, same names), which the lab's `restore` opens and which,
placed as runs/<name>/checkpoint.safetensors, `loadRun(dir).restore()` opens.

    torchrun --standalone --nproc_per_node=N train.py --shards SHARD_DIR --steps 1000 --out checkpoint.safetensors

DDP (Li et al. 2020) over gloo, so it runs on CPUs; on GPUs pass --backend nccl. Each rank reads the shards k with
k % world = rank (written by the lab's exportShards: the lab's own batches) and draws its own times and noise; the
gradients are averaged across ranks, so N ranks train like one with N times the batch. Plain `python3 train.py`
runs one process without a process group. With Debian's torch 1.13 on Python 3.11, add `--redirects 1 --tee 1`
to torchrun: its default stream settings hit an enum lookup that fails there (AttributeError in `to_map`).
"""
import argparse
import datetime
import glob
import json
import os

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

from model import LAB_LAYOUT, TORCH_LAYOUT, TransfusionNet, to_lab_layout
from objective import TransfusionObjective
from safetensors_io import load, save

HERE = os.path.dirname(os.path.abspath(__file__))
FIELDS = ('tokens', 'targets', 'positions', 'image', 'document', 'slots', 'image_first', 'latents')


class Loss(nn.Module):
    """The whole loss inside one forward, so DDP sees every parameter used (the LM head runs after the network)."""

    def __init__(self, net, objective):
        super().__init__()
        self.net = net
        self.objective = objective

    def forward(self, batch, t, noise):
        return self.objective.loss_at(self.net, batch, t, noise)


def batches(shard_dir, rank, world):
    """This rank's batches, round after round: shard k belongs to rank k % world."""
    paths = sorted(glob.glob(os.path.join(shard_dir, 'shard-*.safetensors')), key=lambda p: int(p.rsplit('-', 1)[1].split('.')[0]))
    mine = paths[rank::world]
    if not mine:
        raise SystemExit(f'{shard_dir}: {len(paths)} shards for {world} ranks; rank {rank} has none (write at least one shard per rank)')
    while True:
        for path in mine:
            tensors, _ = load(path)
            for i in sorted({int(name.split('.')[0]) for name in tensors}):
                b = {f: tensors[f'{i}.{f}'] for f in FIELDS}
                yield {**{f: b[f].long() for f in FIELDS[:6]}, 'image_first': b['image_first'].bool(), 'latents': b['latents']}


def lab_checkpoint(net, config, path, step):
    """The lab's checkpoint format (src/checkpoint/checkpoint.ts): weights in its layout under the same names;
    no trainer state, so the lab restores it as a plain model."""
    save(path, to_lab_layout(net, net.state_dict()), {
        'format': 'transfusion-lab/checkpoint',
        'format_version': '1',
        'package_version': f'torch {torch.__version__} (train.py)',
        'created': datetime.datetime.now(datetime.timezone.utc).isoformat(),
        'layout': LAB_LAYOUT,
        'config': json.dumps(config),
        'rng': json.dumps({'global': None, 'modules': {}, 'named': {}}),
        'trained_by': json.dumps({'engine': 'torch.distributed', 'steps': step}),
    })


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--shards', required=True, help='folder of shard-<k>.safetensors from the lab\'s exportShards')
    p.add_argument('--steps', type=int, default=1000)
    p.add_argument('--lr', type=float, default=3e-4)
    p.add_argument('--weight-decay', type=float, default=0.0)
    p.add_argument('--clip', type=float, default=1.0, help='global gradient-norm clip (Pascanu et al. 2013); 0 = none')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--backend', default='gloo')
    p.add_argument('--out', default='checkpoint.safetensors', help='the lab-format checkpoint to write')
    args = p.parse_args()

    distributed = 'WORLD_SIZE' in os.environ
    if distributed:
        dist.init_process_group(args.backend)
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)

    with open(os.path.join(HERE, 'config.json')) as f:
        config = json.load(f)
    weights, meta = load(os.path.join(HERE, 'weights.safetensors'))
    if meta.get('layout') != TORCH_LAYOUT:
        raise SystemExit(f"weights.safetensors: layout {meta.get('layout')!r}, expected {TORCH_LAYOUT!r} (export with the lab's exportTorch)")
    torch.manual_seed(args.seed)
    net = TransfusionNet(config['net'])
    net.load_state_dict(weights, strict=True)
    net.train()
    loss_module = Loss(net, TransfusionObjective(config['objective']))
    # find_unused_parameters: a variant may leave some unused (no timestep path with conditioning 'none').
    model = DistributedDataParallel(loss_module, find_unused_parameters=True) if distributed else loss_module
    optimizer = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    # Each rank its own times and noise: the same draws on every rank would waste the extra batches.
    generator = torch.Generator().manual_seed(args.seed * 1009 + rank)
    data = batches(args.shards, rank, world)
    for step in range(1, args.steps + 1):
        batch = next(data)
        t = loss_module.objective.sample_times(batch['image_first'].tolist(), generator)
        noise = torch.randn(batch['latents'].shape, generator=generator)
        out = model(batch, t, noise)
        optimizer.zero_grad(set_to_none=True)
        out['total'].backward()
        if args.clip > 0:
            nn.utils.clip_grad_norm_(net.parameters(), args.clip)
        optimizer.step()
        if rank == 0:
            print(f"step {step} loss {out['total'].item():.4f} lm {out['lm'].item():.4f} diffusion {out['diffusion'].item():.4f}", flush=True)
    if rank == 0:
        lab_checkpoint(net, config, args.out, args.steps)
        print(f'wrote {args.out} (transfusion-lab layout)', flush=True)
    if distributed:
        dist.destroy_process_group()


if __name__ == '__main__':
    main()
