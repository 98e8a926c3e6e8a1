"""The Transfusion objective (Zhou et al. 2024, sec. 3.3, eq. 4): L = L_LM + lambda * L_DDPM over one batch, with
every noise schedule, timestep sampler, prediction target and loss weighting of transfusion-lab (src/schedules/),
written as the lab writes them: schedules are float64 functions of continuous time t in [0, 1], t = 0 clean and
t = 1 pure noise, and x_t = alpha(t) x0 + sigma(t) eps. A kind this file does not know fails naming the field.

L_LM: next-token cross-entropy over text targets (-1 marks none). L_DDPM: one t and noise per image, the network
predicts the chosen target from x_t, the per-image MSE is weighted by w(t) and averaged over images. Noise
limiting (sec. 4.3, Tab 8): images placed before their caption get t <= noiseLimitTMax.
"""
import math
from statistics import NormalDist

import torch
import torch.nn.functional as F

# Central-difference step for d alpha / dt and d sigma / dt (the lab's numeric.ts): O(h^2) error far below float32.
H = 1e-6
# How close t T must be to an integer to count as that grid step (absorbs the rounding of (i + 1) / T).
SNAP = 1e-9
NORMAL = NormalDist()


def known(field, value, allowed):
    if value not in allowed:
        raise ValueError(f"{field}: got {value!r}; this export knows {', '.join(repr(a) for a in allowed)}")
    return value


def sigmoid(x):
    if x >= 0:
        return 1 / (1 + math.exp(-x))
    e = math.exp(x)
    return e / (1 + e)


def logit(p):
    return math.log(p) - math.log1p(-p)


def derivative(f, t):
    lo, hi = max(0.0, t - H), min(1.0, t + H)
    return (f(hi) - f(lo)) / (hi - lo)


class Schedule:
    """A subclass gives alphaBar and 1 - alphaBar (apart, so the small one is never made by cancellation) and a
    family: 'variance-preserving' (alpha^2 + sigma^2 = 1) or 'flow' (alpha + sigma = 1)."""

    family = 'variance-preserving'
    T = None

    def alpha(self, t):
        a = math.sqrt(self.alpha_bar(t))
        return a if self.family == 'variance-preserving' else a / (a + math.sqrt(self.one_minus_alpha_bar(t)))

    def sigma(self, t):
        s = math.sqrt(self.one_minus_alpha_bar(t))
        return s if self.family == 'variance-preserving' else s / (s + math.sqrt(self.alpha_bar(t)))

    def log_snr(self, t):
        return math.log(self.alpha_bar(t)) - math.log(self.one_minus_alpha_bar(t))

    def snr(self, t):
        return self.alpha_bar(t) / self.one_minus_alpha_bar(t)

    def d_alpha(self, t):
        return derivative(self.alpha, t)

    def d_sigma(self, t):
        return derivative(self.sigma, t)


class GridSchedule(Schedule):
    """DDPM's step i (0-based) is t = (i + 1) / T; between grid points log alphaBar is linear in t."""

    def __init__(self, grid):
        self.grid = list(grid)
        self.T = len(self.grid)
        self.log_grid = [math.log(a) if a > 0 else -math.inf for a in self.grid]

    def position(self, t):
        u = t * self.T - 1
        nearest = round(u)
        return nearest if abs(u - nearest) < SNAP else u

    def segment(self, u):
        i = math.floor(u)
        return (0.0 if i < 0 else self.log_grid[i]), self.log_grid[i + 1], u - i

    def alpha_bar(self, t):
        u = self.position(t)
        if isinstance(u, int):
            return 1.0 if u < 0 else self.grid[u]
        left, right, w = self.segment(u)
        if right == -math.inf:
            return (1 - w) * math.exp(left)
        return math.exp(left + w * (right - left))

    def one_minus_alpha_bar(self, t):
        u = self.position(t)
        if isinstance(u, int):
            return 0.0 if u < 0 else -math.expm1(self.log_grid[u])
        left, right, w = self.segment(u)
        if right == -math.inf:
            return 1 - (1 - w) * math.exp(left)
        return -math.expm1(left + w * (right - left))


def cumprod_one_minus(betas):
    out, product = [], 1.0
    for b in betas:
        product *= 1 - b
        out.append(product)
    return out


def linspace(start, stop, n):
    step = (stop - start) / (n - 1) if n > 1 else 0
    out = [start + i * step for i in range(n)]
    if n > 1:
        out[-1] = stop
    return out


def cosine_grid(c):
    """Nichol & Dhariwal 2021, eq. 17, with improved-diffusion's clipping of each beta at maxBeta."""
    f = lambda u: math.cos(((u + c['s']) / (1 + c['s'])) * (math.pi / 2)) ** 2
    T = c['T']
    return cumprod_one_minus([min(1 - f((i + 1) / T) / f(i / T), c['maxBeta']) for i in range(T)])


class SigmoidSchedule(Schedule):
    """Jabri et al. 2023; Chen 2023, Alg. 1: alphaBar from a window of the logistic curve, floored at clipMin."""

    def __init__(self, c):
        self.c = c
        self.v_start = sigmoid(c['start'] / c['tau'])
        self.v_end = sigmoid(c['end'] / c['tau'])

    def v(self, t):
        c = self.c
        return sigmoid((t * (c['end'] - c['start']) + c['start']) / c['tau'])

    def alpha_bar(self, t):
        return max(self.c['clipMin'], (self.v_end - self.v(t)) / (self.v_end - self.v_start))

    def one_minus_alpha_bar(self, t):
        return min(1 - self.c['clipMin'], (self.v(t) - self.v_start) / (self.v_end - self.v_start))


class FlowSchedule(Schedule):
    """Rectified flow (Liu et al. 2023; SD3 eq. 3): x_t = (1 - t) x0 + t eps, exact alpha, sigma and rates."""

    family = 'flow'

    def alpha_bar(self, t):
        return (1 - t) ** 2 / ((1 - t) ** 2 + t * t)

    def one_minus_alpha_bar(self, t):
        return t * t / ((1 - t) ** 2 + t * t)

    def alpha(self, t):
        return 1 - t

    def sigma(self, t):
        return t

    def d_alpha(self, t):
        return -1.0

    def d_sigma(self, t):
        return 1.0


class ShiftedSchedule(Schedule):
    """logSnr'(t) = logSnr(t) - 2 log(shift) (Hoogeboom et al. 2023, sec. 3.1; SD3 eq. 23), the base's family."""

    def __init__(self, c, base):
        self.base = base
        self.offset = -2 * math.log(c['shift'])
        self.family = base.family
        self.T = base.T

    def alpha_bar(self, t):
        return sigmoid(self.base.log_snr(t) + self.offset)

    def one_minus_alpha_bar(self, t):
        return sigmoid(-(self.base.log_snr(t) + self.offset))


class ContinuousZeroTerminalSnr(Schedule):
    def __init__(self, base):
        self.base = base
        self.family = base.family
        self.last = math.sqrt(base.alpha_bar(1))

    def root(self, t):
        return (math.sqrt(self.base.alpha_bar(t)) - self.last) / (1 - self.last)

    def alpha_bar(self, t):
        return self.root(t) ** 2

    def one_minus_alpha_bar(self, t):
        return 1 - self.root(t) ** 2


def zero_terminal_snr(base):
    """Lin et al. 2024, Alg. 1: sqrt(alphaBar) rescaled to 0 at the last step, unchanged at the first; on the base's
    grid when it has one, else in continuous time anchored at t = 0."""
    if base.T is None:
        return ContinuousZeroTerminalSnr(base)
    root = [math.sqrt(base.alpha_bar((i + 1) / base.T)) for i in range(base.T)]
    first, last = root[0], root[-1]
    return GridSchedule([((a - last) * first / (first - last)) ** 2 for a in root])


SCHEDULES = ('linear', 'scaled-linear', 'cosine', 'sigmoid', 'shifted', 'zero-terminal-snr', 'flow')


def make_schedule(c, field='objective.schedule'):
    kind = known(f'{field}.kind', c['kind'], SCHEDULES)
    if kind == 'linear':
        return GridSchedule(cumprod_one_minus(linspace(c['betaStart'], c['betaEnd'], c['T'])))
    if kind == 'scaled-linear':
        return GridSchedule(cumprod_one_minus([b * b for b in linspace(math.sqrt(c['betaStart']), math.sqrt(c['betaEnd']), c['T'])]))
    if kind == 'cosine':
        return GridSchedule(cosine_grid(c))
    if kind == 'sigmoid':
        return SigmoidSchedule(c)
    if kind == 'flow':
        return FlowSchedule()
    base = make_schedule(c['base'], f'{field}.base')
    return ShiftedSchedule(c, base) if kind == 'shifted' else zero_terminal_snr(base)


class TimestepSampler:
    """t in (0, tMax] by inverse-cdf sampling, so noise limiting is the same distribution truncated."""

    def __init__(self, c, field='objective.timesteps'):
        self.kind = known(f'{field}.kind', c['kind'], ('uniform', 'logit-normal', 'discrete-uniform'))
        self.c = c

    def cdf(self, t):
        if self.kind == 'uniform':
            return min(1.0, max(0.0, t))
        if self.kind == 'logit-normal':
            return NORMAL.cdf((logit(t) - self.c['m']) / self.c['s']) if 0 < t < 1 else float(t >= 1)
        T = self.c['T']
        return min(1.0, max(0.0, math.floor(t * T + SNAP) / T))

    def quantile(self, u):
        if self.kind == 'uniform':
            return u
        if self.kind == 'logit-normal':
            return sigmoid(self.c['m'] + self.c['s'] * NORMAL.inv_cdf(u)) if u < 1 else 1.0
        T = self.c['T']
        return max(1, math.ceil(u * T - SNAP)) / T

    def sample(self, n, generator=None, t_max=1.0):
        mass = self.cdf(t_max)
        # u in (0, mass], never 0: t = 0 is the clean data and carries no loss.
        u = 1 - torch.rand(n, generator=generator, dtype=torch.float64)
        return [min(t_max, self.quantile(x * mass)) for x in u.tolist()]


def logit_normal_pdf(t, m, s):
    if not 0 < t < 1:
        return 0.0
    z = (math.log(t) - math.log1p(-t) - m) / s
    return math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi) / (s * t * (1 - t))


def epsilon_factor(target, schedule, t):
    """||eps err||^2 per ||target err||^2 at t with x_t fixed: moves a weighting from the space its paper states
    it in to the target trained (the lab's weighting.ts; Hang et al. 2023's table for min-SNR)."""
    alpha, sigma = schedule.alpha(t), schedule.sigma(t)
    if target == 'epsilon':
        return 1.0
    if target == 'x0':
        return schedule.snr(t)
    if target == 'v':
        return alpha * alpha / (alpha * alpha + sigma * sigma) ** 2
    return (alpha / (alpha * schedule.d_sigma(t) - sigma * schedule.d_alpha(t))) ** 2


class Weighting:
    def __init__(self, c, field='objective.weighting'):
        kind = known(f'{field}.kind', c['kind'], ('constant', 'min-snr', 'p2', 'sd3-lognorm', 'sd3-cosmap'))
        if kind == 'constant':
            self.native, self.w = None, lambda t, s: 1.0
        elif kind == 'min-snr':
            # min(snr, gamma) / snr (Hang et al. 2023, eq. 9), written so SNR 0 gives 1.
            self.native, self.w = 'epsilon', lambda t, s: 1.0 if s.snr(t) <= c['gamma'] else c['gamma'] / s.snr(t)
        elif kind == 'p2':
            # 1 / (k + snr)^gamma (Choi et al. 2022, eq. 8).
            self.native, self.w = 'epsilon', lambda t, s: 1 / (c['k'] + s.snr(t)) ** c['gamma']
        elif kind == 'sd3-lognorm':
            # The logit-normal density as a weight under uniform t (SD3 eq. 19).
            self.native, self.w = 'flow', lambda t, s: logit_normal_pdf(t, c['m'], c['s'])
        else:
            # pi_CosMap(t) = 2 / (pi - 2 pi t + 2 pi t^2) (SD3 eq. 21).
            self.native, self.w = 'flow', lambda t, s: 2 / (math.pi * (1 - 2 * t + 2 * t * t))

    def weight(self, t, schedule, target):
        w = self.w(t, schedule)
        if self.native is None or self.native == target:
            return w
        return w * epsilon_factor(target, schedule, t) / epsilon_factor(self.native, schedule, t)


PREDICTIONS = ('epsilon', 'x0', 'v', 'flow')


def make_target(kind, x0, eps, alpha, sigma, d_alpha, d_sigma):
    """epsilon (Ho et al. 2020); x0; v = alpha eps - sigma x0 (Salimans & Ho 2022); flow = d x_t / dt (Lipman et al.)."""
    if kind == 'epsilon':
        return eps
    if kind == 'x0':
        return x0
    if kind == 'v':
        return alpha * eps - sigma * x0
    return d_alpha * x0 + d_sigma * eps


def column(values):
    """float64 schedule values -> float32 [S, 1, 1, 1], one per image, as the lab's `coefficients`."""
    return torch.tensor(values, dtype=torch.float32).reshape(-1, 1, 1, 1)


class TransfusionObjective:
    """`config` is the lab's `objective` config (config.json's "objective")."""

    def __init__(self, config):
        self.config = config
        self.prediction = known('objective.prediction', config['prediction'], PREDICTIONS)
        self.schedule = make_schedule(config['schedule'])
        self.timesteps = TimestepSampler(config['timesteps'])
        self.weighting = Weighting(config['weighting'])

    def sample_times(self, image_first, generator=None):
        """[S] times, one per image; image-first ones drawn again under the cap when noise limiting is on."""
        t = self.timesteps.sample(len(image_first), generator)
        if self.config['noiseLimit'] and any(image_first):
            limited = self.timesteps.sample(len(image_first), generator, self.config['noiseLimitTMax'])
            t = [lim if first else u for u, lim, first in zip(t, limited, image_first)]
        return t

    def loss(self, net, batch, generator=None):
        """One batch: times and noise drawn here, then `loss_at`."""
        S = batch['slots'].shape[0]
        t = self.sample_times(batch['image_first'].tolist(), generator)
        noise = torch.randn(batch['latents'].shape, generator=generator) if S else None
        return self.loss_at(net, batch, t, noise)

    def loss_at(self, net, batch, t, noise, lm_count=None, image_count=None):
        """batch: tokens, targets, positions, image, document [B, L]; slots [S, 2]; latents [S, C, H, W] clean x0.
        t: S floats in (0, 1]; noise [S, C, H, W]. -> {'total', 'lm', 'diffusion', 'logits', 'prediction'}.

        lm_count, image_count: what the LM and diffusion sums are divided by; by default this batch's own target
        tokens and images (the lab's means). train.py passes the global batch's counts, so that a rank holding a
        slice of the rows returns its share of the global-batch loss, and the ranks' shares add up to it."""
        S = batch['slots'].shape[0]
        s = self.schedule
        x_t = target = t_in = None
        if S:
            x0 = batch['latents']
            alpha, sigma = column([s.alpha(u) for u in t]), column([s.sigma(u) for u in t])
            x_t = alpha * x0 + sigma * noise
            target = make_target(self.prediction, x0, noise, alpha, sigma, column([s.d_alpha(u) for u in t]), column([s.d_sigma(u) for u in t]))
            t_in = torch.tensor(t, dtype=torch.float32)
        hidden, prediction = net(batch['tokens'], batch['positions'], batch['image'], batch['document'], batch['slots'], x_t, t_in)
        targets = batch['targets'].reshape(-1).long()
        rows = (targets >= 0).nonzero().reshape(-1)
        logits = net.logits_at(hidden, rows)
        if lm_count is None:
            lm = F.cross_entropy(logits, targets[rows]) if rows.numel() else hidden.new_zeros(())
        else:
            lm = F.cross_entropy(logits, targets[rows], reduction='sum') / lm_count if rows.numel() else hidden.new_zeros(())
        diffusion = hidden.new_zeros(())
        if S:
            weights = torch.tensor([self.weighting.weight(u, s, self.prediction) for u in t], dtype=torch.float32)
            weighted = (prediction - target).square().mean((1, 2, 3)) * weights
            diffusion = weighted.mean() if image_count is None else weighted.sum() / image_count
        total = lm + diffusion * self.config['lambda']
        return {'total': total, 'lm': lm, 'diffusion': diffusion, 'logits': logits, 'prediction': prediction}
