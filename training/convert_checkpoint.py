"""Convert a timm-style ViT ECG encoder checkpoint (MMCL's `ECGEncoder`) into a model bundle.

MMCL's signal encoder is timm's `VisionTransformer` over a [B, 1, leads, samples] "image" with
patches of (1, P). Its state dict (saved as {'model': state_dict}) holds

  patch_embed.proj.weight [W, 1, 1, P], patch_embed.proj.bias [W]
  cls_token [1, 1, W]                       (optional: a class token, prepended as token 0)
  pos_embed [1, T (+1), W]                  (the class position first when there is a class token)
  blocks.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}.{weight, bias}
  and one of three pooling layouts, chosen from the keys:
    norm.*                                  -> pooling "cls":  norm(x)[:, 0]      (global_pool=False)
    fc_norm.*                               -> pooling "mean": fc_norm(mean of patch tokens)
                                               (MMCL also keeps an unused norm.* here — its `del
                                               self.norm` is commented out — which is dropped with a
                                               note; likewise for attention_pool)
    fc_norm.* + attention_pool.{in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias}
                                            -> pooling "mha":  fc_norm(MHA(q = mean of patch tokens,
                                               k = v = patch tokens))             (attention_pool)
  head.weight/.bias                         (optional: mapped with --head, or dropped with --ignore head)
  projection.weight/.bias                   (optional: a CLIP projection; the embedding then is its output)

Conv2d with a (1, P) kernel and stride over lead-major input is our shared Linear(P, W) on tokens
t = lead·N + p, so conversion is renaming and reshaping. The input length comes from pos_embed
(T = leads · samples / P). Every tensor must map somewhere: unmapped keys are refused (name them
with --ignore PREFIX to drop them knowingly). Layouts without a class token and with `norm` only
(and optionally `pool.query`) convert to this project's own attention pooling, as before.

The attention-head count is not in the weights. It is read from the checkpoint's `args`
(`num_heads`) when the file has them, else from --heads (checked against them and against the
width), else the preset's value (mmcl: 6).

    python training/convert_checkpoint.py --checkpoint mmcl.pth --preset mmcl --out assets/models/mmcl-ecg
    python training/convert_checkpoint.py --random-mmcl --out /tmp/published \\
        [--golden /tmp/published/golden.safetensors]   # randomly initialised published size
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ecg2cmr_train.bundle import STANDARD_LEADS, load_bundle, synthetic_inputs, write_bundle  # noqa: E402
from ecg2cmr_train.model import ECGEncoder  # noqa: E402


class ConversionError(ValueError):
    pass


# Preprocessing presets: the op lists of the published systems (docs/model-bundle.md).
def preset_ops(name: str, rate: float, samples: int) -> list:
    if name == "mmcl":
        # MMCL's utils/preprocessing.py `process_ecg` on the whole 10 s record: clamp at ±4 SD of
        # all leads together (around 0), ALS baseline per lead (λ 1e7, p 0.3, 5 iterations),
        # z-score per lead group [0:3], [3:6], [6:12]; then its evaluation transform
        # `CropResizing(fixed_crop_len=input_size[-1], start_idx=0)` (datasets/EvalECGDataset.py)
        # takes the first samples. UK Biobank ECGs are already 500 Hz, so MMCL does not resample.
        return [{"op": "resample", "rate": rate},
                {"op": "sigmaClip", "sigmas": 4.0, "scope": "record"},
                {"op": "baselineRemoval", "method": "als", "lambda": 1e7, "p": 0.3, "iterations": 5},
                {"op": "normalise", "mode": "zscore-group",
                 "groups": [["I", "II", "III"], ["aVR", "aVL", "aVF"], ["V1", "V2", "V3", "V4", "V5", "V6"]]},
                {"op": "cropOrPad", "sampleCount": samples, "align": "start"}]
    if name == "cardiacnets":
        return [{"op": "resample", "rate": rate},
                {"op": "baselineRemoval", "method": "median", "windowsSeconds": [0.2, 0.6]},
                {"op": "waveletDenoise", "wavelet": "db6"},
                {"op": "savgol", "windowLength": 15, "polyorder": 3},
                {"op": "cropOrPad", "sampleCount": samples},
                {"op": "normalise", "mode": "minmax"}]
    if name == "default":
        return [{"op": "resample", "rate": rate},
                {"op": "baselineRemoval", "method": "median", "windowsSeconds": [0.2, 0.6]},
                {"op": "cropOrPad", "sampleCount": samples},
                {"op": "normalise", "mode": "zscore"}]
    raise ConversionError(f"unknown preset '{name}' (mmcl, cardiacnets, default)")


PRESET_HEADS = {"mmcl": 6}
PRESET_RATE = {"mmcl": 500.0, "cardiacnets": 250.0}


def random_mmcl_state_dict(width=384, depth=3, heads=6, leads=12, samples=5000, patch=100,
                           mlp_ratio=4, seed=0, pooling="attention") -> dict:
    """A randomly initialised state dict in the timm layout. pooling "attention": this project's
    legacy layout (no class token, norm + pool.query); "cls" / "mean" / "mha": MMCL's layouts
    (class token; norm, fc_norm, fc_norm + attention_pool)."""
    g = torch.Generator().manual_seed(seed)
    t = leads * (samples // patch)
    hidden = width * mlp_ratio

    def rn(*shape, std=0.02):
        return torch.randn(*shape, generator=g) * std

    cls = pooling != "attention"
    sd = {"patch_embed.proj.weight": rn(width, 1, 1, patch, std=0.1), "patch_embed.proj.bias": rn(width),
          "pos_embed": rn(1, t + cls, width, std=0.5)}
    if cls:
        sd["cls_token"] = rn(1, 1, width, std=0.5)
    for i in range(depth):
        p = f"blocks.{i}."
        sd.update({p + "norm1.weight": 1 + rn(width, std=0.1), p + "norm1.bias": rn(width),
                   p + "attn.qkv.weight": rn(3 * width, width, std=0.05), p + "attn.qkv.bias": rn(3 * width),
                   p + "attn.proj.weight": rn(width, width, std=0.05), p + "attn.proj.bias": rn(width),
                   p + "norm2.weight": 1 + rn(width, std=0.1), p + "norm2.bias": rn(width),
                   p + "mlp.fc1.weight": rn(hidden, width, std=0.05), p + "mlp.fc1.bias": rn(hidden),
                   p + "mlp.fc2.weight": rn(width, hidden, std=0.05), p + "mlp.fc2.bias": rn(width)})
    if pooling in ("attention", "cls"):
        sd["norm.weight"], sd["norm.bias"] = 1 + rn(width, std=0.1), rn(width)
    else:
        sd["fc_norm.weight"], sd["fc_norm.bias"] = 1 + rn(width, std=0.1), rn(width)
    if pooling == "attention":
        sd["pool.query"] = rn(width, std=1.0)
    if pooling == "mha":
        sd.update({"attention_pool.in_proj_weight": rn(3 * width, width, std=0.05),
                   "attention_pool.in_proj_bias": rn(3 * width),
                   "attention_pool.out_proj.weight": rn(width, width, std=0.05),
                   "attention_pool.out_proj.bias": rn(width)})
    return sd


_KNOWN_ROOTS = ("patch_embed", "pos_embed", "blocks", "norm", "fc_norm", "cls_token", "pool", "attn_pool",
                "attention_pool", "head", "projection")


def load_checkpoint(path: str, trust: bool = False) -> tuple[dict, dict]:
    """(state dict, args dict) from a .pth; `args` is the checkpoint's training arguments if any."""
    try:
        ck = torch.load(path, map_location="cpu", weights_only=not trust)
    except Exception as e:  # noqa: BLE001 — pickled objects (argparse.Namespace …) need trust
        raise ConversionError(f"{path}: cannot be read with weights_only=True ({str(e).splitlines()[0]}); "
                              "if you trust the file, pass --trust-checkpoint") from None
    args = {}
    if isinstance(ck, dict) and "args" in ck:
        a = ck["args"]
        args = vars(a) if hasattr(a, "__dict__") else (dict(a) if isinstance(a, dict) else {})
    return ck, args


def unwrap(sd: dict) -> dict:
    for key in ("model", "state_dict", "model_state_dict"):
        if key in sd and isinstance(sd[key], dict):
            sd = sd[key]
    prefixes = ("module.", "encoder.", "signal_encoder.", "ecg_encoder.")
    out = {}
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor):
            continue
        changed = True
        while changed:
            changed = False
            for p in prefixes:
                if k.startswith(p) and k[len(p):].startswith(_KNOWN_ROOTS):
                    k, changed = k[len(p):], True
                    break
        out[k] = v
    return out


def detect_pooling(sd: dict) -> str:
    has_cls = "cls_token" in sd
    if "attention_pool.in_proj_weight" in sd:
        return "mha"
    if "fc_norm.weight" in sd:
        return "mean"
    if has_cls and "norm.weight" in sd and not any(k in sd for k in ("pool.query", "attn_pool.query")):
        return "cls"
    if "norm.weight" in sd:
        return "attention"
    raise ConversionError("no final norm ('norm.*' or 'fc_norm.*'): cannot tell the pooling layout")


def parse_head_spec(spec: str) -> dict:
    """NAME:KIND:id1,id2,… ; regression outputs as id=MEAN/STD (the de-standardisation)."""
    try:
        name, kind, ids = spec.split(":", 2)
    except ValueError:
        raise ConversionError(f"--head '{spec}': expected NAME:KIND:id1,id2,…") from None
    if kind not in ("sigmoid", "softmax", "regression"):
        raise ConversionError(f"--head '{spec}': kind must be sigmoid, softmax or regression")
    outputs = []
    for item in ids.split(","):
        oid, _, stats = item.partition("=")
        o = {"id": oid, "label": oid}
        if kind == "regression":
            try:
                mean, std = (float(v) for v in stats.split("/"))
            except ValueError:
                raise ConversionError(f"--head '{spec}': regression output '{oid}' needs id=MEAN/STD "
                                      "(the training target's mean and standard deviation)") from None
            if not std > 0:
                raise ConversionError(f"--head '{spec}': std of '{oid}' must be > 0")
            o.update(mean=mean, std=std)
        elif stats:
            raise ConversionError(f"--head '{spec}': '=MEAN/STD' only applies to regression heads")
        outputs.append(o)
    return {"name": name, "kind": kind, "outputs": outputs}


def convert(sd: dict, leads: int = 12, heads: int | None = None, head_specs=None, ignore=(),
            pooling: str | None = None, eps: float = 1e-6, notes: list | None = None):
    """timm/MMCL state dict -> (ECGEncoder with our names, head manifest entries).

    Raises ConversionError for anything that does not map exactly (including unmapped keys).
    What was knowingly left out is appended to `notes` (printed by the command)."""
    notes = notes if notes is not None else []
    sd = unwrap(sd)
    ignore = tuple(ignore)
    dropped = [k for k in sd if k.startswith(ignore)] if ignore else []
    sd = {k: v for k, v in sd.items() if k not in dropped}
    used = set()

    def take(k):
        if k not in sd:
            raise ConversionError(f"missing tensor '{k}'")
        used.add(k)
        return sd[k].float()

    if "patch_embed.proj.weight" not in sd:
        raise ConversionError("no 'patch_embed.proj.weight': not a timm-style ViT signal encoder")
    w = take("patch_embed.proj.weight")
    if w.ndim != 4 or w.shape[1] != 1 or w.shape[2] != 1:
        raise ConversionError(f"patch_embed.proj.weight has shape {list(w.shape)}, expected [W, 1, 1, P] (one input channel, (1, P) patches)")
    width, patch = w.shape[0], w.shape[3]
    found = detect_pooling(sd)
    if pooling and pooling != found:
        raise ConversionError(f"--pooling {pooling} disagrees with the checkpoint's keys, which are the '{found}' layout")
    pooling = found
    class_token = "cls_token" in sd
    if pooling in ("mean", "mha") and "norm.weight" in sd:
        # MMCL's ECGEncoder keeps `norm` under global pooling (its `del self.norm` is commented out)
        # but forward_features never reads it: fc_norm normalises the pooled vector instead.
        unused = [k for k in ("norm.weight", "norm.bias") if k in sd]
        sd = {k: v for k, v in sd.items() if k not in unused}
        notes.append(f"{' and '.join(unused)} unused: under global pooling ('{pooling}') MMCL's forward_features "
                     "normalises the pooled vector with fc_norm, so the final 'norm' is not part of the model")
    block_ids = sorted({int(k.split(".")[1]) for k in sd if k.startswith("blocks.")})
    depth = len(block_ids)
    if depth == 0 or block_ids != list(range(depth)):
        raise ConversionError(f"blocks {block_ids} are not 0…{depth - 1}")
    pos = take("pos_embed").reshape(-1, width)
    tokens = pos.shape[0] - (1 if class_token else 0)
    if tokens <= 0 or tokens % leads:
        raise ConversionError(f"pos_embed has {pos.shape[0]} positions{' (one for the class token)' if class_token else ''}: "
                              f"{tokens} patch positions are not a multiple of {leads} leads")
    samples = tokens // leads * patch
    qkv = sd.get("blocks.0.attn.qkv.weight")
    if qkv is None or tuple(qkv.shape) != (3 * width, width):
        raise ConversionError(f"blocks.0.attn.qkv.weight has shape {None if qkv is None else list(qkv.shape)}, expected [{3 * width}, {width}]")
    hidden = sd["blocks.0.mlp.fc1.weight"].shape[0]
    if heads is None:
        raise ConversionError("the attention-head count is not in the weights: pass --heads (or --preset mmcl)")
    if heads <= 0 or width % heads:
        raise ConversionError(f"{heads} attention heads do not divide width {width}")
    proj_dim = sd["projection.weight"].shape[0] if "projection.weight" in sd else 0
    head_specs = list(head_specs or [])
    head_sizes = {h["name"]: len(h["outputs"]) for h in head_specs}
    enc = ECGEncoder(leads, samples, patch, width, depth, heads, hidden / width, proj_dim, head_sizes, eps,
                     class_token=class_token, pooling=pooling)
    new = {"encoder.patch_embed.weight": w.reshape(width, patch), "encoder.patch_embed.bias": take("patch_embed.proj.bias"),
           "encoder.pos_embed": pos}
    if class_token:
        new["encoder.cls_token"] = take("cls_token").reshape(width)
    for i in range(depth):
        for part in ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2"):
            for t in ("weight", "bias"):
                k = f"blocks.{i}.{part}.{t}"
                new["encoder." + k] = take(k)
    if pooling in ("attention", "cls"):
        new["encoder.norm.weight"], new["encoder.norm.bias"] = take("norm.weight"), take("norm.bias")
    else:
        new["encoder.fc_norm.weight"], new["encoder.fc_norm.bias"] = take("fc_norm.weight"), take("fc_norm.bias")
    if pooling == "attention":
        qk = next((k for k in ("pool.query", "attn_pool.query") if k in sd), None)
        new["pool.query"] = take(qk).reshape(width) if qk else torch.zeros(width)
    if pooling == "mha":
        ipw = take("attention_pool.in_proj_weight")
        if tuple(ipw.shape) != (3 * width, width):
            raise ConversionError(f"attention_pool.in_proj_weight has shape {list(ipw.shape)}, expected [{3 * width}, {width}] "
                                  "(separate q/k/v projections are not supported)")
        new["pool.in_proj_weight"], new["pool.in_proj_bias"] = ipw, take("attention_pool.in_proj_bias")
        new["pool.out_proj.weight"] = take("attention_pool.out_proj.weight")
        new["pool.out_proj.bias"] = take("attention_pool.out_proj.bias")
    if proj_dim:
        new["projection.weight"], new["projection.bias"] = take("projection.weight"), take("projection.bias")
    if head_specs:
        hw, hb = take("head.weight"), take("head.bias")
        total = sum(head_sizes.values())
        if hw.shape != (total, width):
            raise ConversionError(f"head.weight has shape {list(hw.shape)}; the --head groups need [{total}, {width}]")
        row = 0
        for h in head_specs:
            n = len(h["outputs"])
            new[f"heads.{h['name']}.weight"], new[f"heads.{h['name']}.bias"] = hw[row:row + n], hb[row:row + n]
            row += n
    unmapped = sorted(set(sd) - used)
    if unmapped:
        hint = " (map head.* with --head NAME:KIND:ids, or drop it with --ignore head)" if any(k.startswith("head.") for k in unmapped) else ""
        raise ConversionError(f"{len(unmapped)} checkpoint tensors do not map to the bundle: {', '.join(unmapped[:12])}"
                              f"{' …' if len(unmapped) > 12 else ''}{hint}; pass --ignore PREFIX to drop tensors knowingly")
    enc.load_state_dict(new, strict=True)   # raises on any missing/extra
    return enc.eval(), head_specs


def gradcam_block(c: dict) -> int:
    return c["depth"] - 2 if c["pooling"] == "cls" and c["depth"] >= 2 else c["depth"] - 1


def resolve_heads(cli: int | None, args: dict, preset: str | None) -> int | None:
    stored = args.get("num_heads") if args else None
    if stored is not None:
        stored = int(stored)
        if cli is not None and cli != stored:
            raise ConversionError(f"--heads {cli} disagrees with the checkpoint's args.num_heads = {stored}")
        return stored
    if cli is not None:
        return cli
    return PRESET_HEADS.get(preset or "")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="PyTorch checkpoint (.pth/.pt): {'model': state_dict} or a state dict")
    src.add_argument("--random-mmcl", action="store_true", help="randomly initialised published-size encoder")
    ap.add_argument("--random-pooling", default="attention", choices=["attention", "cls", "mean", "mha"],
                    help="layout of --random-mmcl (default: the legacy attention-pooling layout)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--id", default=None)
    ap.add_argument("--preset", choices=["mmcl", "cardiacnets", "default"], default=None,
                    help="preprocessing op list (and, for mmcl, 500 Hz and 6 heads unless told otherwise)")
    ap.add_argument("--heads", type=int, default=None, help="attention heads (checked against the checkpoint's args)")
    ap.add_argument("--pooling", choices=["attention", "cls", "mean", "mha"], default=None,
                    help="expected pooling layout (checked against the keys; they decide)")
    ap.add_argument("--leads", type=int, default=12)
    ap.add_argument("--sampling-rate", type=float, default=None, help="Hz (default: preset's, else 500)")
    ap.add_argument("--layer-norm-eps", type=float, default=1e-6)
    ap.add_argument("--head", action="append", default=[],
                    help="NAME:KIND:id1,id2,… for rows of the checkpoint's head.weight/head.bias (in order); "
                         "regression outputs as id=MEAN/STD")
    ap.add_argument("--ignore", action="append", default=[], help="drop checkpoint tensors whose name starts with this")
    ap.add_argument("--trust-checkpoint", action="store_true", help="torch.load with weights_only=False")
    ap.add_argument("--preprocessing", default=None, help="JSON list of preprocessing ops (overrides --preset)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--golden", default=None, help="also write golden vectors (2 synthetic inputs)")
    args = ap.parse_args(argv)

    try:
        if args.random_mmcl:
            sd, ck_args = random_mmcl_state_dict(seed=args.seed, pooling=args.random_pooling), {"num_heads": 6}
        else:
            sd, ck_args = load_checkpoint(args.checkpoint, args.trust_checkpoint)
        head_specs = [parse_head_spec(s) for s in args.head]
        heads = resolve_heads(args.heads, ck_args, args.preset)
        notes = []
        enc, head_specs = convert(sd, args.leads, heads, head_specs, args.ignore, args.pooling, args.layer_norm_eps,
                                  notes=notes)
        for n in notes:
            print(f"convert_checkpoint: {n}", file=sys.stderr)
    except ConversionError as e:
        print(f"convert_checkpoint: {e}", file=sys.stderr)
        sys.exit(2)
    samples = enc.config["samples"]
    rate = args.sampling_rate or PRESET_RATE.get(args.preset or "", 500.0)
    prep = json.loads(args.preprocessing) if args.preprocessing else preset_ops(args.preset or "default", rate, samples)
    bid = args.id or ("random-published" if args.random_mmcl else Path(args.out).name)
    fields = {"id": bid,
              "displayName": "Randomly initialised published-size encoder (untrained)" if args.random_mmcl
              else f"Converted encoder {bid}",
              "synthetic": bool(args.random_mmcl),
              "disclaimer": "Random weights: for engine parity and benchmarks only." if args.random_mmcl
              else "Converted research checkpoint. Not validated for clinical use.",
              "input": {"leads": STANDARD_LEADS[:args.leads], "samplingRate": rate,
                        "sampleCount": samples, "preprocessing": prep},
              "heads": head_specs,
              # With class-token pooling the last block's patch rows do not reach the output: Grad-CAM
              # reads the block before (the last block's input), as is usual for ViTs.
              "gradcam": {"layer": f"encoder.blocks.{gradcam_block(enc.config)}"},
              "convertedFrom": "random MMCL-layout state dict" if args.random_mmcl else os.path.basename(args.checkpoint)}
    manifest = write_bundle(args.out, enc, manifest_fields=fields)
    c = enc.config
    print(f"wrote {args.out}: {enc.encoder.tokens} tokens{' + class token' if c['class_token'] else ''}, width {c['width']}, "
          f"depth {c['depth']}, {c['heads']} heads, pooling {c['pooling']}, {samples} samples at {rate:g} Hz")
    if args.golden:
        from ecg2cmr_train.bundle import write_golden
        enc2, _, _ = load_bundle(args.out)          # round trip through the written files
        x = synthetic_inputs(args.leads, samples, rate, 2, args.seed + 1)
        write_golden(args.golden, enc2, None, manifest, x, [0, 1])
        print(f"wrote {args.golden}")


if __name__ == "__main__":
    main()
