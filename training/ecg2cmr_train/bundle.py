"""Write model bundles and golden vectors (docs/model-bundle.md is the contract).

    from ecg2cmr_train.bundle import write_bundle, write_golden
    manifest = write_bundle("assets/models/demo-v1", encoder, generator=gen,
                            manifest_fields={"id": "demo-v1", "input": {...}, "heads": [...], ...})
    write_golden("Tests/CardiacModelsTests/Fixtures/golden-demo-v1.safetensors",
                 encoder, gen, manifest, inputs=x[:2], seeds=[1, 2])

`write_bundle` fills the architecture sections ("encoder", "generator" sizes, "gradcam") from the
modules themselves and takes everything else (id, displayName, synthetic, disclaimer, input,
heads with outputs / kinds / units / metrics, generator.diffusion, generator.frames) from
`manifest_fields`; it checks that every head group in the manifest has as many outputs as the
module has rows. Tensors go to `model.safetensors`; its SHA-256 goes into the manifest.

For development without a trained model:

    python -m ecg2cmr_train.bundle --random --out /tmp/demo-random [--golden /tmp/golden.safetensors]
    python -m ecg2cmr_train.bundle --random --layout tiny --out DIR --golden FILE   # test fixture
    python -m ecg2cmr_train.bundle --random --layout tiny --gradcam-layer encoder.blocks.0 \
        --id random-tiny-block0 --out DIR --golden FILE      # Grad-CAM on the first block
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np
import torch
from safetensors.numpy import save_file

from .model import (AnatomyCMRGenerator, BeatECGEncoder, CMRGenerator, DiffusionSchedule, ECGEncoder,
                    FrameDecoder, LatentPrior, SizeCorrection, beat_gradcam, ddim_sample, generate_cine,
                    gradcam, seeded_gaussian)

# A risk output is weak — shown, never a confident finding or a flag — when its validation AUC is
# below this (docs/model-bundle.md). The one Python home; Swift's is RiskScore.weakValidationAUC.
WEAK_AUC = 0.65

STANDARD_LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
DEFAULT_DIFFUSION = {"steps": 1000, "betaStart": 1e-4, "betaEnd": 0.02, "samplingSteps": 50}


def _np(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().to(torch.float32).cpu().numpy())


def file_sha256(path: Path) -> str:
    """Lower-case hex SHA-256 of a file, read in 1 MB chunks (weights, caches, CMR series)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def bundle_tensors(encoder: ECGEncoder, generator: Optional[CMRGenerator] = None) -> Dict[str, np.ndarray]:
    """All bundle tensors by their contract names."""
    tensors = {k: _np(v) for k, v in encoder.state_dict().items()}
    if generator is not None:
        tensors.update({f"generator.{k}": _np(v) for k, v in generator.state_dict().items()})
    return tensors


def encoder_section(encoder) -> dict:
    c = encoder.config
    if isinstance(encoder, BeatECGEncoder):
        from .beats import RHYTHM_FEATURES
        out = {"type": "beatvit1d", "patchSize": c["patch"], "width": c["width"], "depth": c["depth"],
               "heads": c["heads"], "mlpRatio": c["mlp_ratio"], "layerNormEps": c["eps"],
               "projectionDim": c["proj_dim"], "pooling": "attention",
               "rhythmFeatures": list(RHYTHM_FEATURES)}
        if c.get("wide_hidden"):
            out["wide"] = {"hidden": c["wide_hidden"], "beatStride": c["wide_stride"], "inputs": encoder.wide.inputs}
        return out
    section = {"type": "vit1d", "patchSize": c["patch"], "width": encoder.encoder.patch_embed.out_features,
               "depth": c["depth"], "heads": c["heads"], "mlpRatio": c["mlp_ratio"],
               "layerNormEps": c["eps"], "projectionDim": c["proj_dim"], "pooling": c.get("pooling", "attention")}
    if c.get("class_token"):
        section["classToken"] = True
    return section


def generator_section(generator, fields: Optional[dict]) -> dict:
    fields = dict(fields or {})
    p = generator.prior
    anatomy = isinstance(generator, AnatomyCMRGenerator)
    # Key order is the manifest's: type and residualSize only for the anatomy generator.
    out = {"type": "anatomy", "latentSize": generator.latent, "residualSize": generator.residual} if anatomy \
        else {"latentSize": generator.latent}
    out.update({
        "views": [{"name": v, "size": generator.view_specs[v]["size"], "baseSize": generator.view_specs[v]["base"],
                   "channels": list(generator.view_specs[v]["channels"])} for v in generator.view_names],
        "prior": {"layers": p.layers, "hidden": p.hidden, "timeEmbedding": p.temb},
        "diffusion": {**DEFAULT_DIFFUSION, **fields.get("diffusion", {})},
        "frames": int(fields.get("frames", 50)),
    })
    if anatomy:
        for key in ("anatomy", "guidance", "pose", "informativeness"):
            if key in fields:
                out[key] = fields[key]
    return out


def _check_heads(encoder: ECGEncoder, heads: List[dict]) -> None:
    sizes = {name: h.out_features for name, h in encoder.heads.items()}
    named = [h["name"] for h in heads]
    if sorted(named) != sorted(sizes):
        raise ValueError(f"manifest head groups {named} != encoder head groups {list(sizes)}")
    for h in heads:
        if h.get("kind") not in ("sigmoid", "softmax", "regression"):
            raise ValueError(f"head {h['name']}: kind must be sigmoid, softmax or regression")
        if len(h["outputs"]) != sizes[h["name"]]:
            raise ValueError(f"head {h['name']}: {len(h['outputs'])} outputs in manifest, "
                             f"{sizes[h['name']]} rows in the weights")


def write_bundle(out_dir, encoder: ECGEncoder, decoders: Optional[Dict[str, FrameDecoder]] = None,
                 prior: Optional[LatentPrior] = None, latent_mean=None, latent_std=None,
                 manifest_fields: Optional[dict] = None, generator=None,
                 extra_tensors: Optional[Dict[str, np.ndarray]] = None) -> dict:
    """Write manifest.json + model.safetensors into out_dir (atomically per file); return the manifest.

    Either pass `generator` (a CMRGenerator) or the parts `decoders` ({"sax": …, "lax": …}),
    `prior`, `latent_mean`, `latent_std` ([2Z] each, order of `decoders`); or neither for an
    encoder-only bundle.
    """
    fields = copy.deepcopy(manifest_fields or {})
    if generator is None and decoders is not None:
        if prior is None:
            raise ValueError("decoders given without prior")
        first = next(iter(decoders.values()))
        generator = CMRGenerator(first.latent, prior.cond,
                                 {v: dict(size=d.size, base=d.base, channels=d.channels) for v, d in decoders.items()},
                                 prior.hidden, prior.layers, prior.temb)
        for v, d in decoders.items():
            generator.decoder(v).load_state_dict(d.state_dict())
        generator.prior.load_state_dict(prior.state_dict())
        if latent_mean is not None:
            generator.latent_mean.copy_(torch.as_tensor(np.asarray(latent_mean), dtype=torch.float32))
        if latent_std is not None:
            generator.latent_std.copy_(torch.as_tensor(np.asarray(latent_std), dtype=torch.float32))

    heads = fields.get("heads", [])
    _check_heads(encoder, heads)
    c = encoder.config
    manifest = {
        "formatVersion": 1,
        "id": fields.get("id", "unnamed"),
        "displayName": fields.get("displayName", fields.get("id", "unnamed")),
        "synthetic": bool(fields.get("synthetic", True)),
        "disclaimer": fields.get("disclaimer",
                                 "Trained on a synthetic cohort. Demonstration only — not for clinical use."),
        "weights": [],
        "input": fields.get("input", {"leads": STANDARD_LEADS[:c["leads"]], "samplingRate": 250,
                                      "sampleCount": c.get("samples", 2500),
                                      "preprocessing": [{"op": "resample", "rate": 250},
                                                        {"op": "cropOrPad", "sampleCount": c.get("samples", 2500)}]}),
        "encoder": encoder_section(encoder),
        "gradcam": fields.get("gradcam", {"layer": f"encoder.blocks.{c['depth'] - 1}"}),
        "heads": heads,
    }
    if len(manifest["input"]["leads"]) != c["leads"] or manifest["input"]["sampleCount"] != c.get("samples", manifest["input"]["sampleCount"]):
        raise ValueError("manifest input leads / sampleCount disagree with the encoder")
    if "beats" in fields.get("encoder", {}):
        manifest["encoder"]["beats"] = fields["encoder"]["beats"]
    if generator is not None:
        manifest["generator"] = generator_section(generator, fields.get("generator"))
    for key, value in fields.items():          # extra fields (modelCard, training, …) pass through
        if key != "encoder":
            manifest.setdefault(key, value)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors = bundle_tensors(encoder, generator)
    for k, v in (extra_tensors or {}).items():
        tensors[k] = np.ascontiguousarray(np.asarray(v, dtype=np.float32))
    weights = out / "model.safetensors"
    tmp = weights.with_suffix(".safetensors.tmp")
    save_file(tensors, str(tmp), metadata={"format": "pt", "bundle": manifest["id"]})
    os.replace(tmp, weights)
    manifest["weights"] = [{"file": weights.name, "sha256": file_sha256(weights)}]
    replace_manifest(out, manifest)
    return manifest


def replace_manifest(bundle_dir, manifest: dict) -> None:
    """Write a bundle's manifest.json beside it and rename it over the old one, so a reader sees
    the old manifest or the new one, never half of one."""
    d = Path(bundle_dir)
    tmp = d / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp, d / "manifest.json")


def size_correction(manifest: dict) -> Optional[SizeCorrection]:
    """The anatomy generator's `sizeCorrection` (None when the manifest has none), its output ids
    resolved to positions in the anatomy vector with their head's mean and std."""
    a = (manifest.get("generator") or {}).get("anatomy") or {}
    c = a.get("sizeCorrection")
    if c is None:
        return None
    outs = {o["id"]: o for h in manifest["heads"] if h["name"] == a["head"] for o in h["outputs"]}
    ids = list(a["outputs"])
    missing = [o for o in [c["by"], *c["scale"]] if o not in ids]
    if missing:
        raise ValueError(f"sizeCorrection names {missing}, not among the generator's anatomy outputs")
    return SizeCorrection(ids.index(c["by"]), [ids.index(o) for o in c["scale"]],
                          [outs[o].get("mean", 0.0) for o in ids], [outs[o].get("std", 1.0) for o in ids],
                          c["knotsMl"], c["factors"])


def load_bundle(bundle_dir) -> tuple:
    """Rebuild (encoder, generator or None, manifest) from a bundle directory (round-trip)."""
    from safetensors.numpy import load_file
    d = Path(bundle_dir)
    manifest = json.loads((d / "manifest.json").read_text())
    tensors = {}
    for w in manifest["weights"]:
        tensors.update(load_file(str(d / w["file"])))
    e, inp = manifest["encoder"], manifest["input"]
    head_sizes = {h["name"]: len(h["outputs"]) for h in manifest["heads"]}
    if e["type"] == "beatvit1d":
        b = e["beats"]
        wide = e.get("wide") or {}
        sigma = [h["name"] for h in manifest["heads"] if "uncertainty" in h]
        enc = BeatECGEncoder(len(inp["leads"]), b["preSamples"] + b["postSamples"], e["patchSize"],
                             len(e["rhythmFeatures"]), e["width"], e["depth"], e["heads"], e["mlpRatio"],
                             e.get("projectionDim", 0), head_sizes, e.get("layerNormEps", 1e-6),
                             wide_hidden=int(wide.get("hidden", 0)), wide_stride=int(wide.get("beatStride", 2)),
                             sigma_heads=sigma)
    else:
        enc = ECGEncoder(len(inp["leads"]), inp["sampleCount"], e["patchSize"], e["width"], e["depth"],
                         e["heads"], e["mlpRatio"], e.get("projectionDim", 0), head_sizes, e.get("layerNormEps", 1e-6),
                         class_token=bool(e.get("classToken", False)), pooling=e.get("pooling") or "attention")
    enc.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()
                         if not k.startswith("generator.") and not k.startswith("ood.")})
    gen = None
    if "generator" in manifest and manifest["generator"].get("type") == "anatomy":
        g = manifest["generator"]
        head_ids = [o["id"] for h in manifest["heads"] if h["name"] == g["anatomy"]["head"] for o in h["outputs"]]
        gen = AnatomyCMRGenerator(g["latentSize"] - g["residualSize"], g["residualSize"],
                                  e.get("projectionDim") or e["width"],
                                  {v["name"]: dict(size=v["size"], base=v["baseSize"], channels=v["channels"])
                                   for v in g["views"]},
                                  g["prior"]["hidden"], g["prior"]["layers"], g["prior"]["timeEmbedding"],
                                  anatomy_index=[head_ids.index(o) for o in g["anatomy"]["outputs"]],
                                  head_size=len(head_ids))
        gen.load_state_dict({k[len("generator."):]: torch.from_numpy(v) for k, v in tensors.items()
                             if k.startswith("generator.")})
        gen.size_correction = size_correction(manifest)
    elif "generator" in manifest:
        g = manifest["generator"]
        gen = CMRGenerator(g["latentSize"], e.get("projectionDim") or e["width"],
                           {v["name"]: dict(size=v["size"], base=v["baseSize"], channels=v["channels"]) for v in g["views"]},
                           g["prior"]["hidden"], g["prior"]["layers"], g["prior"]["timeEmbedding"])
        gen.load_state_dict({k[len("generator."):]: torch.from_numpy(v) for k, v in tensors.items()
                             if k.startswith("generator.")})
    return enc.eval(), (gen.eval() if gen is not None else None), manifest


def default_golden_phases(frames: int) -> List[float]:
    """Four phases spread over the cycle: k/F for k in {0, F/4, F/2, 3F/4} (rounded down)."""
    return [k / frames for k in sorted({0, frames // 4, frames // 2, (3 * frames) // 4})]


@torch.no_grad()
def _encode(encoder, x):
    return encoder(x.unsqueeze(0))


def _save_golden(path, tensors: Dict[str, np.ndarray], meta: Dict[str, str]) -> Path:
    """Atomic write of a golden-vector file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)
    return path


def write_golden(path, encoder: ECGEncoder, generator: Optional[CMRGenerator], manifest: dict,
                 inputs, seeds: Sequence[int], phases: Optional[Sequence[float]] = None,
                 gradcam_targets: Optional[Sequence[tuple]] = None) -> Path:
    """Golden vectors for the Swift engine, per case k (prefix `case{k}.`):

    input [L, S], pooled [W], embedding [D], head.<group> [n] (raw), gradcam.<group>.<output id>
    [L, S] for `gradcam_targets` (default: the first output of every group), and with a generator
    gen.noise [2Z] (= seeded_gaussian(seed, 2Z); the seed is in the file metadata as
    `case{k}.gen.seed`), gen.latent [2Z] (de-standardised), gen.phases [F'], gen.<view> [F', S, S].
    """
    encoder = encoder.eval()
    x_all = torch.as_tensor(np.asarray(inputs), dtype=torch.float32)
    if len(seeds) != x_all.shape[0]:
        raise ValueError("one seed per input case is required")
    layer = manifest["gradcam"]["layer"]
    heads = manifest["heads"]
    if gradcam_targets is None:
        gradcam_targets = [(h["name"], h["outputs"][0]["id"]) for h in heads if h["outputs"]]
    tensors: Dict[str, np.ndarray] = {}
    meta = {"bundle": manifest["id"], "cases": str(x_all.shape[0])}
    for k in range(x_all.shape[0]):
        x = x_all[k]
        p = f"case{k}."
        out = _encode(encoder, x)
        tensors[p + "input"] = _np(x)
        tensors[p + "pooled"] = _np(out["pooled"][0])
        tensors[p + "embedding"] = _np(out["embedding"][0])
        for name, v in out["heads"].items():
            tensors[p + f"head.{name}"] = _np(v[0])
        for group, oid in gradcam_targets:
            h = next(h for h in heads if h["name"] == group)
            idx = [o["id"] for o in h["outputs"]].index(oid)
            tensors[p + f"gradcam.{group}.{oid}"] = _np(gradcam(encoder, x, layer, group, idx))
        if generator is not None:
            g = manifest["generator"]
            gen = generator.eval()
            total = gen.latent * len(gen.view_names)
            noise = torch.from_numpy(seeded_gaussian(int(seeds[k]), total)).reshape(1, -1)
            sched = DiffusionSchedule(g["diffusion"]["steps"], g["diffusion"]["betaStart"], g["diffusion"]["betaEnd"])
            with torch.no_grad():
                xs = ddim_sample(gen.prior, sched, out["embedding"], noise, g["diffusion"]["samplingSteps"])
                z = gen.destandardise(xs)[0]
                ph = torch.tensor(list(phases) if phases is not None else default_golden_phases(g["frames"]),
                                  dtype=torch.float64)
                tensors[p + "gen.noise"] = _np(noise[0])
                tensors[p + "gen.latent"] = _np(z)
                tensors[p + "gen.phases"] = _np(ph.float())
                zs = gen.split(z)
                for v in gen.view_names:
                    tensors[p + f"gen.{v}"] = _np(gen.decode(v, zs[v], ph.float()))
            meta[p + "gen.seed"] = str(int(seeds[k]))
    return _save_golden(path, tensors, meta)


# ----------------------------------------------------------------------------------------------
# Randomly initialised bundles for development and for the engine's own test fixture

LAYOUTS = {
    # The demo layout of docs/model-bundle.md.
    "demo": dict(leads=12, samples=2500, rate=250, patch=125, width=128, depth=3, heads=4, mlp_ratio=4,
                 proj_dim=128, latent=64, views={"sax": dict(size=80, base=5, channels=[64, 48, 32, 24, 16]),
                                                 "lax": dict(size=96, base=6, channels=[64, 48, 32, 24, 16])},
                 prior_hidden=512, prior_layers=4, temb=64, sampling_steps=50, frames=50),
    # Small and deliberately different in every size (odd mlp ratio, no square sizes shared),
    # so the engine's test fixture stays a few hundred kB and exercises the manifest-driven code.
    "tiny": dict(leads=12, samples=500, rate=50, patch=25, width=48, depth=2, heads=3, mlp_ratio=2,
                 proj_dim=24, latent=8, views={"sax": dict(size=16, base=2, channels=[12, 10, 8, 6]),
                                               "lax": dict(size=24, base=3, channels=[12, 10, 8, 6])},
                 prior_hidden=40, prior_layers=3, temb=16, sampling_steps=12, frames=20),
}

RANDOM_HEADS = [
    {"name": "risk", "kind": "sigmoid", "outputs": [
        {"id": i, "label": l, "validationAUC": None, "weak": False, "bands": [0.2, 0.5]} for i, l in [
            ("cad", "Coronary artery disease"), ("hf", "Heart failure"), ("cm", "Cardiomyopathy"),
            ("ph", "Pulmonary hypertension"), ("pericarditis", "Pericarditis"), ("af", "Atrial fibrillation")]]},
    {"name": "cm_subtype", "kind": "softmax", "outputs": [
        {"id": "dcm", "label": "Dilated"}, {"id": "hcm", "label": "Hypertrophic"}, {"id": "rcm", "label": "Restrictive"}]},
    {"name": "phenotype", "kind": "regression", "outputs": [
        {"id": "lv_edv", "label": "LV end-diastolic volume", "unit": "mL", "mean": 150.0, "std": 30.0,
         "referenceRange": [100, 200], "validationR": None},
        {"id": "lv_ef", "label": "LV ejection fraction", "unit": "%", "mean": 60.0, "std": 7.0,
         "referenceRange": [52, 72], "validationR": None},
        {"id": "lv_mass", "label": "LV mass", "unit": "g", "mean": 120.0, "std": 25.0,
         "referenceRange": [80, 170], "validationR": None}]},
]


def random_bundle(layout: str = "demo", seed: int = 0, bundle_id: Optional[str] = None):
    """A randomly initialised (untrained!) encoder + generator of a layout, plus manifest fields."""
    L = LAYOUTS[layout]
    torch.manual_seed(seed)
    head_sizes = {h["name"]: len(h["outputs"]) for h in RANDOM_HEADS}
    enc = ECGEncoder(L["leads"], L["samples"], L["patch"], L["width"], L["depth"], L["heads"], L["mlp_ratio"],
                     L["proj_dim"], head_sizes)
    # Default init leaves pooling and heads nearly flat; scale them so Grad-CAM maps have structure.
    with torch.no_grad():
        enc.pool.query.normal_(0, 1.0)
        enc.encoder.pos_embed.normal_(0, 0.5)
    gen = CMRGenerator(L["latent"], L["proj_dim"], L["views"], L["prior_hidden"], L["prior_layers"], L["temb"])
    with torch.no_grad():
        # The untrained prior's ε̂ is far from the noise it should predict, so DDIM ends ~100× out of
        # scale; a small latent_std keeps the decoded frames out of sigmoid saturation.
        gen.latent_mean.normal_(0, 0.5)
        gen.latent_std.uniform_(0.01, 0.03)
        # PyTorch's default init makes an untrained decoder render an almost flat grey frame;
        # a wider init gives frames with structure so the PSNR parity test means something.
        for v in gen.view_names:
            for m in gen.decoder(v).modules():
                if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                    torch.nn.init.normal_(m.weight, 0.0, 1.2 / math.sqrt(m.weight[0].numel()))
    bid = bundle_id or f"random-{layout}"
    fields = {
        "id": bid, "displayName": f"Randomly initialised {layout} layout (untrained, development only)",
        "synthetic": True,
        "disclaimer": "Random weights: not a trained model. For engine development and tests only.",
        "input": {"leads": STANDARD_LEADS[:L["leads"]], "samplingRate": L["rate"], "sampleCount": L["samples"],
                  "preprocessing": [
                      {"op": "resample", "rate": L["rate"]},
                      {"op": "baselineRemoval", "method": "median", "windowsSeconds": [0.2, 0.6]},
                      {"op": "cropOrPad", "sampleCount": L["samples"]},
                      {"op": "normalise", "mode": "scale", "millivolts": 1.0, "clip": 8.0}]},
        "heads": copy.deepcopy(RANDOM_HEADS),
        "generator": {"diffusion": {**DEFAULT_DIFFUSION, "samplingSteps": L["sampling_steps"]}, "frames": L["frames"]},
    }
    return enc.eval(), gen.eval(), fields


def synthetic_inputs(leads: int, samples: int, rate: float, cases: int, seed: int = 0) -> np.ndarray:
    """ECG-like test inputs (periodic spikes + T waves + noise, in mV) — just numbers for parity."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / rate
    out = np.empty((cases, leads, samples), dtype=np.float32)
    for c in range(cases):
        hr = rng.uniform(50, 110) / 60.0
        phase = (t * hr + rng.uniform()) % 1.0
        for l in range(leads):
            amp = rng.uniform(-1.5, 1.5)
            qrs = amp * np.exp(-((phase - 0.3) / 0.015) ** 2)
            tw = 0.3 * amp * np.exp(-((phase - 0.6) / 0.06) ** 2)
            out[c, l] = qrs + tw + 0.05 * rng.standard_normal(samples)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--random", action="store_true", help="write a randomly initialised bundle (required)")
    ap.add_argument("--layout", choices=sorted(LAYOUTS), default="demo")
    ap.add_argument("--out", default=None, help="bundle directory to write")
    ap.add_argument("--refresh-golden", default=None, metavar="GOLDEN",
                    help="rewrite this beat-aware golden file from --bundle (same cases, seeds and Grad-CAM "
                         "targets), e.g. after a tool changed the bundle's manifest")
    ap.add_argument("--bundle", default=None, help="exported bundle directory (with --refresh-golden)")
    ap.add_argument("--id", default=None, help="bundle id (default random-<layout>)")
    ap.add_argument("--seed", type=int, default=0, help="torch seed of the random weights")
    ap.add_argument("--golden", default=None, help="also write golden vectors to this .safetensors file")
    ap.add_argument("--cases", type=int, default=2)
    ap.add_argument("--gradcam-layer", default=None,
                    help="Grad-CAM layer for the manifest (default: the last block, encoder.blocks.<depth-1>)")
    args = ap.parse_args(argv)
    if args.refresh_golden:
        if not args.bundle:
            ap.error("--refresh-golden needs --bundle")
        refresh_golden_v2(args.refresh_golden, args.bundle)
        print(f"rewrote {args.refresh_golden} from {args.bundle}")
        return
    if not args.random or not args.out:
        ap.error("only --random --out DIR is supported here; trained bundles come from the training pipeline")
    enc, gen, fields = random_bundle(args.layout, args.seed, args.id)
    if args.gradcam_layer:
        fields["gradcam"] = {"layer": args.gradcam_layer}
    manifest = write_bundle(args.out, enc, generator=gen, manifest_fields=fields)
    print(f"wrote {args.out} ({manifest['weights'][0]['sha256'][:12]}…)")
    if args.golden:
        L = LAYOUTS[args.layout]
        x = synthetic_inputs(L["leads"], L["samples"], L["rate"], args.cases, args.seed + 1)
        targets = [(h["name"], o["id"]) for h in fields["heads"] for o in h["outputs"]] if args.layout == "tiny" else None
        write_golden(args.golden, enc, gen, manifest, x, [1000 + k for k in range(args.cases)], gradcam_targets=targets)
        print(f"wrote {args.golden}")



def write_golden_v2(path, encoder: BeatECGEncoder, generator: Optional[AnatomyCMRGenerator], manifest: dict,
                    cases: Sequence[dict], seeds: Sequence[int], phases: Optional[Sequence[float]] = None,
                    gradcam_targets: Optional[Sequence[tuple]] = None) -> Path:
    """Golden vectors of a beat-aware bundle, per case k (prefix `case{k}.`):

    input [L, S] (prepared ECG), peaks [n] (R-peak sample indices, as float), beats [L, beat],
    rhythm [R], pooled, embedding, head.<group>, log_sigma.<group> (heteroscedastic groups), gradcam.<group>.<output> [L, S] and
    gradcam_rhythm.<group>.<output> [1]; with a generator gen.noise [2R], gen.residual [2R],
    gen.pose [2, 3], gen.phases, gen.<view> [F', S, S] (posed frames).
    `cases`: dicts with input, peaks, beats, rhythm (beats.beat_features of the prepared input)."""
    encoder = encoder.eval()
    layer = manifest["gradcam"]["layer"]
    heads = manifest["heads"]
    b = manifest["encoder"]["beats"]
    if gradcam_targets is None:
        gradcam_targets = [(h["name"], h["outputs"][0]["id"]) for h in heads if h["outputs"]]
    tensors: Dict[str, np.ndarray] = {}
    meta = {"bundle": manifest["id"], "cases": str(len(cases))}
    for k, case in enumerate(cases):
        p = f"case{k}."
        x = torch.as_tensor(np.asarray(case["input"]), dtype=torch.float32)
        beats = torch.as_tensor(np.asarray(case["beats"]), dtype=torch.float32)
        rhythm = torch.as_tensor(np.asarray(case["rhythm"]), dtype=torch.float32)
        with torch.no_grad():
            out = encoder({"beats": beats.unsqueeze(0), "rhythm": rhythm.unsqueeze(0)})
        tensors[p + "input"] = _np(x)
        tensors[p + "peaks"] = np.asarray(case["peaks"], dtype=np.float32).reshape(-1)
        tensors[p + "beats"] = _np(beats)
        tensors[p + "rhythm"] = _np(rhythm)
        tensors[p + "pooled"] = _np(out["pooled"][0])
        tensors[p + "embedding"] = _np(out["embedding"][0])
        for name, v in out["heads"].items():
            tensors[p + f"head.{name}"] = _np(v[0])
        for name, v in out.get("log_sigma", {}).items():
            tensors[p + f"log_sigma.{name}"] = _np(v[0])
        for group, oid in gradcam_targets:
            h = next(h for h in heads if h["name"] == group)
            idx = [o["id"] for o in h["outputs"]].index(oid)
            cam, rv = beat_gradcam(encoder, beats, rhythm, case["peaks"], x.shape[1], b["preSamples"], layer, group, idx)
            tensors[p + f"gradcam.{group}.{oid}"] = _np(cam)
            tensors[p + f"gradcam_rhythm.{group}.{oid}"] = np.array([rv], dtype=np.float32)
        if generator is not None:
            g = manifest["generator"]
            sched = DiffusionSchedule(g["diffusion"]["steps"], g["diffusion"]["betaStart"], g["diffusion"]["betaEnd"])
            ph = torch.tensor(list(phases) if phases is not None else default_golden_phases(g["frames"]),
                              dtype=torch.float64)
            anat = out["heads"][g["anatomy"]["head"]][0]
            res = generate_cine(generator.eval(), sched, g["diffusion"]["samplingSteps"], float(g["guidance"]),
                                anat, out["embedding"][0], int(seeds[k]), ph.float(),
                                g["pose"]["rotationDegrees"], g["pose"]["shiftPixels"])
            tensors[p + "gen.noise"] = np.asarray(res["noise"], dtype=np.float32)
            tensors[p + "gen.residual"] = np.asarray(res["residual"], dtype=np.float32)
            tensors[p + "gen.pose"] = np.asarray(res["pose"], dtype=np.float32)
            tensors[p + "gen.phases"] = _np(ph.float())
            for v in generator.view_names:
                tensors[p + f"gen.{v}"] = np.ascontiguousarray(res["frames"][v].astype(np.float32))
            meta[p + "gen.seed"] = str(int(seeds[k]))
    return _save_golden(path, tensors, meta)


def refresh_golden_v2(golden_path, bundle_dir) -> Path:
    """Rewrite a beat-aware golden file from an exported bundle: the same cases (prepared input,
    peaks, beats, rhythm), generator seeds and Grad-CAM targets as the file holds, every output
    recomputed by the bundle as loaded (its manifest's sizeCorrection included)."""
    from safetensors import safe_open
    encoder, generator, manifest = load_bundle(bundle_dir)
    with safe_open(str(golden_path), framework="numpy") as f:
        meta = f.metadata() or {}
        keys = set(f.keys())
        n = int(meta.get("cases", "0"))
        cases = [{k: f.get_tensor(f"case{i}.{k}") for k in ("input", "peaks", "beats", "rhythm")} for i in range(n)]
    if meta.get("bundle") != manifest["id"]:
        raise ValueError(f"{golden_path} holds golden vectors of bundle {meta.get('bundle')!r}, not {manifest['id']!r}")
    for c in cases:
        c["peaks"] = c["peaks"].astype(np.int64)
    seeds = [int(meta[f"case{i}.gen.seed"]) for i in range(n)] if generator is not None else [0] * n
    targets = {tuple(k[len("case0.gradcam."):].split(".", 1)) for k in keys if k.startswith("case0.gradcam.")}
    order = [(h["name"], o["id"]) for h in manifest["heads"] for o in h["outputs"]]
    targets = sorted(targets, key=lambda t: order.index(t))
    return write_golden_v2(golden_path, encoder, generator, manifest, cases, seeds, gradcam_targets=targets)


if __name__ == "__main__":
    main()
