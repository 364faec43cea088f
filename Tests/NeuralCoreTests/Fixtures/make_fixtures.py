"""Reference vectors for NeuralCoreTests (run from anywhere: python make_fixtures.py).

Writes layers.safetensors next to this file: small random weights, inputs and PyTorch outputs
for each NeuralCore layer, plus F16/BF16 copies for the safetensors reader.
"""
import math
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../../training"))
from ecg2cmr_train.model import AttentionPool, Block, Attention  # noqa: E402

torch.manual_seed(1234)
t = {}

def put(name, x):
    t[name] = x.detach().to(torch.float32).clone().contiguous()

# Linear 7 -> 5 on 3 rows
lin = torch.nn.Linear(7, 5); x = torch.randn(3, 7)
put("linear.weight", lin.weight); put("linear.bias", lin.bias); put("linear.x", x); put("linear.y", lin(x))

# LayerNorm 16 on 4 rows, forward + backward
ln = torch.nn.LayerNorm(16, eps=1e-6)
with torch.no_grad():
    ln.weight.normal_(1, 0.3); ln.bias.normal_(0, 0.3)
x = (torch.randn(4, 16) * 2 + 0.5).requires_grad_(True); dy = torch.randn(4, 16)
y = ln(x); y.backward(dy)
put("ln.weight", ln.weight); put("ln.bias", ln.bias); put("ln.x", x); put("ln.y", y); put("ln.dy", dy); put("ln.dx", x.grad)

# Activations and softmax
x = torch.linspace(-6, 6, 49)
put("act.x", x); put("act.gelu", F.gelu(x)); put("act.silu", F.silu(x)); put("act.sigmoid", torch.sigmoid(x))
x = torch.randn(3, 11) * 4
put("softmax.x", x); put("softmax.y", torch.softmax(x, -1))

# Attention (width 12, 3 heads, 10 tokens) and a full pre-norm block with mlp hidden 20
blk = Block(12, 3, mlp_ratio=20 / 12)
for p in blk.parameters():
    with torch.no_grad(): p.normal_(0, 0.3)
x = torch.randn(10, 12)
for k, v in blk.state_dict().items(): put("block." + k, v)
put("block.x", x); put("block.attn_y", blk.attn(x[None])[0]); put("block.y", blk(x[None])[0])

# Attention pooling forward + backward
pool = AttentionPool(12)
with torch.no_grad(): pool.query.normal_(0, 1)
h = torch.randn(10, 12, requires_grad=True); dp = torch.randn(12)
pooled = pool(h[None])[0]; pooled.backward(dp)
put("pool.query", pool.query); put("pool.h", h); put("pool.pooled", pooled); put("pool.dpooled", dp); put("pool.dh", h.grad)

# Conv 3x3 pad 1 (3 -> 4 channels, 6 x 5), nearest 2x upsample, linear interpolation 7 -> 23
conv = torch.nn.Conv2d(3, 4, 3, padding=1); x = torch.randn(3, 6, 5)
put("conv.weight", conv.weight); put("conv.bias", conv.bias); put("conv.x", x); put("conv.y", conv(x[None])[0])
put("up.x", x); put("up.y", F.interpolate(x[None], scale_factor=2, mode="nearest")[0])
x = torch.randn(2, 7)
put("interp.x", x); put("interp.y", F.interpolate(x[None], size=23, mode="linear", align_corners=False)[0])

out = {k: v for k, v in t.items()}
out["dtype.f16"] = t["linear.x"].to(torch.float16)
out["dtype.bf16"] = t["linear.x"].to(torch.bfloat16)
out["dtype.f16_as_f32"] = t["linear.x"].to(torch.float16).float()
out["dtype.bf16_as_f32"] = t["linear.x"].to(torch.bfloat16).float()
save_file(out, os.path.join(os.path.dirname(os.path.abspath(__file__)), "layers.safetensors"))
print(f"{len(out)} tensors")
