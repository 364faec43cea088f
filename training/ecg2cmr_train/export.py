"""Assemble the trained parts into a model bundle (engine's bundle.py) plus golden vectors."""
from __future__ import annotations

import json

import numpy as np
import torch

from . import data as D
from .bundle import STANDARD_LEADS, write_bundle, write_golden
from .config import resolve
from .loop import log
from .model import CMRGenerator
from .preprocess import preprocess

WEAK_AUC = 0.65      # docs/model-bundle.md: weak when AUC < 0.65
WEAK_R = 0.5         # regression outputs: weak when validation r < 0.5 (stated in the model card)


def _bands(thr: float, spec90: float) -> list:
    lo, hi = sorted([float(thr), float(spec90)])
    if hi - lo < 0.02:
        hi = min(lo + 0.1, 0.99)
    return [round(lo, 4), round(hi, 4)]


def manifest_fields(p) -> dict:
    cfg = p.cfg
    val = json.loads((p.run_dir / "validation.json").read_text())["heads"]
    lo, hi, n_ref = p.targets.reference_ranges(p.splits["train"])
    risk_out = []
    for _, oid, label in D.RISK_OUTPUTS:
        v = val["risk"][oid]
        a = v["auc"]
        risk_out.append({"id": oid, "label": label, "validationAUC": round(a, 4) if np.isfinite(a) else None,
                         "weak": bool(not np.isfinite(a) or a < WEAK_AUC),
                         "bands": _bands(v["threshold"], v["spec90"]), "threshold": round(v["threshold"], 4)})
    sub_out = []
    for sid, label in D.SUBTYPES:
        a = val["cm_subtype"][sid]["auc"]
        sub_out.append({"id": sid, "label": label, "validationAUC": round(a, 4) if np.isfinite(a) else None,
                        "weak": bool(not np.isfinite(a) or a < WEAK_AUC)})
    ph_out = []
    for j, (_, oid, label, unit) in enumerate(D.PHENOTYPES):
        r = val["phenotype"][oid]["r"]
        ph_out.append({"id": oid, "label": label, "unit": unit, "mean": round(float(p.ph_mean[j]), 4),
                       "std": round(float(p.ph_std[j]), 4),
                       "referenceRange": [round(float(lo[j]), 2), round(float(hi[j]), 2)],
                       "validationR": round(r, 4) if np.isfinite(r) else None,
                       "weak": bool(not np.isfinite(r) or r < WEAK_R)})
    pr = cfg["prior"]
    timings = json.loads((p.run_dir / "timings.json").read_text())
    return {
        "id": cfg["bundle_id"],
        "displayName": cfg["display_name"],
        "synthetic": True,
        "disclaimer": "Trained on a synthetic cohort. Demonstration only — not for clinical use.",
        "input": {"leads": list(STANDARD_LEADS), "samplingRate": int(p.rate), "sampleCount": p.samples,
                  "preprocessing": cfg["preprocessing"]},
        "heads": [
            {"name": "risk", "kind": "sigmoid", "outputs": risk_out},
            {"name": "cm_subtype", "kind": "softmax", "outputs": sub_out,
             "note": "Trained on cardiomyopathy cases only; read it when the cardiomyopathy risk is raised."},
            {"name": "phenotype", "kind": "regression", "outputs": ph_out,
             "note": f"referenceRange = 2.5th–97.5th percentile of {n_ref} disease-free training subjects."},
        ],
        "generator": {"diffusion": {"steps": pr["diffusion_steps"], "betaStart": pr["beta_start"],
                                    "betaEnd": pr["beta_end"], "samplingSteps": pr["sampling_steps"]},
                      "frames": int(cfg["export"]["frames"])},
        "training": {
            "pipeline": "training/ecg2cmr_train/pipeline.py",
            "config": cfg.get("config_file", "defaults"),
            "cohort": {"subjects": int(p.cohort.n), "train": int(len(p.pos["train"])),
                       "val": int(len(p.pos["val"])), "test": int(len(p.pos["test"])),
                       "cineFrames": int(p.cohort.frames), "synthetic": True,
                       "buildComplete": bool(p.cohort_complete)},
            "alignment": {"temperature": cfg["align"]["temperature"], "lambda": cfg["align"]["lambda"],
                          "weightedInfoNCE": bool(cfg["align"]["weighted"])},
            "stageSeconds": {k: v.get("seconds") for k, v in timings.items()},
            "thresholds": "risk `threshold` = Youden-optimal on validation; bands = [Youden, 90 % specificity]",
        },
        "modelCard": "docs/MODEL_CARD.md",
    }


def build_generator(p) -> CMRGenerator:
    c, pr = p.cfg["cmr"], p.cfg["prior"]
    ae = p.trained_autoencoder()
    prior = p.trained_prior()
    gen = CMRGenerator(c["latent"], p.cfg["encoder"]["proj_dim"], c["views"], pr["hidden"], pr["layers"], pr["temb"])
    for v in ae.views:
        gen.decoder(v).load_state_dict(ae.decoders[v].state_dict())
    gen.prior.load_state_dict(prior.state_dict())
    gen.latent_mean.copy_(torch.from_numpy(p.lat_mean))
    gen.latent_std.copy_(torch.from_numpy(p.lat_std))
    return gen.eval()


def golden_inputs(p, count: int) -> np.ndarray:
    """Exact (float32) preprocessing of the first `count` test-split ECGs."""
    rows = p.rows[p.pos["test"][:count]]
    return np.stack([preprocess(p.cohort.ecg_mv([r])[0], p.cohort.rate, p.cfg["preprocessing"])[0] for r in rows])


def export_bundle(p) -> dict:
    enc = p.trained_model("heads")
    gen = build_generator(p)
    fields = manifest_fields(p)
    out = resolve(p.cfg["bundle_dir"])
    manifest = write_bundle(out, enc, generator=gen, manifest_fields=fields)
    size = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    log(f"export: bundle {out} ({size / 1e6:.2f} MB)")
    e = p.cfg["export"]
    x = golden_inputs(p, int(e["golden_cases"]))
    seeds = list(e["golden_seeds"])[: len(x)]
    targets = [(h["name"], h["outputs"][0]["id"]) for h in manifest["heads"]] + [("phenotype", "lv_ef")]
    path = write_golden(resolve(p.cfg["golden"]), enc, gen, manifest, x, seeds, gradcam_targets=targets)
    log(f"export: golden vectors {path}")
    return manifest
