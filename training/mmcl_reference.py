"""MMCL-style ECG encoders built with timm, for converter parity tests.

`MMCLStyleECGEncoder` re-creates the layout of MMCL's `ECGEncoder` (a timm `VisionTransformer`
over [B, 1, leads, samples] with (1, P) patches, a class token, `pos_embed` with the class
position, and three pooling modes) from its published description — this is fixture code written
for this project, not MMCL's file:

  global_pool=False            -> norm(x)[:, 0]                          (bundle pooling "cls")
  global_pool=True             -> fc_norm(mean of the patch tokens)      ("mean"; `norm` deleted)
  global_pool="attention_pool" -> fc_norm(MultiheadAttention(q = mean of patch tokens,
                                   k = v = patch tokens))                ("mha"; `norm` deleted)

    python training/mmcl_reference.py --pooling cls|mean|mha --out DIR [--size small|published]

writes DIR/checkpoint.pth ({'model': state_dict}, random weights pushed off their defaults),
converts it with convert_checkpoint.py into DIR/bundle, and writes DIR/golden.safetensors with
the timm model's own outputs (forward_features = the pooled vector and embedding, head logits and
standardised values, Grad-CAM on the manifest's block with the class-token row dropped) for two
synthetic inputs, in the golden-vector layout of docs/model-bundle.md.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SIZES = {"small": dict(leads=12, samples=1000, patch=100, width=96, depth=3, heads=6),
         "published": dict(leads=12, samples=5000, patch=100, width=384, depth=3, heads=6)}
MODES = {"cls": False, "mean": True, "mha": "attention_pool"}
# head.weight rows: two sigmoid logits, then one standardised regression value.
HEAD_ARGS = ["--head", "risk:sigmoid:cad,hcm", "--head", "phenotype:regression:lv_ef=60/7"]


def mmcl_encoder_class():
    from timm.models.vision_transformer import VisionTransformer

    class MMCLStyleECGEncoder(VisionTransformer):
        def __init__(self, global_pool=False, **kwargs):
            super().__init__(**kwargs)
            self.pool_mode = global_pool
            width = kwargs["embed_dim"]
            if global_pool == "attention_pool":
                self.attention_pool = nn.MultiheadAttention(embed_dim=width, num_heads=kwargs["num_heads"], batch_first=True)
            if global_pool:
                self.fc_norm = kwargs["norm_layer"](width)
                # MMCL's ECGEncoder has `del self.norm` commented out: its global-pooling checkpoints
                # keep an unused `norm.*` beside `fc_norm.*`, and so do these references.
                # del self.norm

        def forward_features(self, x):
            x = self.patch_embed(x)
            x = x + self.pos_embed[:, 1:, :]
            cls = (self.cls_token + self.pos_embed[:, :1, :]).expand(x.shape[0], -1, -1)
            x = torch.cat((cls, x), dim=1)
            for blk in self.blocks:
                x = blk(x)
            if self.pool_mode == "attention_pool":
                patches = x[:, 1:, :]
                q = patches.mean(dim=1, keepdim=True)
                y, _ = self.attention_pool(q, patches, patches)
                return self.fc_norm(y.squeeze(dim=1))
            if self.pool_mode:
                return self.fc_norm(x[:, 1:, :].mean(dim=1))
            return self.norm(x)[:, 0]

        def forward(self, x):
            return self.head(self.forward_features(x))

    return MMCLStyleECGEncoder


def build(pooling: str, size: str = "small", seed: int = 0, num_classes: int = 3):
    s = SIZES[size]
    cls = mmcl_encoder_class()
    torch.manual_seed(seed)
    m = cls(global_pool=MODES[pooling], img_size=(s["leads"], s["samples"]), patch_size=(1, s["patch"]), in_chans=1,
            embed_dim=s["width"], depth=s["depth"], num_heads=s["heads"], mlp_ratio=4, qkv_bias=True,
            norm_layer=partial(nn.LayerNorm, eps=1e-6), num_classes=num_classes)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():          # push every parameter off its default (norms ≠ 1/0, biases ≠ 0, tokens ≠ 0)
        for name, p in m.named_parameters():
            r = torch.randn(p.shape, generator=g)
            if name in ("cls_token", "pos_embed"):
                p.copy_(r * 0.5)
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.1 * r)
            elif name.endswith("bias"):
                p.copy_(0.1 * r)
            else:
                fan_in = p[0].numel() if p.ndim > 1 else p.numel()
                p.copy_(r / math.sqrt(fan_in))
    return m.eval(), s


def reference_outputs(model, x: torch.Tensor, cam_rows=(0, 2), layer: int = -1):
    """x [L, S] -> pooled [W], head [n], Grad-CAM maps [L, S] on block `layer`'s output for head rows `cam_rows`."""
    leads, samples = x.shape
    with torch.no_grad():
        pooled = model.forward_features(x[None, None])[0]
        head = model.head(pooled[None])[0]
    cams = []
    for row in cam_rows:
        store = {}

        def keep(_m, _i, out):
            out.retain_grad()
            store["a"] = out

        hook = model.blocks[layer].register_forward_hook(keep)
        try:
            with torch.enable_grad():
                y = model(x[None, None])[0, row]
                model.zero_grad(set_to_none=True)
                y.backward()
        finally:
            hook.remove()
        a = store["a"][0, 1:].detach()                  # the class token's row is dropped
        gr = store["a"].grad[0, 1:]
        cam = torch.relu(a @ gr.mean(dim=0)).reshape(1, leads, -1)
        cam = F.interpolate(cam, size=samples, mode="linear", align_corners=False)[0]
        mx = cam.max()
        cams.append((cam / mx if mx > 0 else cam).detach())
    return pooled, head, cams


def write_case_set(pooling: str, out_dir, size: str = "small", seed: int = 0, cases: int = 2) -> dict:
    import convert_checkpoint
    from ecg2cmr_train.bundle import synthetic_inputs
    from safetensors.numpy import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model, s = build(pooling, size, seed)
    ckpt = out / "checkpoint.pth"
    torch.save({"model": model.state_dict()}, ckpt)
    rate = s["samples"] / 10.0
    convert_checkpoint.main(["--checkpoint", str(ckpt), "--out", str(out / "bundle"), "--preset", "mmcl",
                             "--sampling-rate", str(rate), "--id", f"mmcl-{pooling}", *HEAD_ARGS])
    import json
    manifest = json.loads((out / "bundle" / "manifest.json").read_text())
    layer = int(manifest["gradcam"]["layer"].rsplit(".", 1)[1])
    x_all = torch.from_numpy(synthetic_inputs(s["leads"], s["samples"], rate, cases, seed + 7))
    tensors = {}
    for k in range(cases):
        p = f"case{k}."
        pooled, head, cams = reference_outputs(model, x_all[k], layer=layer)
        tensors[p + "input"] = x_all[k].numpy()
        tensors[p + "pooled"] = pooled.numpy()
        tensors[p + "embedding"] = pooled.numpy()
        tensors[p + "head.risk"] = head[:2].numpy()
        tensors[p + "head.phenotype"] = head[2:].numpy()
        tensors[p + "gradcam.risk.cad"] = cams[0].numpy()
        tensors[p + "gradcam.phenotype.lv_ef"] = cams[1].numpy()
    tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}
    save_file(tensors, str(out / "golden.safetensors"), metadata={"bundle": f"mmcl-{pooling}", "cases": str(cases)})
    return tensors


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pooling", choices=sorted(MODES), required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", choices=sorted(SIZES), default="small")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    write_case_set(a.pooling, a.out, a.size, a.seed)
    print(f"wrote {a.out}/bundle and {a.out}/golden.safetensors")


if __name__ == "__main__":
    main()
