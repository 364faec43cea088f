"""Training-only networks around the bundle modules of model.py.

- `MDMDecoder` + `mdm_loss`: masked data modelling (MAE-style, as MMCL): the encoder sees only
  the unmasked (lead, time) patches; a light decoder reconstructs the masked ones.
- `CineEncoder` / `CMRAutoencoder`: self-supervised CMR autoencoder. The encoder reads a whole
  cine (frames as channels) and gives a latent per view; the decoder is the bundle's
  `FrameDecoder` (latent, phase) → frame. Its frozen encoder is the CMR representation for
  alignment and its latents are what the diffusion prior learns to draw.
- `clip_loss`: CLIP-style InfoNCE with MMCL's direction weighting and CardioNets' optional
  down-weighting of clinically similar negatives.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .model import Block, ECGEncoder, FrameDecoder


class MDMDecoder(nn.Module):
    def __init__(self, tokens: int, width: int, patch: int, dec_width: int = 64, depth: int = 1,
                 heads: int = 4):
        super().__init__()
        self.embed = nn.Linear(width, dec_width)
        self.mask_token = nn.Parameter(torch.zeros(dec_width))
        self.pos = nn.Parameter(torch.randn(tokens, dec_width) * 0.02)
        self.blocks = nn.ModuleList(Block(dec_width, heads, 4.0) for _ in range(depth))
        self.norm = nn.LayerNorm(dec_width, eps=1e-6)
        self.pred = nn.Linear(dec_width, patch)


def mdm_loss(enc: ECGEncoder, dec: MDMDecoder, x: torch.Tensor, mask_ratio: float,
             gen: torch.Generator) -> torch.Tensor:
    """Mean squared error on the masked patches of x [B, L, S]."""
    vit = enc.encoder
    b = x.shape[0]
    tokens = vit.tokenize(x)                                   # [B, T, W] (+ positions)
    t, w = tokens.shape[1], tokens.shape[2]
    keep = max(1, int(round(t * (1.0 - mask_ratio))))
    ids_keep = torch.rand(b, t, generator=gen).argsort(dim=1)[:, :keep]
    h = torch.gather(tokens, 1, ids_keep.unsqueeze(-1).expand(-1, -1, w))
    for blk in vit.blocks:
        h = blk(h)
    return _masked_reconstruction(dec, dec.embed(vit.norm(h)), ids_keep, x.reshape(b, t, -1))


def _masked_reconstruction(dec: MDMDecoder, h: torch.Tensor, ids_keep: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Decoder side of MDM: visible tokens h [B, keep, Dw] back at their places among mask
    tokens, light decoder, MSE on the masked tokens' patches (target [B, T, P])."""
    b, t = target.shape[0], target.shape[1]
    dw = h.shape[-1]
    full = dec.mask_token.expand(b, t, dw).clone()
    full = full.scatter(1, ids_keep.unsqueeze(-1).expand(-1, -1, dw), h) + dec.pos
    for blk in dec.blocks:
        full = blk(full)
    pred = dec.pred(dec.norm(full))                            # [B, T, P]
    mask = torch.ones(b, t, device=target.device)
    mask.scatter_(1, ids_keep, 0.0)
    per_token = ((pred - target) ** 2).mean(-1)
    return (per_token * mask).sum() / mask.sum()


class CineEncoder(nn.Module):
    """[B, F, S, S] cine in [0, 1] (frames as channels) → latent [B, Z]."""

    def __init__(self, frames: int, size: int, channels, latent: int):
        super().__init__()
        layers, c = [], frames
        for co in channels:
            layers += [nn.Conv2d(c, co, 4, stride=2, padding=1), nn.SiLU()]
            c = co
        self.conv = nn.Sequential(*layers)
        s = size // 2 ** len(channels)
        if s * 2 ** len(channels) != size:
            raise ValueError(f"cine size {size} is not divisible by 2^{len(channels)}")
        self.fc = nn.Linear(c * s * s, latent)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).flatten(1))


class CMRAutoencoder(nn.Module):
    def __init__(self, frames: int, latent: int, views: dict, encoder_channels):
        super().__init__()
        self.views = list(views)
        self.latent = latent
        self.encoders = nn.ModuleDict({v: CineEncoder(frames, s["size"], encoder_channels, latent)
                                       for v, s in views.items()})
        self.decoders = nn.ModuleDict({v: FrameDecoder(latent, s["size"], s["base"], s["channels"])
                                       for v, s in views.items()})

    def encode(self, cines: dict) -> dict:
        return {v: self.encoders[v](cines[v]) for v in self.views}


def clip_loss(e: torch.Tensor, c: torch.Tensor, temperature: float = 0.1, lam: float = 0.75,
              weighted: bool = False, floor: float = 0.05) -> torch.Tensor:
    """InfoNCE between ECG projections e [B, D] and (frozen) CMR projections c [B, D].

    loss = λ·CE(ECG→CMR) + (1−λ)·CE(CMR→ECG) on cosine similarities / τ (MMCL).
    weighted (CardioNets): each negative pair (i, j) enters the softmax denominator with weight
    w_ij = clamp(1 − cos(c_i, c_j), floor, 1), so subjects whose CMRs look alike are not pushed
    apart as hard as truly different ones; positives keep weight 1.
    """
    e = F.normalize(e, dim=-1)
    c = F.normalize(c, dim=-1)
    logits = e @ c.t() / temperature
    if weighted:
        with torch.no_grad():
            w = (1.0 - c @ c.t()).clamp(floor, 1.0)
            w.fill_diagonal_(1.0)
        logits = logits + w.log()
    target = torch.arange(e.shape[0], device=e.device)
    return lam * F.cross_entropy(logits, target) + (1 - lam) * F.cross_entropy(logits.t(), target)


def mdm_loss_beats(enc, dec: MDMDecoder, x: dict, mask_ratio: float, gen: torch.Generator | None = None,
                   noise: torch.Tensor | None = None) -> torch.Tensor:
    """MDM on the beat-aware encoder: mask `mask_ratio` of the median-beat tokens (the rhythm token
    is always visible), reconstruct the masked beat patches; MSE on the masked ones. The mask is
    the lowest-`noise` tokens; `noise` [B, T] (drawn for the global batch when data-parallel)
    or, without it, drawn from `gen`."""
    vit = enc.encoder
    beats = x["beats"]
    b = beats.shape[0]
    tokens = vit.tokenize(beats, x["rhythm"])                 # [B, T+1, W]
    t, w = vit.beat_tokens, tokens.shape[2]
    keep = max(1, int(round(t * (1.0 - mask_ratio))))
    if noise is None:
        noise = torch.rand(b, t, generator=gen)
    ids_keep = noise.to(beats.device).argsort(dim=1)[:, :keep]
    h = torch.gather(tokens[:, :t], 1, ids_keep.unsqueeze(-1).expand(-1, -1, w))
    h = torch.cat([h, tokens[:, t:]], dim=1)
    for blk in vit.blocks:
        h = blk(h)
    return _masked_reconstruction(dec, dec.embed(vit.norm(h))[:, :keep], ids_keep, beats.reshape(b, t, -1))
