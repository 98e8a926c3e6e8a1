"""PyTorch's side of `npm run bench` (bench/train.ts): the shared `tiny` yardstick on the CPU at one thread count.

The model and the training step are copied from the lab's shared reference, ../shared/bench/torch_reference.py
(its README, ../shared/bench/README.md, fixes the `tiny` configuration), so that the repository runs the comparison
on its own; the training step's compute is unchanged. What is added here, for issue #17's honest bench:
  - repeats: the timed block (STEPS full steps: forward, backward, AdamW) runs --repeats times after --warmup steps,
    and every repeat's mean ms/step is reported, so the caller can give a median and a spread;
  - sampling: the same network generates --sample-images images with --sample-steps DDIM steps (eta 0) and
    classifier-free guidance, the caption prefix computed once into a KV cache, as the lab's textToImage does
    (src/generate/batch.ts, src/generate/denoise.ts): the conditional rows `[BOS] caption [BOI]` and the
    unconditional rows `[BOS] [BOI]` left-padded to the same length form one batch of 2N rows, and each step runs
    only the 2N images' patches against the cached keys and values;
  - the machine's sgemm rate at this thread count (best of --sgemm-reps float32 torch.mm of --sgemm x --sgemm),
    the denominator of model FLOP utilisation;
  - peak memory: the process's maximum resident set (getrusage) after training and at the end.

Run by bench/train.ts in its own process per thread count (thread pools of different settings never share a
process). Prints one JSON line. Run alone: /usr/bin/python3 bench/torch_reference.py --threads 1.
"""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
parser.add_argument('--threads', type=int, default=1, help='torch.set_num_threads')
parser.add_argument('--steps', type=int, default=5, help='timed training steps per repeat')
parser.add_argument('--repeats', type=int, default=3, help='timed blocks of training steps, and of sampling')
parser.add_argument('--warmup', type=int, default=2, help='untimed training steps first')
parser.add_argument('--sgemm', type=int, default=2048, help='side of the square float32 matmul that measures the machine')
parser.add_argument('--sgemm-reps', type=int, default=5, help='timed sgemm runs; the best is reported')
parser.add_argument('--sample-images', type=int, default=16, help='images per sampling batch (0: no sampling)')
parser.add_argument('--sample-steps', type=int, default=50, help='DDIM steps per image')
parser.add_argument('--guidance', type=float, default=3.0, help='classifier-free guidance scale')
args = parser.parse_args()

cfg = dict(d=256, layers=4, heads=4, ffn=683, vocab=262, latent_c=4, latent_hw=16, patch=2,
           text_len=63, batch=16, T=1000, lam=5.0, steps=args.steps)
torch.manual_seed(0)
threads = args.threads
torch.set_num_threads(threads)
# The lab's specials (src/data/tokenizer.ts): bytes 0-255, then BOS 256, EOS 257, PAD 258, BOI 259, EOI 260.
BOS, PAD, BOI = 256, 258, 259


def peak_rss_mb():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # kilobytes on Linux


class RMSNorm(nn.Module):
    def __init__(s, d): super().__init__(); s.w = nn.Parameter(torch.ones(d))
    def forward(s, x): return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * s.w


def rope(x, pos):  # x [B,H,L,Dh]
    dh = x.shape[-1]; inv = 1.0 / (10000 ** (torch.arange(0, dh, 2).float() / dh))
    ang = pos[:, None].float() * inv[None]; cos, sin = ang.cos(), ang.sin()
    x1, x2 = x[..., ::2], x[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1).flatten(-2)


class Block(nn.Module):
    def __init__(s, d, h, f):
        super().__init__(); s.h = h; s.n1 = RMSNorm(d); s.n2 = RMSNorm(d)
        s.qkv = nn.Linear(d, 3 * d, bias=False); s.o = nn.Linear(d, d, bias=False)
        s.w1 = nn.Linear(d, f, bias=False); s.w3 = nn.Linear(d, f, bias=False); s.w2 = nn.Linear(f, d, bias=False)

    def forward(s, x, mask, pos, past=None):
        """As the shared reference; `past` (keys, values) of earlier positions are read before this block's own.
        Returns the output and this call's keys and values (what a cache appends)."""
        B, L, D = x.shape
        q, k, v = s.qkv(s.n1(x)).view(B, L, 3, s.h, D // s.h).permute(2, 0, 3, 1, 4)
        q, k = rope(q, pos), rope(k, pos)
        fresh = (k, v)
        if past is not None:
            k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(D // s.h)
        att = att.masked_fill(~mask, float('-inf')).softmax(-1)
        x = x + s.o((att @ v).transpose(1, 2).reshape(B, L, D))
        h = s.n2(x)
        return x + s.w2(F.silu(s.w1(h)) * s.w3(h)), fresh


class Transfusion(nn.Module):
    def __init__(s, c):
        super().__init__(); d = c['d']; pd = c['latent_c'] * c['patch'] ** 2
        s.c = c; s.emb = nn.Embedding(c['vocab'], d); s.blocks = nn.ModuleList([Block(d, c['heads'], c['ffn']) for _ in range(c['layers'])])
        s.norm = RMSNorm(d); s.head = nn.Linear(d, c['vocab'], bias=False)
        s.pin = nn.Linear(pd, d); s.pout = nn.Linear(d, pd); s.tmlp = nn.Sequential(nn.Linear(256, d), nn.SiLU(), nn.Linear(d, d))

    def temb(s, t):
        half = 128; f = torch.exp(-math.log(10000) * torch.arange(half) / half)
        a = t[:, None].float() * f[None]; return s.tmlp(torch.cat([a.cos(), a.sin()], -1))

    def forward(s, text, patches, t, mask):
        # sequence: text(text_len) BOI img(P) EOI
        B = text.shape[0]; P = patches.shape[1]
        xt = s.emb(text)                                   # [B, Lt+2, d] (text + BOI + EOI ids)
        xi = s.pin(patches) + s.temb(t)[:, None]           # [B, P, d]
        x = torch.cat([xt[:, :-1], xi, xt[:, -1:]], 1)
        pos = torch.arange(x.shape[1])
        for b in s.blocks: x, _ = b(x, mask, pos)
        x = s.norm(x)
        Lt = text.shape[1] - 1
        logits = s.head(x[:, :Lt])
        eps_hat = s.pout(x[:, Lt:Lt + P])
        return logits, eps_hat

    def prefix(s, tokens, mask):
        """The context before the image, once: every block's keys and values over `tokens` [R, Lp]."""
        x = s.emb(tokens); pos = torch.arange(tokens.shape[1]); cache = []
        for b in s.blocks:
            x, kv = b(x, mask, pos)
            cache.append(kv)
        return cache

    def denoise(s, patches, t, cache, mask):
        """The images' patches [R, P, pd] at times t [R] after the cached prefix -> predicted noise [R, P, pd]."""
        Lp = cache[0][0].shape[2]
        x = s.pin(patches) + s.temb(t)[:, None]
        pos = torch.arange(Lp, Lp + patches.shape[1])
        for b, kv in zip(s.blocks, cache):
            x, _ = b(x, mask, pos, kv)
        return s.pout(s.norm(x))


def patchify(z, p):  # [B,C,H,W] -> [B, (H/p)(W/p), C p p]
    B, C, H, W = z.shape
    return z.view(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5).reshape(B, (H // p) * (W // p), C * p * p)


def unpatchify(x, p, C, H, W):  # the inverse of patchify
    B = x.shape[0]
    return x.view(B, H // p, W // p, C, p, p).permute(0, 3, 1, 4, 2, 5).reshape(B, C, H, W)


def build_mask(Lt, P):
    L = Lt + P + 1; m = torch.tril(torch.ones(L, L, dtype=torch.bool))
    m[Lt:Lt + P, Lt:Lt + P] = True
    return m


c = cfg; model = Transfusion(c); opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
nparams = sum(p.numel() for p in model.parameters())
P = (c['latent_hw'] // c['patch']) ** 2; Lt = c['text_len'] + 1  # text + BOI
mask = build_mask(Lt, P)
s = torch.arange(c['T'] + 1) / c['T']; abar = torch.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2; abar = (abar / abar[0])[1:]


def step():
    text = torch.randint(0, 256, (c['batch'], c['text_len'] + 2)); text[:, -2] = 256; text[:, -1] = 257
    z0 = torch.randn(c['batch'], c['latent_c'], c['latent_hw'], c['latent_hw'])
    t = torch.randint(0, c['T'], (c['batch'],)); eps = torch.randn_like(z0)
    a = abar[t].view(-1, 1, 1, 1); zt = a.sqrt() * z0 + (1 - a).sqrt() * eps
    logits, eps_hat = model(text, patchify(zt, c['patch']), t, mask)
    lm = F.cross_entropy(logits[:, :-1].reshape(-1, c['vocab']), text[:, 1:Lt].reshape(-1))
    diff = F.mse_loss(eps_hat, patchify(eps, c['patch']))
    loss = lm + c['lam'] * diff
    opt.zero_grad(); loss.backward(); opt.step()
    return loss.item()


def sample(n, ddim_steps, scale):
    """n images: captions of Lt - 2 random bytes, `ddim_steps` DDIM steps (eta 0) with classifier-free guidance
    over one KV cache of the 2n prefixes (conditional, then unconditional left-padded with PAD)."""
    tokens = torch.full((2 * n, Lt), PAD, dtype=torch.long)
    tokens[:n, 0] = BOS; tokens[:n, 1:Lt - 1] = torch.randint(0, 256, (n, Lt - 2)); tokens[:, Lt - 1] = BOI
    tokens[n:, Lt - 2] = BOS
    real = tokens != PAD
    # Prefix: causal over real keys (a padding query sees itself, so its row stays finite and is never read).
    eye = torch.eye(Lt, dtype=torch.bool)
    prefix_mask = (torch.tril(torch.ones(Lt, Lt, dtype=torch.bool)) & real[:, None, :]) | eye
    # Image: every real prefix key, and the image's own patches both ways (Transfusion's mask).
    image_mask = torch.cat([real[:, None, :].expand(2 * n, P, Lt), torch.ones(2 * n, P, P, dtype=torch.bool)], 2)
    cache = model.prefix(tokens, prefix_mask[:, None])
    C, HW, p = c['latent_c'], c['latent_hw'], c['patch']
    x = torch.randn(n, C, HW, HW)
    times = torch.linspace(c['T'] - 1, 0, ddim_steps).round().long()
    for k in range(ddim_steps):
        t = times[k]; a = abar[t]; a_prev = abar[times[k + 1]] if k + 1 < ddim_steps else torch.tensor(1.0)
        out = model.denoise(patchify(torch.cat([x, x]), p), t.repeat(2 * n), cache, image_mask[:, None])
        cond, uncond = out[:n], out[n:]
        eps = unpatchify(uncond + scale * (cond - uncond), p, C, HW, HW)
        x0 = (x - (1 - a).sqrt() * eps) / a.sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
    if not torch.isfinite(x).all():
        raise SystemExit('sampling produced non-finite latents')
    return x


def sgemm_gflops(n, reps):
    """Best rate of an n x n x n float32 torch.mm at this thread count, in GFLOP/s (2 n^3 FLOPs per product)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float('inf')
    for _ in range(reps):
        t0 = time.perf_counter(); torch.mm(a, b); best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


for _ in range(args.warmup): step()
step_ms = []
for _ in range(args.repeats):
    t0 = time.perf_counter()
    for _ in range(c['steps']): step()
    step_ms.append(round((time.perf_counter() - t0) / c['steps'] * 1000, 2))
rss_train = peak_rss_mb()

sampling = None
if args.sample_images > 0:
    with torch.inference_mode():
        sample(args.sample_images, 2, args.guidance)  # warm-up: the same shapes, two steps
        ms = []
        for _ in range(args.repeats):
            t0 = time.perf_counter(); sample(args.sample_images, args.sample_steps, args.guidance)
            ms.append(round((time.perf_counter() - t0) * 1000, 1))
    sampling = dict(images=args.sample_images, steps=args.sample_steps, guidance=args.guidance, batch_ms=ms)
rss_end = peak_rss_mb()

L = Lt + P + 1
print(json.dumps(dict(side='pytorch', impl='pytorch-' + torch.__version__, threads=threads, params=nparams, seq=L,
                      batch=c['batch'], steps=c['steps'], step_ms=step_ms,
                      sgemm=dict(n=args.sgemm, gflops=round(sgemm_gflops(args.sgemm, args.sgemm_reps), 2)),
                      peak_rss_train_mb=rss_train, peak_rss_mb=rss_end, sampling=sampling)))
