"""Assemble the trained parts into a model bundle (engine's bundle.py) plus golden vectors."""
from __future__ import annotations

import json

import numpy as np
import torch

from . import data as D
from .bundle import STANDARD_LEADS, WEAK_AUC, write_bundle, write_golden_v2
from .config import resolve
from .loop import log
from .pipeline import decoder_anatomy_index
from .preprocess import preprocess

WEAK_R = 0.5         # regression outputs: weak when validation r < 0.5 (stated in the model card)


def _bands(thr: float, spec90: float) -> list:
    lo, hi = sorted([float(thr), float(spec90)])
    if hi - lo < 0.02:
        hi = min(lo + 0.1, 0.99)
    return [round(lo, 4), round(hi, 4)]


def _rounded(v):
    from .ood import _rounded as r
    return r(v)


def manifest_fields(p) -> dict:
    cfg = p.cfg
    val = json.loads((p.run_dir / "validation.json").read_text())["heads"]
    cal = json.loads((p.run_dir / "calibration.json").read_text())
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
                       "weak": bool(not np.isfinite(r) or r < WEAK_R),
                       "interval80Scale": round(cal["phenotype"][oid]["scale"], 5),
                       **({"interval80Scales": {c: round(v, 5) for c, v in cal["phenotype"][oid]["cellScales"].items()}}
                          if "cellScales" in cal["phenotype"][oid] else {})})
    pr = cfg["prior"]
    timings = json.loads((p.run_dir / "timings.json").read_text())
    full = json.loads((p.run_dir / "validation.json").read_text())
    beats = dict(cfg["beats"])
    return {
        "id": cfg["bundle_id"],
        "displayName": cfg["display_name"],
        "synthetic": True,
        "disclaimer": "Trained on a synthetic cohort. Demonstration only — not for clinical use.",
        "input": {"leads": list(STANDARD_LEADS), "samplingRate": int(p.rate), "sampleCount": p.samples,
                  "preprocessing": cfg["preprocessing"]},
        "encoder": {"beats": beats},
        "heads": [
            {"name": "risk", "kind": "sigmoid", "outputs": risk_out,
             "note": "Probabilities recalibrated on the validation split (Platt scaling per output, folded "
                     "into the head weights)."},
            {"name": "cm_subtype", "kind": "softmax", "outputs": sub_out,
             "note": "Trained on cardiomyopathy cases only; read it when the cardiomyopathy risk is raised."},
            {"name": "phenotype", "kind": "regression", "outputs": ph_out,
             "note": f"referenceRange = 2.5th–97.5th percentile of {n_ref} disease-free training subjects; "
                     f"weak = validation r < {WEAK_R}.",
             "uncertainty": {"kind": "gaussian", "logSigma": "sigma.phenotype", "coverage": cal["coverage"],
                             "calibration": "split conformal on the validation split: interval80 = "
                                            "value ± interval80Scale·σ·std"
                                            + ("; with cells, the scale of the ECG's cell (interval80Scales[cell]): "
                                               "the first cell whose probability (the product of the named head "
                                               "outputs) is above its threshold, else \"none\"; each disease cell's "
                                               "scale set so that its true disease group is covered at 80 %, the "
                                               "\"none\" cell's so that all subjects are, on validation"
                                               if "intervalCells" in cal else ""),
                             **({"cells": cal["intervalCells"]["cells"]} if "intervalCells" in cal else {})}},
        ],
        "generator": {"diffusion": {"steps": pr["diffusion_steps"], "betaStart": pr["beta_start"],
                                    "betaEnd": pr["beta_end"], "samplingSteps": pr["sampling_steps"]},
                      "frames": int(cfg["export"]["frames"]),
                      "anatomy": {"head": "phenotype",
                                  "outputs": [D.PHENOTYPES[i][1] for i in decoder_anatomy_index(cfg)]},
                      "guidance": float(pr["guidance"]),
                      "pose": {"rotationDegrees": float(cfg["pose"]["rotationDegrees"]),
                               "shiftPixels": float(cfg["pose"]["shiftPixels"])},
                      "informativeness": {k: (round(v, 4) if isinstance(v, float) and np.isfinite(v) else v)
                                          for k, v in full["generator"].items()}},
        "outOfDistribution": _rounded(full["ood"]),
        "training": {
            "pipeline": "training/ecg2cmr_train/pipeline.py",
            "config": cfg.get("config_file", "defaults"),
            "cohort": {"subjects": int(p.cohort.n), "train": int(len(p.pos["train"])),
                       "val": int(len(p.pos["val"])), "test": int(len(p.pos["test"])),
                       "cineFrames": int(p.cohort.frames), "synthetic": True,
                       "generatorVersion": p.cohort.meta.get("generator_version"),
                       "buildComplete": bool(p.cohort_complete)},
            "alignment": {"temperature": cfg["align"]["temperature"], "lambda": cfg["align"]["lambda"],
                          "weightedInfoNCE": bool(cfg["align"]["weighted"])},
            "stageSeconds": {k: v.get("seconds") for k, v in timings.items()},
            "thresholds": "risk `threshold` = Youden-optimal on validation; bands = [Youden, 90 % specificity]",
        },
        "modelCard": "docs/MODEL_CARD.md",
    }


def build_generator(p):
    from .pipeline import trained_autoencoder, trained_prior
    ae = trained_autoencoder(p)
    gen = ae.gen
    gen.prior.load_state_dict(trained_prior(p).state_dict())
    res = np.load(p.run_dir / "cmr_residuals.npz")
    gen.residual_mean.copy_(torch.from_numpy(res["mean"]))
    gen.residual_std.copy_(torch.from_numpy(res["std"]))
    return gen.eval()


def golden_cases(p, count: int) -> list:
    """Exact (float32) preprocessing + beat features of the first `count` test-split ECGs."""
    from .beats import beat_features
    rows = p.rows[p.pos["test"][:count]]
    out = []
    for r in rows:
        x = preprocess(p.cohort.ecg_mv([r])[0], p.cohort.rate, p.cfg["preprocessing"])[0].astype(np.float32)
        f = beat_features(x, list(STANDARD_LEADS), p.rate, p.cfg["beats"])
        out.append({"input": x, "peaks": f["peaks"], "beats": f["median_beat"], "rhythm": f["rhythm"]})
    return out


def export_bundle(p) -> dict:
    from .pipeline import trained_model
    enc = trained_model(p, "calibrated")
    gen = build_generator(p)
    fields = manifest_fields(p)
    out = resolve(p.cfg["bundle_dir"])
    ood = np.load(p.run_dir / "ood.npz")
    extra = {f"ood.{k}": ood[k] for k in ood.files}
    manifest = write_bundle(out, enc, generator=gen, manifest_fields=fields, extra_tensors=extra)
    size = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    log(f"export: bundle {out} ({size / 1e6:.2f} MB)")
    e = p.cfg["export"]
    cases = golden_cases(p, int(e["golden_cases"]))
    seeds = list(e["golden_seeds"])[: len(cases)]
    targets = [(h["name"], h["outputs"][0]["id"]) for h in manifest["heads"]] + [("phenotype", "lv_ef")]
    path = write_golden_v2(resolve(p.cfg["golden"]), enc, gen, manifest, cases, seeds, gradcam_targets=targets)
    log(f"export: golden vectors {path}")
    return manifest
