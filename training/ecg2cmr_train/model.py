"""PyTorch reference modules of the model bundle (docs/model-bundle.md is the contract).

Parameter names of these modules ARE the tensor names of the bundle:

    ECGEncoder.state_dict()      -> encoder.*, pool.query, projection.*, heads.<group>.*
    CMRGenerator.state_dict()    -> sax.*, lax.*, prior.*, latent_mean, latent_std
                                    (written with the prefix "generator.")

The Swift engine (Sources/CardiacModels) implements the same arithmetic and is tested against
golden vectors these modules produce (bundle.write_golden), so keep every formula here in step
with the doc.

Typical construction (demo sizes):

    enc = ECGEncoder(leads=12, samples=2500, patch=125, width=128, depth=3, heads=4, mlp_ratio=4,
                     proj_dim=128, head_sizes={"risk": 11, "cm_subtype": 3, "phenotype": 10})
    gen = CMRGenerator(latent=64, cond=128,
                       views={"sax": dict(size=80, base=5, channels=[64, 48, 32, 24, 16]),
                              "lax": dict(size=96, base=6, channels=[64, 48, 32, 24, 16])},
                       prior_hidden=512, prior_layers=4, temb=64)
    sched = DiffusionSchedule(steps=1000, beta_start=1e-4, beta_end=0.02)
    out = enc(x)                                  # x: [B, leads, samples] preprocessed
    z = ddim_sample(gen.prior, sched, out["embedding"], noise, sampling_steps=50)
    z = gen.destandardise(z); frames = gen.decode("sax", z[:, :64], phases)
"""
from __future__ import annotations

import math
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "Attention", "Mlp", "Block", "ViTEncoder1D", "AttentionPool", "ECGEncoder",
    "FrameDecoder", "LatentPrior", "CMRGenerator", "DiffusionSchedule",
    "phase_features", "timestep_embedding", "ddim_timesteps", "ddim_sample",
    "gradcam", "seeded_gaussian",
]


# ----------------------------------------------------------------------------------------------
# ECG encoder


class Attention(nn.Module):
    """Multi-head self-attention, timm layout: qkv output split as [3, heads, W/heads]."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} not divisible by heads {heads}")
        self.heads = heads
        self.head_dim = width // heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, w = x.shape
        qkv = self.qkv(x).reshape(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]                     # [B, heads, T, hd]
        att = (q @ k.transpose(-2, -1)) * self.scale
        att = att.softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, w)
        return self.proj(y)


class Mlp(nn.Module):
    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))                # exact (erf) GELU


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm1 x), then x + mlp(norm2 x)."""

    def __init__(self, width: int, heads: int, mlp_ratio: float = 4.0, eps: float = 1e-6):
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=eps)
        self.attn = Attention(width, heads)
        self.norm2 = nn.LayerNorm(width, eps=eps)
        self.mlp = Mlp(width, int(round(width * mlp_ratio)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViTEncoder1D(nn.Module):
    """Tokens = (lead, time-window) patches; token t = lead*N + p covers samples [p*P, (p+1)*P).

    With `class_token` a learned class token is prepended (token 0; `pos_embed` then has T + 1
    rows, the class position first), as MMCL's timm ViT. `final_norm=False` (MMCL's `mean` and
    `mha` pooling, which normalise the pooled vector with `fc_norm` instead) returns the last
    block's tokens unnormalised.
    """

    def __init__(self, leads: int, samples: int, patch: int, width: int, depth: int, heads: int,
                 mlp_ratio: float = 4.0, eps: float = 1e-6, class_token: bool = False, final_norm: bool = True):
        super().__init__()
        if samples % patch:
            raise ValueError(f"samples {samples} not divisible by patch {patch}")
        self.leads, self.samples, self.patch = leads, samples, patch
        self.prefix_tokens = 1 if class_token else 0
        self.tokens = leads * (samples // patch)
        self.patch_embed = nn.Linear(patch, width)
        if class_token:
            self.cls_token = nn.Parameter(torch.zeros(width))
        self.pos_embed = nn.Parameter(torch.randn(self.tokens + self.prefix_tokens, width) * 0.02)
        self.blocks = nn.ModuleList(Block(width, heads, mlp_ratio, eps) for _ in range(depth))
        self.norm = nn.LayerNorm(width, eps=eps) if final_norm else nn.Identity()

    def tokenize(self, x: torch.Tensor) -> torch.Tensor:
        b, l, s = x.shape
        if l != self.leads or s != self.samples:
            raise ValueError(f"expected input [B, {self.leads}, {self.samples}], got {list(x.shape)}")
        h = self.patch_embed(x.reshape(b, l * (s // self.patch), self.patch))
        if self.prefix_tokens:
            h = torch.cat([self.cls_token.expand(b, 1, -1), h], dim=1)
        return h + self.pos_embed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, L, S] -> final-normed tokens [B, T(+1), W] (unnormalised without a final norm)."""
        h = self.tokenize(x)
        for blk in self.blocks:
            h = blk(h)
        return self.norm(h)


class AttentionPool(nn.Module):
    """a = softmax(h . query / sqrt(W)) over tokens; pooled = sum_t a_t h_t."""

    def __init__(self, width: int):
        super().__init__()
        self.query = nn.Parameter(torch.randn(width) * 0.02)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        a = torch.softmax(h @ self.query / math.sqrt(h.shape[-1]), dim=-1)    # [B, T]
        return (a.unsqueeze(-1) * h).sum(dim=1)


POOLING_MODES = ("attention", "cls", "mean", "mha")


class ECGEncoder(nn.Module):
    """ViT encoder + pooling + CLIP projection + linear head groups.

    Args:
      leads, samples: input shape (preprocessed) [leads, samples].
      patch: patch length in samples (one lead x patch samples per token).
      width, depth, heads, mlp_ratio: transformer size.
      proj_dim: size of the aligned embedding (0 = no projection; embedding = pooled).
      head_sizes: {group name: number of outputs}, in manifest order.
      eps: layer-norm epsilon (manifest `layerNormEps`).
      class_token: prepend a learned class token (MMCL / timm).
      pooling: "attention" (softmax(norm(x)·query) pooling, `pool.query`), "cls" (norm(x)[:, 0]),
        "mean" (fc_norm(mean of the patch tokens)), "mha" (MMCL's attention_pool: an
        nn.MultiheadAttention `pool` with query = mean of the patch tokens, keys = values = the
        patch tokens, then fc_norm). "mean" and "mha" have `encoder.fc_norm` and no `encoder.norm`.
    forward(x) returns {"pooled": [B, W], "embedding": [B, D], "heads": {group: [B, n]}} with raw
    head outputs (logits for sigmoid/softmax heads, standardised values for regression heads).
    """

    def __init__(self, leads: int = 12, samples: int = 2500, patch: int = 125, width: int = 128,
                 depth: int = 3, heads: int = 4, mlp_ratio: float = 4.0, proj_dim: int = 128,
                 head_sizes: Optional[Dict[str, int]] = None, eps: float = 1e-6,
                 class_token: bool = False, pooling: str = "attention"):
        super().__init__()
        if pooling not in POOLING_MODES:
            raise ValueError(f"pooling '{pooling}' is not one of {POOLING_MODES}")
        if pooling == "cls" and not class_token:
            raise ValueError("pooling 'cls' needs a class token")
        self.config = dict(leads=leads, samples=samples, patch=patch, width=width, depth=depth,
                           heads=heads, mlp_ratio=mlp_ratio, proj_dim=proj_dim,
                           head_sizes=dict(head_sizes or {}), eps=eps, class_token=class_token, pooling=pooling)
        self.pooling = pooling
        fc = pooling in ("mean", "mha")
        self.encoder = ViTEncoder1D(leads, samples, patch, width, depth, heads, mlp_ratio, eps,
                                    class_token=class_token, final_norm=not fc)
        if fc:
            self.encoder.fc_norm = nn.LayerNorm(width, eps=eps)
        if pooling == "attention":
            self.pool = AttentionPool(width)
        elif pooling == "mha":
            self.pool = nn.MultiheadAttention(width, heads, batch_first=True)
        self.projection = nn.Linear(width, proj_dim) if proj_dim else None
        self.heads = nn.ModuleDict({name: nn.Linear(width, n) for name, n in (head_sizes or {}).items()})

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(x)
        if self.pooling == "attention":
            return self.pool(h)
        if self.pooling == "cls":
            return h[:, 0]
        patches = h[:, self.encoder.prefix_tokens:]
        q = patches.mean(dim=1, keepdim=True)
        if self.pooling == "mean":
            return self.encoder.fc_norm(q[:, 0])
        y, _ = self.pool(q, patches, patches, need_weights=False)
        return self.encoder.fc_norm(y[:, 0])

    def embed(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.projection(pooled) if self.projection is not None else pooled

    def forward(self, x: torch.Tensor) -> dict:
        p = self.pooled(x)
        return {"pooled": p, "embedding": self.embed(p),
                "heads": {name: head(p) for name, head in self.heads.items()}}


# ----------------------------------------------------------------------------------------------
# Generator


def phase_features(phases: torch.Tensor) -> torch.Tensor:
    """[F] phases in [0, 1) -> [F, 4] = (sin 2πφ, cos 2πφ, sin 4πφ, cos 4πφ), computed in float64."""
    p = phases.to(torch.float64) * (2 * math.pi)
    return torch.stack([p.sin(), p.cos(), (2 * p).sin(), (2 * p).cos()], dim=-1).float()


class FrameDecoder(nn.Module):
    """(latent z [Z], phase φ) -> grey frame [size, size] in [0, 1].

    fc: Linear(Z+4, C0*base*base) -> reshape [C0, base, base] -> SiLU;
    ups.k: nearest 2x upsample -> Conv3x3(C_k -> C_{k+1}, pad 1) -> SiLU;
    out: Conv3x3(C_last -> 1, pad 1) -> sigmoid.   Requires base * 2**(len(channels)-1) == size.
    """

    def __init__(self, latent: int = 64, size: int = 80, base: int = 5,
                 channels: Sequence[int] = (64, 48, 32, 24, 16)):
        super().__init__()
        channels = list(channels)
        if base * 2 ** (len(channels) - 1) != size:
            raise ValueError(f"base {base} * 2^{len(channels) - 1} != size {size}")
        self.latent, self.size, self.base, self.channels = latent, size, base, channels
        self.fc = nn.Linear(latent + 4, channels[0] * base * base)
        self.ups = nn.ModuleList(nn.Conv2d(channels[k], channels[k + 1], 3, padding=1)
                                 for k in range(len(channels) - 1))
        self.out = nn.Conv2d(channels[-1], 1, 3, padding=1)

    def forward(self, z: torch.Tensor, phases: torch.Tensor) -> torch.Tensor:
        """z [B, Z], phases [B] -> [B, size, size]."""
        h = self.fc(torch.cat([z, phase_features(phases).to(z.dtype)], dim=-1))
        h = F.silu(h.reshape(-1, self.channels[0], self.base, self.base))
        for conv in self.ups:
            h = F.silu(conv(F.interpolate(h, scale_factor=2, mode="nearest")))
        return torch.sigmoid(self.out(h))[:, 0]


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """concat(sin(t f_k), cos(t f_k)), f_k = exp(-ln(10000) k / (dim/2)); computed in float64."""
    half = dim // 2
    f = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / half)
    arg = t.to(torch.float64).reshape(-1, 1) * f
    return torch.cat([arg.sin(), arg.cos()], dim=-1).float()


class LatentPrior(nn.Module):
    """ε-predictor MLP: concat(x_t [latent], e [cond], temb [temb]) -> fc0 … fc{layers-1} -> ε̂.

    SiLU between layers, none after the last. `latent` is the full diffusion state (2Z for two views).
    """

    def __init__(self, latent: int = 128, cond: int = 128, hidden: int = 512, layers: int = 4,
                 temb: int = 64):
        super().__init__()
        if layers < 1 or temb % 2:
            raise ValueError("layers >= 1 and an even time embedding are required")
        self.latent, self.cond, self.hidden, self.layers, self.temb = latent, cond, hidden, layers, temb
        dims = [latent + cond + temb] + [hidden] * (layers - 1) + [latent]
        for j in range(layers):
            setattr(self, f"fc{j}", nn.Linear(dims[j], dims[j + 1]))

    def forward(self, x: torch.Tensor, cond: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x [B, latent], cond [B, cond], t [B] (integer timesteps) -> ε̂ [B, latent]."""
        h = torch.cat([x, cond, timestep_embedding(t, self.temb).to(x.dtype)], dim=-1)
        for j in range(self.layers):
            h = getattr(self, f"fc{j}")(h)
            if j < self.layers - 1:
                h = F.silu(h)
        return h


class CMRGenerator(nn.Module):
    """Per-view frame decoders + the latent diffusion prior + latent de-standardisation buffers.

    views: {name: dict(size=, base=, channels=)} in manifest order (["sax", "lax"]).
    The diffusion state is concat over views of the standardised latents (size latent*len(views)).
    """

    def __init__(self, latent: int = 64, cond: int = 128, views: Optional[Dict[str, dict]] = None,
                 prior_hidden: int = 512, prior_layers: int = 4, temb: int = 64):
        super().__init__()
        views = views or {"sax": dict(size=80, base=5, channels=[64, 48, 32, 24, 16]),
                          "lax": dict(size=96, base=6, channels=[64, 48, 32, 24, 16])}
        self.latent = latent
        self.view_names = list(views)
        self.view_specs = {k: dict(v) for k, v in views.items()}
        for name, spec in views.items():
            self.add_module(name, FrameDecoder(latent, spec["size"], spec["base"], spec["channels"]))
        total = latent * len(views)
        self.prior = LatentPrior(total, cond, prior_hidden, prior_layers, temb)
        self.register_buffer("latent_mean", torch.zeros(total))
        self.register_buffer("latent_std", torch.ones(total))

    def decoder(self, view: str) -> FrameDecoder:
        return getattr(self, view)

    def destandardise(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.latent_std + self.latent_mean

    def split(self, z: torch.Tensor) -> Dict[str, torch.Tensor]:
        return {v: z[..., i * self.latent:(i + 1) * self.latent] for i, v in enumerate(self.view_names)}

    def decode(self, view: str, z: torch.Tensor, phases: torch.Tensor) -> torch.Tensor:
        """z [Z] (one subject) and phases [F] -> frames [F, S, S]."""
        zz = z.reshape(1, -1).expand(phases.shape[0], -1)
        return self.decoder(view)(zz, phases)


class DiffusionSchedule:
    """DDPM linear betas; ᾱ_t = Π(1 − β) kept in float64 (both engines do the same)."""

    def __init__(self, steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02):
        self.steps = steps
        self.betas = np.linspace(beta_start, beta_end, steps, dtype=np.float64)
        self.alphas_cumprod = np.cumprod(1.0 - self.betas)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Forward noising for DDPM training: √ᾱ_t x0 + √(1−ᾱ_t) ε."""
        ab = torch.as_tensor(self.alphas_cumprod, dtype=torch.float64)[t].to(x0.dtype).reshape(-1, 1)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def ddim_timesteps(steps: int, sampling_steps: int) -> List[int]:
    """t_i = round(linspace(T−1, 0, S)) with round-half-up, so every engine agrees."""
    if sampling_steps == 1:
        return [steps - 1]
    return [int(math.floor((steps - 1) * (1 - i / (sampling_steps - 1)) + 0.5))
            for i in range(sampling_steps)]


@torch.no_grad()
def ddim_sample(prior: LatentPrior, sched: DiffusionSchedule, cond: torch.Tensor,
                noise: torch.Tensor, sampling_steps: int = 50) -> torch.Tensor:
    """Deterministic DDIM (η = 0) from x_T = noise; returns the standardised latent x_0.
    The guided sampler without guidance (w = 1: one prior call per step, the same arithmetic)."""
    return ddim_sample_guided(prior, sched, cond, noise, sampling_steps, 1.0)


# ----------------------------------------------------------------------------------------------
# Grad-CAM


def _named_module(model: ECGEncoder, layer: str) -> nn.Module:
    mod = dict(model.named_modules()).get(layer)
    if mod is None:
        raise KeyError(f"Grad-CAM layer {layer!r} is not a module of the encoder")
    return mod


def token_cam(model: nn.Module, x, layer: str, head: str, output: int) -> torch.Tensor:
    """ReLU(A·mean_t ∂y/∂A) per token for one ECG batch `x` of size 1 (either encoder's input):
    A = activations of `layer` [T, W], y = raw head output `output` of group `head`."""
    mod = _named_module(model, layer)
    store = {}

    def hook(_m, _inp, out):
        out.retain_grad()
        store["a"] = out

    handle = mod.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            out = model(x)
            y = out["heads"][head][0, output]
            model.zero_grad(set_to_none=True)
            y.backward()
    finally:
        handle.remove()
    skip = getattr(getattr(model, "encoder", None), "prefix_tokens", 0)   # a class token's row is dropped
    a = store["a"][0, skip:].detach()                # [T, W]
    g = store["a"].grad[0, skip:]
    return torch.relu(a @ g.mean(dim=0))


def gradcam(model: ECGEncoder, x: torch.Tensor, layer: str, head: str, output: int) -> torch.Tensor:
    """Grad-CAM for one head output on one ECG via autograd.

    x [L, S] (one preprocessed ECG). y = raw head output `output` of group `head` (logit or
    standardised value). A = activations of `layer` [T, W], G = ∂y/∂A, α_w = mean_t G,
    cam = ReLU(A α) -> [L, N] -> linear interpolation (align_corners=False) to [L, S] -> / max.
    """
    cam = token_cam(model, x.unsqueeze(0), layer, head, output)
    leads, samples = x.shape
    cam = cam.reshape(1, leads, -1)                   # [1, L, N] (L as channels)
    cam = F.interpolate(cam, size=samples, mode="linear", align_corners=False)[0]
    m = cam.max()
    return cam / m if m > 0 else cam


# ----------------------------------------------------------------------------------------------
# Seeded noise shared with the Swift engine (CardiacModels.SeededGaussian)

_MASK64 = (1 << 64) - 1


def _splitmix64_uniforms(seed: int):
    """SplitMix64 from state `seed`: uniform doubles in [0, 1) from the top 53 bits of each draw
    (CardiacModels.SeededGaussian.nextUInt64 / nextUniform)."""
    state = seed & _MASK64
    while True:
        state = (state + 0x9E3779B97F4A7C15) & _MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        yield ((z ^ (z >> 31)) >> 11) * (1.0 / 9007199254740992.0)


def seeded_gaussian(seed: int, count: int) -> np.ndarray:
    """SplitMix64 → uniform doubles (top 53 bits) → Box–Muller pairs (cos first, then sin).

    u1 = 1 − uniform (in (0, 1]), u2 = uniform; r = sqrt(−2 ln u1); n = r cos 2πu2, r sin 2πu2.
    Values are computed in float64 and returned as float32.
    """
    uniform = _splitmix64_uniforms(seed)
    out = np.empty(count, dtype=np.float64)
    i = 0
    while i < count:
        u1 = 1.0 - next(uniform)
        u2 = next(uniform)
        r = math.sqrt(-2.0 * math.log(u1))
        out[i] = r * math.cos(2 * math.pi * u2)
        if i + 1 < count:
            out[i + 1] = r * math.sin(2 * math.pi * u2)
        i += 2
    return out.astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Model v2: a beat-aware encoder and an anatomy-conditioned generator (docs/model-bundle.md,
# encoder type "beatvit1d", generator "anatomy")


class BeatViTEncoder1D(nn.Module):
    """Tokens = per-lead median-beat patches, then one rhythm token.

    Token t = lead*K + k embeds median-beat samples [k*P, (k+1)*P) of that lead (K = beat/P);
    token L*K embeds the rhythm features (RR statistics). Beat alignment is done by the R-peak
    detector before the network (SignalKit.BeatExtractor / beats.py), so the network does not
    have to learn it from fixed windows.
    """

    def __init__(self, leads: int, beat_samples: int, patch: int, rhythm: int, width: int, depth: int,
                 heads: int, mlp_ratio: float = 4.0, eps: float = 1e-6):
        super().__init__()
        if beat_samples % patch:
            raise ValueError(f"beat length {beat_samples} not divisible by patch {patch}")
        self.leads, self.beat_samples, self.patch, self.rhythm = leads, beat_samples, patch, rhythm
        self.patches_per_lead = beat_samples // patch
        self.beat_tokens = leads * self.patches_per_lead
        self.tokens = self.beat_tokens + 1
        self.patch_embed = nn.Linear(patch, width)
        self.rhythm_embed = nn.Linear(rhythm, width)
        self.pos_embed = nn.Parameter(torch.randn(self.tokens, width) * 0.02)
        self.blocks = nn.ModuleList(Block(width, heads, mlp_ratio, eps) for _ in range(depth))
        self.norm = nn.LayerNorm(width, eps=eps)

    def tokenize(self, beats: torch.Tensor, rhythm: torch.Tensor) -> torch.Tensor:
        b, l, s = beats.shape
        if l != self.leads or s != self.beat_samples or rhythm.shape[-1] != self.rhythm:
            raise ValueError(f"expected beats [B, {self.leads}, {self.beat_samples}] and rhythm [B, {self.rhythm}], "
                             f"got {list(beats.shape)} and {list(rhythm.shape)}")
        t = self.patch_embed(beats.reshape(b, self.beat_tokens, self.patch))
        r = self.rhythm_embed(rhythm).unsqueeze(1)
        return torch.cat([t, r], dim=1) + self.pos_embed

    def forward(self, beats: torch.Tensor, rhythm: torch.Tensor) -> torch.Tensor:
        h = self.tokenize(beats, rhythm)
        for blk in self.blocks:
            h = blk(h)
        return self.norm(h)


def wide_input(beats: torch.Tensor, rhythm: torch.Tensor, stride: int) -> torch.Tensor:
    """The wide branch's raw input [B, L·ceil(beat/stride) + 2L + R]: every `stride`-th median-beat
    sample of every lead (lead-major), then per lead the beat's maximum and minimum, then the rhythm
    features (CardiacModels.WideBranch builds the same vector)."""
    b = beats.shape[0]
    return torch.cat([beats[:, :, ::stride].reshape(b, -1), beats.amax(dim=2), beats.amin(dim=2), rhythm], dim=1)


class WideBranch(nn.Module):
    """Standardised hand-level inputs (sub-sampled median beats, per-lead extremes, RR statistics)
    → two GELU layers. Its features sit beside the transformer's pooled vector at the heads, so
    amplitude- and interval-like cues a tree floor reads directly need not pass through attention
    pooling. mean / std are fixed buffers (training-split statistics)."""

    def __init__(self, inputs: int, hidden: int):
        super().__init__()
        self.inputs, self.hidden = inputs, hidden
        self.register_buffer("mean", torch.zeros(inputs))
        self.register_buffer("std", torch.ones(inputs))
        self.fc1 = nn.Linear(inputs, hidden)
        self.fc2 = nn.Linear(hidden, hidden)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        h = F.gelu(self.fc1((v - self.mean) / self.std))
        return F.gelu(self.fc2(h))


class BeatECGEncoder(nn.Module):
    """BeatViTEncoder1D + attention pooling + projection + heads; input is a dict
    {"beats": [B, L, beat], "rhythm": [B, R]} (SignalKit.BeatFeatures of the prepared ECG).

    With `wide_hidden` > 0 the heads read concat(pooled [W], wide features [H]) (`WideBranch` on
    `wide_input(beats, rhythm, wide_stride)`); the embedding (alignment, generator condition, OOD)
    stays the pooled vector's projection. `sigma_heads` names head groups that also get a
    log-standard-deviation layer `sigma.<group>` on the same features (heteroscedastic regression:
    forward returns it under "log_sigma")."""

    def __init__(self, leads: int = 12, beat_samples: int = 200, patch: int = 25, rhythm: int = 10,
                 width: int = 96, depth: int = 3, heads: int = 4, mlp_ratio: float = 2.0, proj_dim: int = 96,
                 head_sizes: Optional[Dict[str, int]] = None, eps: float = 1e-6, wide_hidden: int = 0,
                 wide_stride: int = 2, sigma_heads: Sequence[str] = ()):
        super().__init__()
        head_sizes = dict(head_sizes or {})
        self.config = dict(leads=leads, beat_samples=beat_samples, patch=patch, rhythm=rhythm, width=width,
                           depth=depth, heads=heads, mlp_ratio=mlp_ratio, proj_dim=proj_dim,
                           head_sizes=head_sizes, eps=eps, wide_hidden=wide_hidden, wide_stride=wide_stride,
                           sigma_heads=list(sigma_heads))
        self.encoder = BeatViTEncoder1D(leads, beat_samples, patch, rhythm, width, depth, heads, mlp_ratio, eps)
        self.pool = AttentionPool(width)
        self.projection = nn.Linear(width, proj_dim) if proj_dim else None
        self.wide_stride = wide_stride
        if wide_hidden:
            n_in = leads * len(range(0, beat_samples, wide_stride)) + 2 * leads + rhythm
            self.wide = WideBranch(n_in, wide_hidden)
        else:
            self.wide = None
        feat = width + wide_hidden
        self.heads = nn.ModuleDict({name: nn.Linear(feat, n) for name, n in head_sizes.items()})
        self.sigma = nn.ModuleDict({name: nn.Linear(feat, head_sizes[name]) for name in sigma_heads})

    def pooled(self, x: dict) -> torch.Tensor:
        return self.pool(self.encoder(x["beats"], x["rhythm"]))

    def embed(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.projection(pooled) if self.projection is not None else pooled

    def features(self, x: dict, pooled: torch.Tensor) -> torch.Tensor:
        """What the heads read: the pooled vector, and the wide branch's features beside it."""
        if self.wide is None:
            return pooled
        return torch.cat([pooled, self.wide(wide_input(x["beats"], x["rhythm"], self.wide_stride))], dim=-1)

    def forward(self, x: dict) -> dict:
        return self.from_pooled(x, self.pooled(x))

    def from_pooled(self, x: dict, p: torch.Tensor) -> dict:
        """Everything after the pooling (embedding, wide branch, heads) for a pooled vector `p` of `x`."""
        f = self.features(x, p)
        out = {"pooled": p, "embedding": self.embed(p),
               "heads": {name: head(f) for name, head in self.heads.items()}}
        if len(self.sigma):
            out["log_sigma"] = {name: layer(f) for name, layer in self.sigma.items()}
        return out


def fold_head_seeds(states: Sequence[dict], width: int) -> dict:
    """One BeatECGEncoder state whose outputs are the mean of `states`' — K copies of the same
    frozen encoder and pooling with heads trained from K seeds (a seed ensemble of the heads stage).

    Exact because everything after the pooling is linear in the wide features: the K wide branches
    sit side by side (fc1 stacked [K·H × in], fc2 block-diagonal [K·H × K·H], so each keeps its own
    features), and each head / σ layer reads [pooled | wide_1 … wide_K] with weights
    [mean of the pooled parts | each wide part / K] and the mean bias: logits, phenotype means and
    log σ are the seeds' means (σ is the geometric mean; split-conformal calibration scales it).
    Refuses states whose encoder, pooling or wide statistics differ."""
    if not states:
        raise ValueError("fold_head_seeds: no states")
    k = len(states)
    first = states[0]
    own = ("heads.", "sigma.", "wide.fc1.", "wide.fc2.")
    for j, st in enumerate(states[1:], 1):
        if set(st) != set(first):
            raise ValueError(f"fold_head_seeds: state {j} has other tensors than state 0")
        for name, t in st.items():
            if not name.startswith(own) and not torch.equal(t, first[name]):
                raise ValueError(f"fold_head_seeds: state {j} differs from state 0 in {name} (not a heads-only seed)")
    out = {name: t.clone() for name, t in first.items() if not name.startswith(own)}
    if "wide.fc1.weight" not in first:
        raise ValueError("fold_head_seeds: the states have no wide branch")
    hidden = first["wide.fc1.weight"].shape[0]
    out["wide.fc1.weight"] = torch.cat([st["wide.fc1.weight"] for st in states])
    out["wide.fc1.bias"] = torch.cat([st["wide.fc1.bias"] for st in states])
    out["wide.fc2.weight"] = torch.block_diag(*[st["wide.fc2.weight"] for st in states])
    out["wide.fc2.bias"] = torch.cat([st["wide.fc2.bias"] for st in states])
    layers = sorted({name.rsplit(".", 1)[0] for name in first if name.startswith(("heads.", "sigma."))})
    for layer in layers:
        w = [st[f"{layer}.weight"] for st in states]
        if w[0].shape[1] != width + hidden:
            raise ValueError(f"fold_head_seeds: {layer} reads {w[0].shape[1]} features, not pooled {width} + wide {hidden}")
        pooled_part = torch.stack([x[:, :width] for x in w]).mean(0)
        out[f"{layer}.weight"] = torch.cat([pooled_part] + [x[:, width:] / k for x in w], dim=1)
        out[f"{layer}.bias"] = torch.stack([st[f"{layer}.bias"] for st in states]).mean(0)
    return out


def beat_gradcam(model: BeatECGEncoder, beats: torch.Tensor, rhythm: torch.Tensor, peaks: Sequence[int],
                 samples: int, pre: int, layer: str, head: str, output: int):
    """Grad-CAM of a beat-aware encoder, mapped back onto the record.

    cam over tokens as `gradcam` (ReLU(A·mean_t ∂y/∂A)); the K beat tokens of a lead are upsampled
    linearly (align_corners=False) to the beat length and drawn at every complete beat window
    [p − pre, p − pre + beat) of the record (maximum where windows overlap); the rhythm token's
    value is returned beside the map. Both are divided by the largest value of the two.
    Returns (map [L, samples], rhythm relevance).
    """
    cam = token_cam(model, {"beats": beats.unsqueeze(0), "rhythm": rhythm.unsqueeze(0)}, layer, head, output)
    enc = model.encoder
    leads, k, beat = enc.leads, enc.patches_per_lead, enc.beat_samples
    per_lead = F.interpolate(cam[: leads * k].reshape(1, leads, k), size=beat, mode="linear",
                             align_corners=False)[0]
    rhythm_value = float(cam[leads * k])
    m = max(float(per_lead.max()), rhythm_value)
    full = torch.zeros(leads, samples)
    for p in peaks:
        a0 = int(p) - pre
        if a0 < 0 or a0 + beat > samples:
            continue
        full[:, a0:a0 + beat] = torch.maximum(full[:, a0:a0 + beat], per_lead)
    if m > 0:
        full = full / m
        rhythm_value = rhythm_value / m
    return full, rhythm_value


class SizeCorrection:
    """The generator's size correction (manifest `generator.anatomy.sizeCorrection`): the decoder,
    trained on a cohort where large hearts are few, draws them smaller than asked (a DCM heart
    asked at 229 mL read 221 mL on the generated cine, while the tracker reads true DCM cines within
    1 %). So the decoder is asked for the `scale` volumes × factor(requested `by` volume), the factor
    piecewise linear in `knots` (mL, constant beyond the ends), fitted by `python -m
    ecg2cmr_train.drawsize` so that the cine shows the volume printed beside it. All `scale` volumes
    get the same factor, so the asked EF is unchanged. Positions index the anatomy vector."""

    def __init__(self, by: int, scale: List[int], mean: Sequence[float], std: Sequence[float],
                 knots: Sequence[float], factors: Sequence[float]):
        self.by, self.scale = int(by), [int(j) for j in scale]
        self.mean, self.std = [float(v) for v in mean], [float(v) for v in std]
        self.knots, self.factors = [float(v) for v in knots], [float(v) for v in factors]
        if len(self.knots) < 2 or len(self.knots) != len(self.factors) or any(
                b <= a for a, b in zip(self.knots, self.knots[1:])) or not all(
                np.isfinite(f) and f > 0 for f in self.factors):
            raise ValueError("sizeCorrection: needs ≥ 2 increasing knots and as many positive factors")

    def factor(self, volume_ml: float) -> float:
        return float(np.interp(volume_ml, self.knots, self.factors))

    def apply(self, anatomy: torch.Tensor) -> torch.Tensor:
        """Standardised anatomy [..., K] → the anatomy the decoder is asked for, same dtype;
        computed in float64 then rounded, as the engine does."""
        a = anatomy.detach().double().clone()
        by = a[..., self.by] * self.std[self.by] + self.mean[self.by]
        k = torch.as_tensor(np.asarray(np.interp(by.numpy(), self.knots, self.factors), dtype=np.float64))
        for j in self.scale:
            a[..., j] = ((a[..., j] * self.std[j] + self.mean[j]) * k - self.mean[j]) / self.std[j]
        return a.to(anatomy.dtype)


class AnatomyCMRGenerator(nn.Module):
    """The v2 generator: the ECG decides the anatomy, diffusion only the residual, the seed the pose.

    Frame decoder input per view v = concat(anatomy [K], residual_v [R]). The anatomy is the
    phenotype head's standardised output (the numbers shown beside the cine), restricted to
    `anatomy_index` (the outputs the decoder reads, manifest `generator.anatomy.outputs`; by default
    all of them); the residual
    (texture, shading, what the phenotypes leave open) is drawn by a DDIM prior over the
    standardised residuals of both views [2R], conditioned on the ECG embedding with
    classifier-free guidance (the unconditional branch sees a zero condition); the pose
    (rotation, shift) comes from the seed (`seeded_pose`) and is applied by `apply_pose`.
    """

    def __init__(self, anatomy: int, residual: int, cond: int, views: Optional[Dict[str, dict]] = None,
                 prior_hidden: int = 256, prior_layers: int = 3, temb: int = 32,
                 anatomy_index: Optional[List[int]] = None, head_size: Optional[int] = None):
        super().__init__()
        views = views or {"sax": dict(size=80, base=5, channels=[48, 32, 24, 16, 8]),
                          "lax": dict(size=96, base=6, channels=[48, 32, 24, 16, 8])}
        self.anatomy, self.residual = anatomy, residual
        self.anatomy_index = list(range(anatomy)) if anatomy_index is None else [int(i) for i in anatomy_index]
        self.head_size = int(head_size) if head_size is not None else anatomy
        if len(self.anatomy_index) != anatomy or not all(0 <= i < self.head_size for i in self.anatomy_index):
            raise ValueError(f"anatomy_index {self.anatomy_index} must list {anatomy} outputs of a {self.head_size}-output head")
        self.latent = anatomy + residual
        self.view_names = list(views)
        self.view_specs = {k: dict(v) for k, v in views.items()}
        for name, spec in views.items():
            self.add_module(name, FrameDecoder(self.latent, spec["size"], spec["base"], spec["channels"]))
        total = residual * len(views)
        self.prior = LatentPrior(total, cond, prior_hidden, prior_layers, temb)
        self.register_buffer("residual_mean", torch.zeros(total))
        self.register_buffer("residual_std", torch.ones(total))
        self.size_correction: Optional[SizeCorrection] = None     # set from a bundle's manifest

    def decoder(self, view: str) -> FrameDecoder:
        return getattr(self, view)

    def destandardise(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.residual_std + self.residual_mean

    def select_anatomy(self, head_output: torch.Tensor) -> torch.Tensor:
        """The phenotype head's standardised output [..., head_size] → the decoder's anatomy [..., K]."""
        return head_output[..., self.anatomy_index]

    def view_latent(self, view: str, head_output: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """phenotype head output [..., head_size], de-standardised residual of both views [..., 2R] →
        decoder latent [..., K+R]."""
        i = self.view_names.index(view)
        a = self.select_anatomy(head_output)
        if self.size_correction is not None:
            a = self.size_correction.apply(a)
        return torch.cat([a, residual[..., i * self.residual:(i + 1) * self.residual]], dim=-1)

    def decode(self, view: str, z: torch.Tensor, phases: torch.Tensor) -> torch.Tensor:
        zz = z.reshape(1, -1).expand(phases.shape[0], -1)
        return self.decoder(view)(zz, phases)


@torch.no_grad()
def ddim_sample_guided(prior: LatentPrior, sched: DiffusionSchedule, cond: torch.Tensor, noise: torch.Tensor,
                       sampling_steps: int, guidance: float) -> torch.Tensor:
    """DDIM (η = 0) with classifier-free guidance: ε = ε(∅) + w·(ε(c) − ε(∅)), ∅ = zero condition.
    w = 1 is plain conditional sampling (one prior call per step)."""
    x = noise
    ts = ddim_timesteps(sched.steps, sampling_steps)
    ab = sched.alphas_cumprod
    zero = torch.zeros_like(cond)
    for i, t in enumerate(ts):
        tt = torch.full((x.shape[0],), t, dtype=torch.long)
        eps = prior(x, cond, tt)
        if guidance != 1.0:
            eu = prior(x, zero, tt)
            eps = eu + guidance * (eps - eu)
        a_t = float(ab[t])
        a_prev = float(ab[ts[i + 1]]) if i + 1 < len(ts) else 1.0
        x0 = (x - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
        x = math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps
    return x


def seeded_uniform(seed: int, count: int) -> np.ndarray:
    """SplitMix64 uniforms in [0, 1) (top 53 bits), float64 — CardiacModels.SeededGaussian.nextUniform."""
    uniform = _splitmix64_uniforms(seed)
    return np.array([next(uniform) for _ in range(count)], dtype=np.float64)


POSE_STREAM = 0x706F7365  # "pose": the pose stream is seed + this, separate from the diffusion noise


def seeded_pose(seed: int, views: int, max_rotation_deg: float, max_shift_px: float) -> np.ndarray:
    """Per view (rotation rad, shift x px, shift y px), uniform in ±max, from seed + POSE_STREAM."""
    u = seeded_uniform((seed + POSE_STREAM) & _MASK64, 3 * views).reshape(views, 3)
    out = np.empty((views, 3), dtype=np.float64)
    out[:, 0] = np.deg2rad((2 * u[:, 0] - 1) * max_rotation_deg)
    out[:, 1] = (2 * u[:, 1] - 1) * max_shift_px
    out[:, 2] = (2 * u[:, 2] - 1) * max_shift_px
    return out


def _sample_bilinear(frames: np.ndarray, si: np.ndarray, sj: np.ndarray) -> np.ndarray:
    """frames [F, S, S] read at the source rows `si` and columns `sj` [S, S] (already clamped to
    the frame): bilinear, float32, the same arithmetic as CardiacModels.PoseWarp."""
    s = frames.shape[-1]
    j0 = np.minimum(np.floor(sj).astype(np.int64), s - 2)
    i0 = np.minimum(np.floor(si).astype(np.int64), s - 2)
    fj = (sj - j0).astype(np.float32)
    fi = (si - i0).astype(np.float32)
    im = frames.astype(np.float32)
    top = im[:, i0, j0] * (1 - fj) + im[:, i0, j0 + 1] * fj
    bot = im[:, i0 + 1, j0] * (1 - fj) + im[:, i0 + 1, j0 + 1] * fj
    return top * (1 - fi) + bot * fi


def apply_pose(frames: np.ndarray, angle: float, dx: float, dy: float) -> np.ndarray:
    """Rotate frames [F, S, S] by `angle` (counter-clockwise on screen) about the centre, then shift
    by (dx, dy) pixels (right, down); bilinear, edges clamped. Output pixel (i, j) reads the input at
    x = c + cos·(j−c−dx) − sin·(c+dy−i)... written out exactly in CardiacModels.PoseWarp."""
    s = frames.shape[-1]
    c = (s - 1) / 2.0
    ca, sa = math.cos(angle), math.sin(angle)
    ii, jj = np.meshgrid(np.arange(s, dtype=np.float64), np.arange(s, dtype=np.float64), indexing="ij")
    x = jj - c - dx
    y = c - (ii - dy)                    # up is positive
    # inverse rotation: the source of a point rotated by +angle
    xs = ca * x + sa * y
    ys = -sa * x + ca * y
    return _sample_bilinear(frames, np.clip(c - ys, 0, s - 1), np.clip(xs + c, 0, s - 1))


def unpose(frames: np.ndarray, angle: float, dx: float, dy: float) -> np.ndarray:
    """The inverse of `apply_pose`: frames [F, S, S] as exported (rotated by `angle`, then shifted by
    (dx, dy) px) → the canonical pose (bilinear, edges clamped). The held-out check's RV reading walks
    along the canonical −x axis, so it must not see the seed's rotation."""
    s = frames.shape[-1]
    c = (s - 1) / 2.0
    ca, sa = math.cos(angle), math.sin(angle)
    ii, jj = np.meshgrid(np.arange(s, dtype=np.float64), np.arange(s, dtype=np.float64), indexing="ij")
    x, y = jj - c, c - ii                    # canonical point, up positive
    return _sample_bilinear(frames, np.clip(c - (sa * x + ca * y) + dy, 0, s - 1), np.clip(ca * x - sa * y + c + dx, 0, s - 1))


@torch.no_grad()
def generate_cine(gen: AnatomyCMRGenerator, sched: DiffusionSchedule, sampling_steps: int, guidance: float,
                  anatomy: torch.Tensor, embedding: torch.Tensor, seed: int, phases: torch.Tensor,
                  max_rotation_deg: float, max_shift_px: float, views: Optional[Sequence[str]] = None) -> dict:
    """What the engine does for one ECG (CardiacModels.CMRGeneratorModel): residual noise from
    `seeded_gaussian(seed)`, guided DDIM, de-standardise, decode each view at the head's anatomy,
    then the seed's pose. `views` decodes only those (default all; the residual and pose draws are
    the same either way). Returns {"residual": [2R], "canonical": {view: [F,S,S]}, "frames": {…}}."""
    total = gen.residual * len(gen.view_names)
    noise = torch.from_numpy(seeded_gaussian(int(seed), total)).reshape(1, -1)
    xs = ddim_sample_guided(gen.prior, sched, embedding.reshape(1, -1), noise, sampling_steps, guidance)
    r = gen.destandardise(xs)[0]
    pose = seeded_pose(int(seed), len(gen.view_names), max_rotation_deg, max_shift_px)
    canonical, frames = {}, {}
    for vi, v in enumerate(gen.view_names):
        if views is not None and v not in views:
            continue
        z = gen.view_latent(v, anatomy.reshape(-1), r)
        canonical[v] = gen.decode(v, z, phases.float()).numpy()
        frames[v] = apply_pose(canonical[v], *pose[vi])
    return {"noise": noise[0].numpy(), "residual": r.numpy(), "pose": pose, "canonical": canonical, "frames": frames}
