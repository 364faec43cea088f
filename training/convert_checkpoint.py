"""Convert a published-style PyTorch ViT ECG encoder (MMCL layout) into a model bundle.

MMCL's signal encoder is a timm-style ViT over a [1, leads, samples] "image" with patches of
(1, P): `patch_embed.proj.weight` is a Conv2d kernel [W, 1, 1, P], `pos_embed` is [1, T, W]
(or [1, T+1, W] with a class token), `blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}`
and the final `norm`. Conv2d with a (1, P) kernel and stride (1, P) over lead-major input is the
same as our shared `Linear(P, W)` on tokens t = lead·N + p, so the conversion is renaming and a
reshape (docs/model-bundle.md).

Optional tensors: an attention-pooling query (`pool.query`, `attn_pool.query` or `fc_norm`-less
MMCL fine-tuning checkpoints' `attention_pool.query`) — absent, the query is zero, which makes
attention pooling a plain mean over tokens (global average pooling, as MMCL's pre-trained
encoder); `projection.*` (CLIP projection); head groups given with --head NAME:KIND:id1,id2,…
from tensors `head.weight`/`head.bias` (one group) — without them the bundle has no heads and the
workstation shows the embedding only.

    python training/convert_checkpoint.py --checkpoint mmcl.pth --out assets/models/mmcl-ecg
    python training/convert_checkpoint.py --random-mmcl --out /tmp/published \\
        [--golden /tmp/published/golden.safetensors]   # randomly initialised published size
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ecg2cmr_train.bundle import STANDARD_LEADS, load_bundle, synthetic_inputs, write_bundle  # noqa: E402
from ecg2cmr_train.model import ECGEncoder  # noqa: E402


class ConversionError(ValueError):
    pass


def random_mmcl_state_dict(width=384, depth=3, heads=6, leads=12, samples=5000, patch=100,
                           mlp_ratio=4, seed=0) -> dict:
    """A randomly initialised state dict in the MMCL/timm layout (no class token)."""
    g = torch.Generator().manual_seed(seed)
    t = leads * (samples // patch)
    hidden = width * mlp_ratio

    def rn(*shape, std=0.02):
        return torch.randn(*shape, generator=g) * std

    sd = {"patch_embed.proj.weight": rn(width, 1, 1, patch, std=0.1), "patch_embed.proj.bias": rn(width),
          "pos_embed": rn(1, t, width, std=0.5), "norm.weight": 1 + rn(width, std=0.1), "norm.bias": rn(width)}
    for i in range(depth):
        p = f"blocks.{i}."
        sd.update({p + "norm1.weight": 1 + rn(width, std=0.1), p + "norm1.bias": rn(width),
                   p + "attn.qkv.weight": rn(3 * width, width, std=0.05), p + "attn.qkv.bias": rn(3 * width),
                   p + "attn.proj.weight": rn(width, width, std=0.05), p + "attn.proj.bias": rn(width),
                   p + "norm2.weight": 1 + rn(width, std=0.1), p + "norm2.bias": rn(width),
                   p + "mlp.fc1.weight": rn(hidden, width, std=0.05), p + "mlp.fc1.bias": rn(hidden),
                   p + "mlp.fc2.weight": rn(width, hidden, std=0.05), p + "mlp.fc2.bias": rn(width)})
    sd["pool.query"] = rn(width, std=1.0)
    return sd


def _unwrap(sd: dict) -> dict:
    for key in ("model", "state_dict", "model_state_dict"):
        if key in sd and isinstance(sd[key], dict):
            sd = sd[key]
    prefixes = ("module.", "encoder.", "signal_encoder.", "ecg_encoder.")
    out = {}
    for k, v in sd.items():
        for p in prefixes:
            if k.startswith(p) and k[len(p):].startswith(("patch_embed", "pos_embed", "blocks", "norm", "cls_token",
                                                         "pool", "attn_pool", "attention_pool", "head", "projection")):
                k = k[len(p):]
                break
        out[k] = v
    return out


def convert(sd: dict, leads: int = 12, drop_cls: bool = False, head_specs=None):
    """MMCL/timm state dict -> (ECGEncoder with our names, head manifest entries)."""
    sd = _unwrap(sd)
    if "patch_embed.proj.weight" not in sd:
        raise ConversionError("no 'patch_embed.proj.weight': not a timm-style ViT signal encoder")
    w = sd["patch_embed.proj.weight"]
    if w.ndim != 4 or w.shape[1] != 1 or w.shape[2] != 1:
        raise ConversionError(f"patch_embed.proj.weight has shape {list(w.shape)}, expected [W, 1, 1, P]")
    width, patch = w.shape[0], w.shape[3]
    depth = len({k.split(".")[1] for k in sd if k.startswith("blocks.")})
    pos = sd["pos_embed"].reshape(-1, width)
    if "cls_token" in sd:
        if not drop_cls:
            raise ConversionError("checkpoint has a class token; pass --drop-cls to drop it (and its position)")
        pos = pos[1:]
    tokens = pos.shape[0]
    if tokens % leads:
        raise ConversionError(f"{tokens} positions are not a multiple of {leads} leads")
    samples = tokens // leads * patch
    qkv = sd["blocks.0.attn.qkv.weight"]
    hidden = sd["blocks.0.mlp.fc1.weight"].shape[0]
    heads_n = int(sd.get("__heads__", 0)) or None
    proj_dim = sd["projection.weight"].shape[0] if "projection.weight" in sd else 0
    head_specs = head_specs or []
    head_sizes = {h["name"]: len(h["outputs"]) for h in head_specs}
    enc = ECGEncoder(leads, samples, patch, width, depth, heads_n or 6, hidden / width, proj_dim, head_sizes)
    new = {"encoder.patch_embed.weight": w.reshape(width, patch), "encoder.patch_embed.bias": sd["patch_embed.proj.bias"],
           "encoder.pos_embed": pos, "encoder.norm.weight": sd["norm.weight"], "encoder.norm.bias": sd["norm.bias"]}
    for k, v in sd.items():
        if k.startswith("blocks."):
            new["encoder." + k] = v
    query = next((sd[k] for k in ("pool.query", "attn_pool.query", "attention_pool.query") if k in sd), None)
    new["pool.query"] = query.reshape(width) if query is not None else torch.zeros(width)
    if proj_dim:
        new["projection.weight"], new["projection.bias"] = sd["projection.weight"], sd["projection.bias"]
    for h in head_specs:
        new[f"heads.{h['name']}.weight"], new[f"heads.{h['name']}.bias"] = sd["head.weight"], sd["head.bias"]
    if qkv.shape != (3 * width, width):
        raise ConversionError(f"blocks.0.attn.qkv.weight has shape {list(qkv.shape)}, expected [{3 * width}, {width}]")
    enc.load_state_dict({k: v.float() for k, v in new.items()}, strict=True)   # raises on any missing/extra
    return enc.eval(), head_specs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="PyTorch state dict (.pth/.pt)")
    src.add_argument("--random-mmcl", action="store_true", help="randomly initialised published-size encoder")
    ap.add_argument("--out", required=True)
    ap.add_argument("--id", default=None)
    ap.add_argument("--heads", type=int, default=6, help="attention heads (not recoverable from weights)")
    ap.add_argument("--leads", type=int, default=12)
    ap.add_argument("--sampling-rate", type=float, default=500)
    ap.add_argument("--drop-cls", action="store_true")
    ap.add_argument("--head", action="append", default=[],
                    help="NAME:KIND:id1,id2,… for the checkpoint's head.weight/head.bias")
    ap.add_argument("--preprocessing", default=None, help="JSON list of preprocessing ops (default: MMCL-style)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--golden", default=None, help="also write golden vectors (2 synthetic inputs)")
    args = ap.parse_args(argv)

    if args.random_mmcl:
        sd = random_mmcl_state_dict(seed=args.seed)
    else:
        sd = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    sd = dict(_unwrap(sd))
    sd["__heads__"] = args.heads
    head_specs = []
    for spec in args.head:
        name, kind, ids = spec.split(":", 2)
        head_specs.append({"name": name, "kind": kind,
                           "outputs": [{"id": i, "label": i} for i in ids.split(",")]})
    enc, head_specs = convert(sd, args.leads, args.drop_cls, head_specs)
    samples = enc.config["samples"]
    prep = json.loads(args.preprocessing) if args.preprocessing else [
        {"op": "resample", "rate": args.sampling_rate},
        {"op": "baselineRemoval", "method": "median", "windowsSeconds": [0.2, 0.6]},
        {"op": "cropOrPad", "sampleCount": samples},
        {"op": "normalise", "mode": "zscore"}]
    bid = args.id or ("random-published" if args.random_mmcl else Path(args.out).name)
    fields = {"id": bid,
              "displayName": "Randomly initialised published-size encoder (untrained)" if args.random_mmcl
              else f"Converted encoder {bid}",
              "synthetic": bool(args.random_mmcl),
              "disclaimer": "Random weights: for engine parity and benchmarks only." if args.random_mmcl
              else "Converted research checkpoint. Not validated for clinical use.",
              "input": {"leads": STANDARD_LEADS[:args.leads], "samplingRate": args.sampling_rate,
                        "sampleCount": samples, "preprocessing": prep},
              "heads": head_specs,
              "convertedFrom": "random MMCL-layout state dict" if args.random_mmcl else os.path.basename(args.checkpoint)}
    manifest = write_bundle(args.out, enc, manifest_fields=fields)
    print(f"wrote {args.out}: {enc.encoder.tokens} tokens, width {enc.config['width']}, depth {enc.config['depth']}")
    if args.golden:
        from ecg2cmr_train.bundle import write_golden
        enc2, _, _ = load_bundle(args.out)          # round trip through the written files
        x = synthetic_inputs(args.leads, samples, args.sampling_rate, 2, args.seed + 1)
        write_golden(args.golden, enc2, None, manifest, x, [0, 1])
        print(f"wrote {args.golden}")


if __name__ == "__main__":
    main()
