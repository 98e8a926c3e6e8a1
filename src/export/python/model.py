"""The Transfusion network (Zhou et al. 2024, sec. 3) in PyTorch, mirroring transfusion-lab's blocks module for
module, with the lab's parameter names, so `weights.safetensors` (written by the lab's exportTorch in PyTorch
layout) loads with `load_state_dict(strict=True)`.

One transformer over a sequence in which text tokens are embedded and image latents are cut into patches, encoded
and placed between BOI and EOI; it returns the hidden states and the decoder's prediction for every image. The
network knows nothing of noise schedules: objective.py owns noising, targets and weighting.

Images are NCHW here (PyTorch's convention; the lab is NHWC). A patch vector is still ordered (row in patch,
column in patch, channel), the lab's and DiT's order, so the linear patch weights read the same in both.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# Additive value of a masked-out score: exp(-1e9 - max) is exactly 0 in float32, and it stays finite.
MASKED = -1e9

# The lab's layout and this file's (src/checkpoint/checkpoint.ts CHECKPOINT_LAYOUT; exportTorch's TORCH_LAYOUT).
LAB_LAYOUT = 'tfjs: Linear weight [in, out], Conv2D [kh, kw, in, out]'
TORCH_LAYOUT = 'torch: Linear weight [out, in], Conv2d [out, in, kh, kw]'


class RMSNorm(nn.Module):
    """y = x / sqrt(mean(x^2) + eps) * weight (Zhang & Sennrich 2019, eq. 4), the norm of Llama."""

    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.square().mean(-1, keepdim=True) + self.eps) * self.weight


def inverse_frequencies(width, base):
    """theta_i = base^(-2i / width), i < width / 2 (RoFormer eq. 15), in float64 before one rounding to float32."""
    return torch.tensor([base ** (-2 * i / width) for i in range(width // 2)], dtype=torch.float32)


def rope_angles(positions, head_dim, base):
    """positions [B, L] (1-D) or [B, L, 2] (2-D axial: rows turn the first half of the pairs, columns the second;
    Heo et al. 2024) -> [B, L, Dh/2]."""
    p = positions.float()
    if p.dim() == 2:
        return p[..., None] * inverse_frequencies(head_dim, base)
    if head_dim % 4:
        raise ValueError(f'2-D RoPE: head width {head_dim} must be divisible by 4 (half the pairs per axis)')
    theta = inverse_frequencies(head_dim // 2, base)
    return torch.cat([p[..., 0:1] * theta, p[..., 1:2] * theta], -1)


def apply_rotary(x, angles):
    """x [B, H, L, Dh], angles [B, L, Dh/2] -> [B, H, L, Dh]. Pairs are (x[i], x[i + Dh/2]) ("rotate half", as the
    lab, GPT-NeoX and Hugging Face Llama); RoFormer eq. 34 on each pair."""
    a = angles[:, None]
    cos, sin = a.cos(), a.sin()
    x1, x2 = x.chunk(2, -1)
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)


class Attention(nn.Module):
    """Multi-head attention with RoPE (Vaswani et al. 2017, eq. 1), no biases (Llama), optional QK-norm."""

    def __init__(self, d_model, n_heads, qk_norm, eps, rope_base, attention_dropout):
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.rope_base = rope_base
        self.wq = nn.Linear(d_model, d_model, bias=False)
        self.wk = nn.Linear(d_model, d_model, bias=False)
        self.wv = nn.Linear(d_model, d_model, bias=False)
        self.wo = nn.Linear(d_model, d_model, bias=False)
        self.q_norm = RMSNorm(self.head_dim, eps) if qk_norm else None
        self.k_norm = RMSNorm(self.head_dim, eps) if qk_norm else None
        self.attn_dropout = nn.Dropout(attention_dropout)

    def forward(self, x, angles, mask):
        B, L, D = x.shape
        split = lambda t: t.view(B, L, self.n_heads, self.head_dim).transpose(1, 2)
        q, k, v = split(self.wq(x)), split(self.wk(x)), split(self.wv(x))
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = apply_rotary(q, angles), apply_rotary(k, angles)
        # Scaling q first is the lab's order: the same product, so the same rounding.
        scores = (q * (1 / math.sqrt(self.head_dim))) @ k.transpose(-1, -2)
        if mask is not None:
            scores = scores + mask
        probs = self.attn_dropout(scores.softmax(-1))
        return self.wo((probs @ v).transpose(1, 2).reshape(B, L, D))


class SwiGLU(nn.Module):
    """w2(SiLU(w1 x) * w3 x) (Shazeer 2020, eq. 6 without biases, as in Llama)."""

    def __init__(self, d_model, hidden):
        super().__init__()
        self.w1 = nn.Linear(d_model, hidden, bias=False)
        self.w2 = nn.Linear(hidden, d_model, bias=False)
        self.w3 = nn.Linear(d_model, hidden, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class TransformerBlock(nn.Module):
    """Pre-norm residual block: h = x + Attn(RMSNorm(x)); out = h + FFN(RMSNorm(h)) (Llama)."""

    def __init__(self, c):
        super().__init__()
        d = c['dModel']
        self.attn_norm = RMSNorm(d, c['normEps'])
        self.attn = Attention(d, c['nHeads'], c['qkNorm'], c['normEps'], c['ropeBase'], c['attentionDropout'])
        self.ffn_norm = RMSNorm(d, c['normEps'])
        self.ffn = SwiGLU(d, c['ffnHidden'])
        self.attn_residual_dropout = nn.Dropout(c['dropout'])
        self.ffn_residual_dropout = nn.Dropout(c['dropout'])

    def forward(self, x, angles, mask):
        h = x + self.attn_residual_dropout(self.attn(self.attn_norm(x), angles, mask))
        return h + self.ffn_residual_dropout(self.ffn(self.ffn_norm(h)))


class Transformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.layers = nn.ModuleList([TransformerBlock(c) for _ in range(c['nLayers'])])
        self.norm = RMSNorm(c['dModel'], c['normEps'])

    def forward(self, x, positions, mask):
        angles = rope_angles(positions, self.config['dModel'] // self.config['nHeads'], self.config['ropeBase'])
        for layer in self.layers:
            x = layer(x, angles, mask)
        return self.norm(x)


class LMHead(nn.Module):
    """logits = h W^T with W [vocab, D], the lab's LMHead. Not an nn.Linear on purpose: the weight is already in
    nn.Embedding's layout in both frameworks, and every nn.Linear here is one whose weight the lab stores transposed."""

    def __init__(self, d_model, vocab):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(vocab, d_model))

    def forward(self, h):
        return F.linear(h, self.weight)


def timestep_embedding(t, dim, max_period):
    """[B] -> [B, dim]: [cos(t f), sin(t f)], f_i = exp(-ln(max_period) i / half) (ADM `timestep_embedding`)."""
    half = dim // 2
    freqs = torch.tensor([math.exp(-math.log(max_period) * i / half) for i in range(half)], dtype=torch.float32)
    args = t.float().reshape(-1, 1) * freqs[None]
    parts = [args.cos(), args.sin()]
    if dim % 2:
        parts.append(torch.zeros(t.shape[0], 1))
    return torch.cat(parts, 1)


class TimestepMLP(nn.Module):
    """Sinusoid -> Linear -> SiLU -> Linear (DiT `TimestepEmbedder`; `mlp.0`, `mlp.2` are its indices)."""

    def __init__(self, d_model, freq_dim=256, max_period=10000):
        super().__init__()
        self.freq_dim = freq_dim
        self.max_period = max_period
        self.mlp = nn.Sequential(nn.Linear(freq_dim, d_model), nn.SiLU(), nn.Linear(d_model, d_model))

    def forward(self, t):
        return self.mlp(timestep_embedding(t, self.freq_dim, self.max_period))


def patchify(x, k):
    """[B, C, H, W] -> [B, N, k*k*C], patches row-major over the grid, each ordered (row, column, channel)."""
    B, C, H, W = x.shape
    return x.reshape(B, C, H // k, k, W // k, k).permute(0, 2, 4, 3, 5, 1).reshape(B, (H // k) * (W // k), k * k * C)


def unpatchify(tokens, k, H, W, C):
    """[B, N, k*k*C] -> [B, C, H, W], the inverse of `patchify`."""
    B = tokens.shape[0]
    return tokens.reshape(B, H // k, W // k, k, k, C).permute(0, 5, 1, 3, 2, 4).reshape(B, C, H, W)


class LinearPatchEncoder(nn.Module):
    """Paper sec. 3.2: a linear layer per k x k x C patch, plus the timestep embedding added to every patch vector."""

    def __init__(self, config, C, k, d_model):
        super().__init__()
        self.k = k
        self.add_time = config['conditioning'] == 'add'
        self.proj = nn.Linear(k * k * C, d_model)

    def forward(self, latent, temb):
        tokens = self.proj(patchify(latent, self.k))
        return (tokens + temb[:, None] if self.add_time else tokens), []


class LinearPatchDecoder(nn.Module):
    def __init__(self, config, C, k, d_model):
        super().__init__()
        self.k = k
        self.proj = nn.Linear(d_model, k * k * C)

    def forward(self, tokens, temb, skips, shape):
        C, H, W = shape
        return unpatchify(self.proj(tokens), self.k, H, W, C)


def conv(cin, cout, kernel=3, stride=1):
    # padding floor(k / 2): the lab's default, which keeps H, W at stride 1 and halves even sides at stride 2.
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)


class ResBlock(nn.Module):
    """ADM's ResBlock with the timestep as 'add' (DDPM), 'scale-shift' (AdaGN, ADM sec. 3) or 'none'; diffusers'
    `ResnetBlock2D` names, as the lab."""

    def __init__(self, cin, cout, conditioning, temb_dim, groups):
        super().__init__()
        self.conditioning = conditioning
        self.norm1 = nn.GroupNorm(groups, cin, eps=1e-5)
        self.conv1 = conv(cin, cout)
        if conditioning != 'none':
            self.time_emb_proj = nn.Linear(temb_dim, 2 * cout if conditioning == 'scale-shift' else cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=1e-5)
        self.conv2 = conv(cout, cout)
        if cin != cout:
            self.conv_shortcut = conv(cin, cout, kernel=1)

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        emb = self.time_emb_proj(F.silu(temb))[:, :, None, None] if self.conditioning != 'none' else None
        if self.conditioning == 'add':
            h = h + emb
        h = self.norm2(h)
        if self.conditioning == 'scale-shift':
            scale, shift = emb.chunk(2, 1)
            h = h * (scale + 1) + shift
        h = self.conv2(F.silu(h))
        return (self.conv_shortcut(x) if hasattr(self, 'conv_shortcut') else x) + h


class Level(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)


class Upsample(nn.Module):
    """Nearest x2 then a 3x3 conv (ADM `Upsample`, use_conv=True)."""

    def __init__(self, channels):
        super().__init__()
        self.conv = conv(channels, channels)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode='nearest'))


class UNetDown(nn.Module):
    """Level i at resolution H / 2^i: ResBlocks, then a stride-2 conv to the next level. One skip per level."""

    def __init__(self, cin, channels, blocks_per_level, groups, conditioning, temb_dim):
        super().__init__()
        levels = []
        width = cin
        for i, c in enumerate(channels):
            blocks = []
            for _ in range(blocks_per_level):
                blocks.append(ResBlock(width, c, conditioning, temb_dim, groups))
                width = c
            level = Level(blocks)
            if i < len(channels) - 1:
                level.downsample = conv(c, c, stride=2)
            levels.append(level)
        self.levels = nn.ModuleList(levels)

    def forward(self, x, temb):
        skips = []
        for level in self.levels:
            for block in level.blocks:
                x = block(x, temb)
            skips.append(x)
            if hasattr(level, 'downsample'):
                x = level.downsample(x)
        return x, skips


class UNetUp(nn.Module):
    """The mirror of UNetDown, levels L..0; with `skip`, a level's down output joins before its first ResBlock."""

    def __init__(self, cin, channels, blocks_per_level, groups, conditioning, temb_dim, skip):
        super().__init__()
        self.skip = skip
        levels = [None] * len(channels)
        width = cin
        for i in reversed(range(len(channels))):
            c = channels[i]
            blocks = []
            for j in range(blocks_per_level):
                blocks.append(ResBlock(width + (c if j == 0 and skip else 0), c, conditioning, temb_dim, groups))
                width = c
            levels[i] = Level(blocks)
            if i > 0:
                levels[i].upsample = Upsample(c)
        self.levels = nn.ModuleList(levels)

    def forward(self, x, temb, skips):
        for i in reversed(range(len(self.levels))):
            level = self.levels[i]
            if self.skip:
                x = torch.cat([x, skips[i]], 1)
            for block in level.blocks:
                x = block(x, temb)
            if i > 0:
                x = level.upsample(x)
        return x


def unet_channels(config, k):
    """The widths of levels 0..log2 k (the lab's stackOptions)."""
    return list(config['channels'][:round(math.log2(k)) + 1])


class UNetPatchEncoder(nn.Module):
    """Paper sec. 3.2 / Tab 7: conv_in -> U-Net down half to the patch grid -> norm, SiLU -> proj_out per cell."""

    def __init__(self, config, C, k, d_model):
        super().__init__()
        ch = unet_channels(config, k)
        self.skip = config['skip']
        self.conv_in = conv(C, ch[0])
        self.down = UNetDown(ch[0], ch, config['blocksPerLevel'], config['groups'], config['conditioning'], d_model)
        self.norm_out = nn.GroupNorm(config['groups'], ch[-1], eps=1e-5)
        self.proj_out = nn.Linear(ch[-1], d_model)

    def forward(self, latent, temb):
        h, skips = self.down(self.conv_in(latent), temb)
        B, _, gh, gw = h.shape
        cells = F.silu(self.norm_out(h)).permute(0, 2, 3, 1).reshape(B, gh * gw, -1)
        return self.proj_out(cells), (skips if self.skip else [])


class UNetPatchDecoder(nn.Module):
    def __init__(self, config, C, k, d_model):
        super().__init__()
        ch = unet_channels(config, k)
        self.k = k
        self.skip = config['skip']
        self.proj_in = nn.Linear(d_model, ch[-1])
        self.up = UNetUp(ch[-1], ch, config['blocksPerLevel'], config['groups'], config['conditioning'], d_model, config['skip'])
        self.norm_out = nn.GroupNorm(config['groups'], ch[0], eps=1e-5)
        self.conv_out = conv(ch[0], C)

    def forward(self, tokens, temb, skips, shape):
        C, H, W = shape
        B = tokens.shape[0]
        # Token n is grid cell (n div W/k, n mod W/k): the row-major order the encoder flattened in.
        grid = self.proj_in(tokens).reshape(B, H // self.k, W // self.k, -1).permute(0, 3, 1, 2)
        return self.conv_out(F.silu(self.norm_out(self.up(grid, temb, skips if self.skip else []))))


PATCH_PAIRS = {'linear': (LinearPatchEncoder, LinearPatchDecoder), 'unet': (UNetPatchEncoder, UNetPatchDecoder)}
MASK_KINDS = ('transfusion', 'causal', 'full', 'prefix-lm')
IMAGE_POSITIONS = ('sequential', 'shared', '2d')


def known(field, value, allowed):
    if value not in allowed:
        raise ValueError(f"{field}: got {value!r}; this export knows {', '.join(repr(a) for a in allowed)}")
    return value


def attention_mask(config, image, document):
    """Additive [B, 1, L, L]: 0 where query i may attend to key j, MASKED elsewhere. Transfusion's rule (sec. 3)
    is (j <= i) or (i, j in the same image); every kind is and-ed with the document rule, so packed documents
    never see each other (the lab's `and(document, mask)`)."""
    kind = known('net.mask.kind', config['kind'], MASK_KINDS)
    L = image.shape[1]
    q = torch.arange(L).view(1, L, 1)
    k = torch.arange(L).view(1, 1, L)
    causal = k <= q
    if kind == 'transfusion':
        allowed = causal | ((image[:, :, None] >= 0) & (image[:, :, None] == image[:, None, :]))
    elif kind == 'causal':
        allowed = causal
    elif kind == 'full':
        allowed = torch.ones(1, L, L, dtype=torch.bool)
    else:
        allowed = (k < config['prefixLength']) | causal
    allowed = allowed & (document[:, :, None] == document[:, None, :])
    return ((allowed.float() - 1) * -MASKED)[:, None]


PATCH_POSITIONS = ('none', 'sincos-2d', 'learned')


def sincos_2d(grid_h, grid_w, d):
    """DiT's 2-D sine-cosine table [grid_h * grid_w, d], the lab's sincos2d (src/blocks/patch-positions.ts): row
    then column, each D/4 frequencies 1 / 10000^(i / (D/4)), sines then cosines."""
    q = d // 4
    omega = 1.0 / torch.pow(torch.tensor(10000.0, dtype=torch.float64), torch.arange(q, dtype=torch.float64) / q)
    r = torch.arange(grid_h, dtype=torch.float64).repeat_interleave(grid_w)[:, None] * omega
    c = torch.arange(grid_w, dtype=torch.float64).repeat(grid_h)[:, None] * omega
    return torch.cat([r.sin(), r.cos(), c.sin(), c.cos()], -1).float()


class PatchPositionEmbedding(nn.Module):
    """The lab's PatchPositionEmbedding: an absolute [N, D] table added to every image's patches; 'learned' owns
    `weight` (patch_pos.weight in the state dict), 'sincos-2d' is a fixed buffer that is not saved."""

    def __init__(self, kind, grid_h, grid_w, d):
        super().__init__()
        self.kind = kind
        if kind == 'learned':
            self.weight = nn.Parameter(torch.randn(grid_h * grid_w, d) * 0.02)
        else:
            self.register_buffer('table', sincos_2d(grid_h, grid_w, d), persistent=False)

    def forward(self, tokens):
        return tokens + (self.weight if self.kind == 'learned' else self.table)


class TransfusionNet(nn.Module):
    """`config` is the lab's `net` config (config.json's "net"), resolved, so every field is present."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        t = config['transformer']
        d = t['dModel']
        lat = config['latent']
        self.C, self.H, self.W = lat['channels'], lat['height'], lat['width']
        self.k = config['patchSize']
        self.n_patches = (self.H // self.k) * (self.W // self.k)
        known('net.imagePositions', config['imagePositions'], IMAGE_POSITIONS)
        known('net.mask.kind', config['mask']['kind'], MASK_KINDS)
        encoder, decoder = PATCH_PAIRS[known('net.patch.kind', config['patch']['kind'], tuple(PATCH_PAIRS))]
        self.embed = nn.Embedding(config['vocabSize'], d)
        self.transformer = Transformer(t)
        # Tied (Press & Wolf 2017): the head reads embed.weight and owns no tensor, as in the lab's state dict.
        self.head = None if config['tieEmbeddings'] else LMHead(d, config['vocabSize'])
        self.time_embed = TimestepMLP(d)
        self.patch_in = encoder(config['patch'], self.C, self.k, d)
        self.patch_out = decoder(config['patch'], self.C, self.k, d)
        # A config recorded before the field existed means 'none', as the lab reads it.
        kind = known('net.patchPositions', config.get('patchPositions', 'none'), PATCH_POSITIONS)
        self.patch_pos = None if kind == 'none' else PatchPositionEmbedding(kind, self.H // self.k, self.W // self.k, d)

    def rope_positions(self, positions, slots):
        """[B, L] (sequential, shared) or [B, L, 2] (2d: patch (r, c) of an image starting at p is (p + r, p + c),
        text p is (p, p)), the lab's TransfusionNet.ropePositions."""
        scheme = self.config['imagePositions']
        N, grid_w = self.n_patches, self.W // self.k
        pos = positions.clone()
        pos2 = torch.stack([positions, positions], -1) if scheme == '2d' else None
        j = torch.arange(N)
        for row, start in slots.tolist():
            p0 = positions[row, start]
            if scheme == 'shared':
                pos[row, start:start + N] = p0
            if pos2 is not None:
                pos2[row, start:start + N, 0] = p0 + j // grid_w
                pos2[row, start:start + N, 1] = p0 + j % grid_w
        return pos2 if pos2 is not None else pos

    def forward(self, tokens, positions, image, document, slots, latents=None, t=None):
        """tokens, positions, image (image index per position, -1 text), document [B, L] int; slots [S, 2]
        (row, first patch position); latents [S, C, H, W] noisy x_t; t [S] in [0, 1] (embedded as t * 1000, the
        DDPM step scale). -> hidden [B, L, D], prediction [S, C, H, W] or None."""
        B, L = tokens.shape
        D = self.config['transformer']['dModel']
        N = self.n_patches
        text = self.embed(tokens.long()).reshape(B * L, D)
        S = slots.shape[0]
        temb = self.time_embed(t.float() * 1000) if S else None
        skips = []
        if S:
            patches, skips = self.patch_in(latents, temb)
            if self.patch_pos is not None:
                patches = self.patch_pos(patches.reshape(S, N, D))
            # One row gather from [text rows ; image patches], the lab's assemble, so gradients reach both.
            index = torch.arange(B * L)
            for s, (row, start) in enumerate(slots.tolist()):
                index[row * L + start:row * L + start + N] = B * L + s * N + torch.arange(N)
            x = torch.cat([text, patches.reshape(-1, D)])[index].reshape(B, L, D)
        else:
            x = text.reshape(B, L, D)
        mask = attention_mask(self.config['mask'], image, document)
        hidden = self.transformer(x, self.rope_positions(positions, slots), mask)
        prediction = None
        if S:
            rows = torch.cat([row * L + start + torch.arange(N) for row, start in slots.tolist()])
            prediction = self.patch_out(hidden.reshape(B * L, D)[rows].reshape(S, N, D), temb, skips, (self.C, self.H, self.W))
        return hidden, prediction

    def logits_at(self, hidden, rows):
        """LM logits at rows of the flattened hidden states: [B, L, D], [M] -> [M, V]."""
        h = hidden.reshape(-1, hidden.shape[-1])[rows]
        return F.linear(h, self.embed.weight) if self.head is None else self.head(h)


def to_lab_layout(model, state):
    """A state dict of `model` in the lab's layout: nn.Linear [out, in] -> [in, out], nn.Conv2d [out, in, kh, kw]
    -> [kh, kw, in, out], everything else as it is. Chosen by the module that owns the weight, never by shape:
    square attention projections would pass a shape test either way."""
    kinds = {}
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            kinds[f'{name}.weight'] = 'linear'
        elif isinstance(module, nn.Conv2d):
            kinds[f'{name}.weight'] = 'conv'
    out = {}
    for name, value in state.items():
        kind = kinds.get(name)
        v = value.detach().float()
        out[name] = (v.t() if kind == 'linear' else v.permute(2, 3, 1, 0) if kind == 'conv' else v).contiguous()
    return out
