"""Model / bundle / converter tests (fast: tiny layouts only)."""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from ecg2cmr_train.bundle import load_bundle, random_bundle, synthetic_inputs, write_bundle, write_golden  # noqa: E402
from ecg2cmr_train.model import ddim_timesteps, gradcam, seeded_gaussian  # noqa: E402
import convert_checkpoint  # noqa: E402


def test_bundle_round_trip_and_golden(tmp_path):
    enc, gen, fields = random_bundle("tiny", seed=3)
    manifest = write_bundle(tmp_path / "b", enc, generator=gen, manifest_fields=fields)
    assert manifest["encoder"]["width"] == 48 and manifest["generator"]["views"][1]["size"] == 24
    on_disk = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert len(on_disk["weights"][0]["sha256"]) == 64
    enc2, gen2, m2 = load_bundle(tmp_path / "b")
    x = torch.from_numpy(synthetic_inputs(12, 500, 50, 1)[0])
    with torch.no_grad():
        a, b = enc(x[None]), enc2(x[None])
    assert torch.equal(a["embedding"], b["embedding"])
    path = write_golden(tmp_path / "g.safetensors", enc2, gen2, m2, x[None].numpy(), [5])
    from safetensors.numpy import load_file
    g = load_file(str(path))
    assert g["case0.gen.sax"].shape == (4, 16, 16) and g["case0.gradcam.risk.cad"].shape == (12, 500)
    assert np.array_equal(g["case0.gen.noise"], seeded_gaussian(5, 16))


def test_manifest_heads_must_match_weights(tmp_path):
    enc, gen, fields = random_bundle("tiny")
    fields["heads"][0]["outputs"].pop()
    try:
        write_bundle(tmp_path / "b", enc, generator=gen, manifest_fields=fields)
    except ValueError as e:
        assert "outputs in manifest" in str(e)
    else:
        raise AssertionError("mismatched heads accepted")


def test_gradcam_is_normalised_and_nonnegative():
    enc, _, _ = random_bundle("tiny", seed=1)
    x = torch.from_numpy(synthetic_inputs(12, 500, 50, 1)[0])
    cam = gradcam(enc, x, "encoder.blocks.1", "risk", 0)
    assert cam.shape == (12, 500) and cam.min() >= 0 and abs(float(cam.max()) - 1) < 1e-6


def test_seeded_gaussian_and_timesteps():
    n = seeded_gaussian(123, 20000)
    assert abs(n.mean()) < 0.03 and abs(n.std() - 1) < 0.03
    assert np.array_equal(seeded_gaussian(123, 7), n[:7])
    ts = ddim_timesteps(1000, 50)
    assert ts[0] == 999 and ts[-1] == 0 and len(ts) == 50 and all(a > b for a, b in zip(ts, ts[1:]))


def timm_style_forward(sd, x, heads):
    """Independent MMCL/timm forward on the original state dict (Conv2d patch embedding)."""
    w = sd["patch_embed.proj.weight"]
    p = w.shape[-1]
    h = F.conv2d(x[None, None], w, sd["patch_embed.proj.bias"], stride=(1, p))     # [1, W, L, N]
    h = h.flatten(2).transpose(1, 2) + sd["pos_embed"]
    width = w.shape[0]
    i = 0
    while f"blocks.{i}.norm1.weight" in sd:
        b = lambda n: sd[f"blocks.{i}.{n}"]  # noqa: E731
        y = F.layer_norm(h, (width,), b("norm1.weight"), b("norm1.bias"), 1e-6)
        qkv = F.linear(y, b("attn.qkv.weight"), b("attn.qkv.bias")).reshape(1, -1, 3, heads, width // heads).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        h = h + F.linear(att.transpose(1, 2).reshape(1, -1, width), b("attn.proj.weight"), b("attn.proj.bias"))
        y = F.layer_norm(h, (width,), b("norm2.weight"), b("norm2.bias"), 1e-6)
        h = h + F.linear(F.gelu(F.linear(y, b("mlp.fc1.weight"), b("mlp.fc1.bias"))), b("mlp.fc2.weight"), b("mlp.fc2.bias"))
        i += 1
    h = F.layer_norm(h, (width,), sd["norm.weight"], sd["norm.bias"], 1e-6)[0]
    a = torch.softmax(h @ sd["pool.query"] / math.sqrt(width), 0)
    return (a[:, None] * h).sum(0)


def test_converter_matches_timm_layout_forward(tmp_path):
    sd = convert_checkpoint.random_mmcl_state_dict(width=48, depth=2, heads=3, samples=500, patch=50, seed=4)
    x = torch.from_numpy(synthetic_inputs(12, 500, 50, 1)[0])
    ref = timm_style_forward(sd, x, heads=3)
    convert_checkpoint.main(["--checkpoint", _save(tmp_path, sd), "--out", str(tmp_path / "c"), "--heads", "3",
                             "--sampling-rate", "50", "--id", "conv-test"])
    enc, gen, manifest = load_bundle(tmp_path / "c")
    assert gen is None and manifest["encoder"]["projectionDim"] == 0 and manifest["input"]["sampleCount"] == 500
    with torch.no_grad():
        out = enc(x[None])
    assert torch.allclose(out["embedding"][0], ref, atol=1e-5)


def _save(tmp_path, sd):
    p = tmp_path / "ckpt.pth"
    torch.save({"model": {"module." + k: v for k, v in sd.items()}}, p)
    return str(p)
