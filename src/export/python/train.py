"""Train the exported variant on PyTorch's distributed engine, going on from the lab's run (weights, AdamW moments
and step, EMA weights, learning-rate schedule), and write the result back as a transfusion-lab checkpoint with its
trainer state, which the lab's `restore` opens and `importTorch(checkpoint, runDir)` makes the run's checkpoint.

    torchrun --standalone --nproc_per_node=N --redirects 1 --tee 1 train.py --shards SHARD_DIR --steps 1000

DDP (Li et al. 2020) over gloo, on CPU processes: the model and batches stay on the CPU (GPU placement for nccl is
not written yet, so --backend nccl is refused). Plain `python3 train.py` runs one
process without a process group. N ranks train like one process on the same batches, and only faster:
  - every rank reads every batch of the shards (the lab's exportShards: the lab's own batches, in file order) and
    trains on its slice of the rows (rank r: rows [r B / N, (r + 1) B / N)), so one step is one shard batch
    (times train_config.gradAccumulation) whatever N is;
  - each image's time and noise are drawn from a generator seeded by (--seed, step, micro-batch, the image's index
    in the whole batch), never by rank, so they do not depend on how the rows are split;
  - each rank's loss is its share of the whole batch's loss (its LM and diffusion sums over the whole batch's
    target-token and image counts, objective.py's loss_at), scaled by N because DDP averages gradients: the
    averaged gradient is then the gradient of the whole-batch loss, and the reported loss is the shares summed
    over ranks (all-reduce), the loss the lab would report for that batch.
What is left between N ranks and one is float rounding: the gradient is summed in another order (per-rank partial
sums, then the all-reduce) and matrix products run on other row counts (test/export/distributed.test.ts measures
it).

AdamW, its schedule, the gradient clip and the EMA follow train_config.json (the run's TrainConfig: the lab's
src/train/adamw.ts, lr-schedule.ts, ema.ts, trainer.ts): betas, eps, weight decay on tensors of rank >= 2 only,
learning rate by the lab's step, global-norm clipping, EMA decay ramped by step. state.safetensors (written by the
lab's exportTorch when the run had a trainer) holds the moments, AdamW's step and the EMA in PyTorch's layout.

--fsdp asks for FullyShardedDataParallel (Zhao et al. 2023) instead of DDP and is refused, saying why (fsdp_refusal):
torch 1.13's FSDP runs on CUDA GPUs over nccl only (its first forward raises "FSDP does not support CPU only
execution"), and this script keeps the model and batches on the CPU, where its DDP run is measured.

With Debian's torch 1.13 on Python 3.11, pass `--redirects 1 --tee 1` to torchrun: its default stream settings hit
an enum lookup that fails there (AttributeError in `to_map`).
"""
import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import sys
import time

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

from model import LAB_LAYOUT, TORCH_LAYOUT, TransfusionNet, to_lab_layout
from objective import TransfusionObjective
from safetensors_io import load, save

HERE = os.path.dirname(os.path.abspath(__file__))
FIELDS = ('tokens', 'targets', 'positions', 'image', 'document', 'slots', 'image_first', 'latents')
# The metadata format of state.safetensors (the lab's TORCH_STATE_FORMAT in src/export/torch.ts).
STATE_FORMAT = 'transfusion-lab/torch-trainer-state'
OPTIMIZER_M, OPTIMIZER_V, EMA = 'optimizer.m.', 'optimizer.v.', 'ema.'
MASK64 = (1 << 64) - 1


class Loss(nn.Module):
    """The whole loss inside one forward, so DDP sees every parameter used (the LM head runs after the network)."""

    def __init__(self, net, objective):
        super().__init__()
        self.net = net
        self.objective = objective

    def forward(self, batch, t, noise, lm_count, image_count):
        return self.objective.loss_at(self.net, batch, t, noise, lm_count, image_count)


def shard_paths(shard_dir):
    paths = [os.path.join(shard_dir, n) for n in os.listdir(shard_dir) if n.startswith('shard-') and n.endswith('.safetensors')]
    paths.sort(key=lambda p: int(os.path.basename(p)[len('shard-'):-len('.safetensors')]))
    if not paths:
        raise SystemExit(f"{shard_dir}: no shard-<k>.safetensors (write them with the lab's exportShards)")
    return paths


def batches(shard_dir):
    """Every batch of every shard, shard after shard, round after round; one shard in memory at a time."""
    paths = shard_paths(shard_dir)
    while True:
        for path in paths:
            tensors, _ = load(path)
            for i in sorted({int(name.split('.')[0]) for name in tensors}):
                b = {f: tensors[f'{i}.{f}'] for f in FIELDS}
                yield f'{path} batch {i}', {**{f: b[f].long() for f in FIELDS[:6]}, 'image_first': b['image_first'].bool(), 'latents': b['latents']}


def rank_rows(batch, where, rank, world):
    """This rank's rows [r B / N, (r + 1) B / N) with their images (slot rows renumbered), and those images'
    indices in the whole batch."""
    B = batch['tokens'].shape[0]
    if B < world:
        raise SystemExit(f'{where}: {B} rows for {world} ranks; every rank needs a row (write batches of at least {world} rows)')
    lo, hi = rank * B // world, (rank + 1) * B // world
    rows = batch['slots'][:, 0]
    mine = ((rows >= lo) & (rows < hi)).nonzero().reshape(-1)
    local = {f: batch[f][lo:hi] for f in FIELDS[:5]}
    slots = batch['slots'][mine].clone()
    slots[:, 0] -= lo
    local.update(slots=slots, image_first=batch['image_first'][mine], latents=batch['latents'][mine])
    return local, mine.tolist()


def splitmix64(x):
    """Steele et al. 2014's finaliser: a well-mixed 64-bit value from a counter."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def image_seed(seed, step, micro, index):
    """One seed per (run seed, step, micro-batch, image index in the whole batch): the split across ranks never enters."""
    x = 0
    for part in (seed, step, micro, index):
        x = splitmix64(x ^ (part & MASK64))
    return x & ((1 << 63) - 1)


def draws(objective, local, indices, shape, seed, step, micro):
    """Time and noise of each of this rank's images, each from its own generator."""
    t, noise = [], []
    for k, j in enumerate(indices):
        g = torch.Generator().manual_seed(image_seed(seed, step, micro, j))
        t.extend(objective.sample_times([bool(local['image_first'][k])], g))
        noise.append(torch.randn(shape, generator=g))
    return t, (torch.stack(noise) if noise else None)


def learning_rate(schedule, lr, step):
    """The lab's learningRate (src/train/lr-schedule.ts) at 0-based step `step` for peak rate `lr`."""
    if schedule['kind'] == 'constant':
        return lr
    if schedule['kind'] != 'warmup-cosine':
        raise SystemExit(f"train_config.lrSchedule.kind: got {schedule['kind']!r}; this export knows 'constant', 'warmup-cosine'")
    if step < schedule['warmupSteps']:
        return lr * (step + 1) / schedule['warmupSteps']
    span = max(1, schedule['totalSteps'] - schedule['warmupSteps'])
    progress = min(1, (step - schedule['warmupSteps']) / span)
    floor = lr * schedule['minRatio']
    return floor + 0.5 * (lr - floor) * (1 + math.cos(math.pi * progress))


def ema_decay(train, step):
    """The lab's Ema.decayAt (src/train/ema.ts): min(decay, (1 + step) / (10 + step)) with warmup."""
    return min(train['emaDecay'], (1 + step) / (10 + step)) if train['emaWarmup'] else train['emaDecay']


def refuse(message):
    """Exit 1 with `message` on stderr in one write, its newline included. Under torchrun every rank refuses at once,
    and SystemExit(message) writes the message and its newline separately, so two ranks' lines could run together."""
    sys.stderr.write(message + '\n')
    sys.stderr.flush()
    raise SystemExit(1)


def fsdp_refusal():
    """Why --fsdp cannot train here, as one message. Checked before the process group starts, so every rank stops at
    once with the reason rather than deep inside a forward."""
    try:
        from torch.distributed.fsdp import FullyShardedDataParallel  # noqa: F401
    except Exception as e:  # Debian's torch 1.13 on Python 3.11: a dataclass with a mutable default (ValueError)
        imported = f'torch {torch.__version__} cannot import FullyShardedDataParallel on Python {platform.python_version()} ({type(e).__name__}: {e}); '
    else:
        imported = ''
    if not torch.cuda.is_available():
        where = (f'it needs CUDA GPUs and --backend nccl: torch {torch.__version__} has no CUDA device here, and its FSDP '
                 'refuses CPU-only execution ("FSDP does not support CPU only execution", raised at the first forward)')
    else:
        where = ('it needs the model and batches on the GPUs, and this train.py keeps them on the CPU: its distributed '
                 'path is DDP, measured against one process by test/export/distributed.test.ts')
    return f'--fsdp: {imported}{where}. Leave out --fsdp to train with DDP (gloo on CPUs), which shards the data, not the weights'


def make_optimizer(net, c):
    """AdamW with the lab's settings; decay on tensors of rank >= 2 only (the lab's AdamW.apply, after nanoGPT)."""
    params = [p for p in net.parameters() if p.requires_grad]
    return torch.optim.AdamW([
        {'params': [p for p in params if p.ndim >= 2], 'weight_decay': c['weightDecay']},
        {'params': [p for p in params if p.ndim < 2], 'weight_decay': 0.0},
    ], lr=c['lr'], betas=(c['beta1'], c['beta2']), eps=c['eps'])


def load_optimizer_state(net, optimizer, tensors, optimizer_step):
    """The lab's moments into torch's AdamW. The lab keeps one step for every tensor's bias correction and makes a
    tensor's moments (zeros) at its first update; a tensor without moments gets zeros at the run's step likewise."""
    if optimizer_step == 0:
        return
    for name, p in net.named_parameters():
        m, v = tensors.get(OPTIMIZER_M + name), tensors.get(OPTIMIZER_V + name)
        for key, value in ((OPTIMIZER_M + name, m), (OPTIMIZER_V + name, v)):
            if value is not None and tuple(value.shape) != tuple(p.shape):
                raise SystemExit(f'state.safetensors: {key} is {list(value.shape)}, the parameter is {list(p.shape)} (export with the lab\'s exportTorch)')
        optimizer.state[p] = {
            'step': torch.tensor(float(optimizer_step)),
            'exp_avg': m.clone() if m is not None else torch.zeros_like(p),
            'exp_avg_sq': v.clone() if v is not None else torch.zeros_like(p),
        }


def lab_checkpoint(path, net, config, train, optimizer, ema, trainer, history, passed):
    """The lab's checkpoint format (src/checkpoint/checkpoint.ts): weights, `optimizer.m.` / `optimizer.v.` moments
    and `ema.` weights in its layout under the same names, with train_config, trainer and history, so `restore`
    gives a Trainer that goes on from here. `passed`: the rng and session entries of the lab's checkpoint, kept so
    the lab's TrainingRun.resume reopens it (its data position is the lab's own loader's, untouched by this run)."""
    params = dict(net.named_parameters())
    tensors = to_lab_layout(net, net.state_dict())
    for prefix, group in ((OPTIMIZER_M, 'exp_avg'), (OPTIMIZER_V, 'exp_avg_sq')):
        lab = to_lab_layout(net, {n: optimizer.state[p][group] for n, p in params.items() if optimizer.state.get(p)})
        tensors.update({prefix + n: v for n, v in lab.items()})
    if ema is not None:
        tensors.update({EMA + n: v for n, v in to_lab_layout(net, ema).items()})
    metadata = {
        'format': 'transfusion-lab/checkpoint',
        'format_version': '1',
        'package_version': f'torch {torch.__version__} (train.py)',
        'created': datetime.datetime.now(datetime.timezone.utc).isoformat(),
        'layout': LAB_LAYOUT,
        'config': json.dumps(config),
        'train_config': json.dumps(train),
        'trainer': json.dumps(trainer),
        'history': json.dumps(history),
        'rng': passed.get('rng', json.dumps({'global': None, 'modules': {}, 'named': {}})),
    }
    if 'session' in passed:
        metadata['session'] = passed['session']
    save(path, tensors, metadata)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--shards', required=True, help="folder of shard-<k>.safetensors from the lab's exportShards")
    p.add_argument('--steps', type=int, default=1000, help='optimizer steps to run here')
    p.add_argument('--lr', type=float, default=None, help="peak learning rate (default: train_config.json's optimizer.lr)")
    p.add_argument('--total-steps', type=int, default=None, help='lrSchedule.totalSteps, to stretch a warmup-cosine schedule over a longer run')
    p.add_argument('--seed', type=int, default=0, help='seeds every image\'s time and noise, with the step and the image\'s index')
    p.add_argument('--backend', default='gloo')
    p.add_argument('--fsdp', action='store_true', help='FullyShardedDataParallel instead of DDP: needs CUDA GPUs and nccl, so refused here, saying why')
    p.add_argument('--out', default='checkpoint.safetensors', help='the lab-format checkpoint to write')
    args = p.parse_args()
    if args.steps < 0:
        raise SystemExit(f'--steps: got {args.steps}; expected an integer >= 0')
    if args.fsdp:
        refuse(fsdp_refusal())
    if args.backend != 'gloo':
        # nccl moves only CUDA tensors, and this script keeps every tensor on the CPU: it would fail in the first
        # all-reduce, after the process group is up, rather than here with the reason.
        refuse(f"--backend: got {args.backend!r}; this train.py keeps the model and batches on the CPU, so only 'gloo' works (GPU placement for nccl is not written yet)")

    distributed = 'WORLD_SIZE' in os.environ
    if distributed:
        dist.init_process_group(args.backend)
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)

    with open(os.path.join(HERE, 'config.json')) as f:
        config = json.load(f)
    with open(os.path.join(HERE, 'train_config.json')) as f:
        train = json.load(f)
    if args.lr is not None:
        train['optimizer']['lr'] = args.lr
    if args.total_steps is not None:
        if train['lrSchedule']['kind'] != 'warmup-cosine':
            raise SystemExit(f"--total-steps: train_config.lrSchedule.kind is {train['lrSchedule']['kind']!r}; only 'warmup-cosine' has totalSteps")
        train['lrSchedule']['totalSteps'] = args.total_steps
    weights, meta = load(os.path.join(HERE, 'weights.safetensors'))
    if meta.get('layout') != TORCH_LAYOUT:
        raise SystemExit(f"weights.safetensors: layout {meta.get('layout')!r}, expected {TORCH_LAYOUT!r} (export with the lab's exportTorch)")
    net = TransfusionNet(config['net'])
    net.load_state_dict(weights, strict=True)
    net.train()

    state_path = os.path.join(HERE, 'state.safetensors')
    state, state_meta = load(state_path) if os.path.exists(state_path) else ({}, {})
    if state_meta and (state_meta.get('format') != STATE_FORMAT or state_meta.get('layout') != TORCH_LAYOUT):
        raise SystemExit(f"state.safetensors: format {state_meta.get('format')!r}, layout {state_meta.get('layout')!r}; expected {STATE_FORMAT!r}, {TORCH_LAYOUT!r}")
    trainer = json.loads(state_meta['trainer']) if state_meta else {'step': 0, 'optimizerStep': 0}
    history = json.loads(state_meta['history']) if state_meta else []
    passed = {k: state_meta[k] for k in ('rng', 'session') if k in state_meta}

    optimizer = make_optimizer(net, train['optimizer'])
    load_optimizer_state(net, optimizer, state, trainer['optimizerStep'])
    ema = None
    if train['emaDecay'] > 0:
        # The lab's Ema starts from the weights when the trainer is made; a run exported with one carries it on.
        ema = {n: (state[EMA + n].clone() if EMA + n in state else p.detach().clone()) for n, p in net.named_parameters()}

    objective = TransfusionObjective(config['objective'])
    loss_module = Loss(net, objective)
    # find_unused_parameters: a variant may leave some unused (no timestep path with conditioning 'none'; a rank
    # whose rows hold no image).
    model = DistributedDataParallel(loss_module, find_unused_parameters=True) if distributed else loss_module
    params = [p for p in net.parameters() if p.requires_grad]
    shape = (net.C, net.H, net.W)
    accumulation = train['gradAccumulation']
    data = batches(args.shards)
    for _ in range(args.steps):
        step = trainer['step']
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        reported = torch.zeros(3, dtype=torch.float64)
        tokens = 0
        for micro in range(accumulation):
            where, batch = next(data)
            lm_count = int((batch['targets'] >= 0).sum())
            image_count = batch['slots'].shape[0]
            tokens += batch['tokens'].numel()
            local, indices = rank_rows(batch, where, rank, world)
            t, noise = draws(objective, local, indices, shape, args.seed, step, micro)
            # Accumulated micro-batches need no all-reduce of their own; the last backward reduces the sum.
            defer = distributed and micro < accumulation - 1
            with model.no_sync() if defer else contextlib.nullcontext():
                out = model(local, t, noise, lm_count, image_count)
                (out['total'] * (world / accumulation)).backward()
            reported += torch.stack([out['total'].detach(), out['lm'].detach(), out['diffusion'].detach()]).double() / accumulation
        if distributed:
            dist.all_reduce(reported)
        loss, lm, diffusion = reported.tolist()
        # The norm before clipping, as the lab's StepReport.gradNorm; torch's clip applies the lab's clip / (norm + 1e-6).
        grad_norm = float(nn.utils.clip_grad_norm_(params, train['gradClip'] if train['gradClip'] > 0 else math.inf))
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            raise SystemExit(f'step {step}: non-finite {"loss" if not math.isfinite(loss) else "gradient"} (loss {loss}, lm {lm}, diffusion {diffusion}, '
                             f'gradient norm {grad_norm}); nothing written: lower the learning rate (--lr) or check the shards for NaN')
        lr = learning_rate(train['lrSchedule'], train['optimizer']['lr'], step)
        for group in optimizer.param_groups:
            group['lr'] = lr
        optimizer.step()
        if ema is not None:
            d = ema_decay(train, step)
            with torch.no_grad():
                for n, p in net.named_parameters():
                    ema[n].mul_(d).add_(p.detach() * (1 - d))
        trainer = {'step': step + 1, 'optimizerStep': trainer['optimizerStep'] + 1}
        ms = (time.perf_counter() - started) * 1000
        history.append({'step': step, 'loss': loss, 'breakdown': {'lm': lm, 'diffusion': diffusion}, 'lr': lr, 'gradNorm': grad_norm, 'stepMs': ms, 'tokensPerSec': tokens * 1000 / ms})
        if rank == 0:
            print(f'step {step} loss {loss:.9g} lm {lm:.9g} diffusion {diffusion:.9g} lr {lr:.9g} grad_norm {grad_norm:.9g}', flush=True)
    if rank == 0:
        lab_checkpoint(args.out, net, config, train, optimizer, ema, trainer, history, passed)
        print(f"wrote {args.out} (transfusion-lab layout, step {trainer['step']}, {world} rank{'s' if world > 1 else ''})", flush=True)
    if distributed:
        # Every rank leaves together, after rank 0 has written: a rank that tears its process group down while
        # another still works is where gloo teardown is least predictable.
        dist.barrier()
        dist.destroy_process_group()


if __name__ == '__main__':
    main()
