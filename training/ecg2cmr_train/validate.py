"""Stage `validate`: validation-split metrics that go into the bundle (validationAUC / validationR,
weak flags, bands), the out-of-distribution calibration and the generator's measured
informativeness — everything the workstation shows beside a score is measured here."""
from __future__ import annotations

import json

import numpy as np
import torch

from . import data as D
from .loop import log
from .metrics import auc, cine_function, pearson, specificity_threshold, youden_threshold
from .model import DiffusionSchedule, generate_cine


def head_metrics(run, o: dict, pos) -> dict:
    rows = run.rows[pos]
    prob = 1 / (1 + np.exp(-o["risk"]))
    risk = {}
    for j, (_, oid, _) in enumerate(D.RISK_OUTPUTS):
        y = run.targets.risk[rows, j]
        risk[oid] = {"auc": auc(y, prob[:, j]), "threshold": youden_threshold(y, prob[:, j]),
                     "spec90": specificity_threshold(y, prob[:, j], 0.9), "positives": int(y.sum())}
    sub = run.targets.subtype[rows]
    cm = sub >= 0
    logits = o["cm_subtype"][cm]
    sp = np.exp(logits - logits.max(1, keepdims=True)) if len(logits) else logits
    if len(logits):
        sp /= sp.sum(1, keepdims=True)
    subtype = {sid: {"auc": auc(sub[cm] == k, sp[:, k]) if len(logits) else float("nan"),
                     "cases": int((sub[cm] == k).sum())} for k, (sid, _) in enumerate(D.SUBTYPES)}
    truth = run.targets.phenotype[rows]
    pred = o["phenotype"] * run.ph_std + run.ph_mean
    pheno = {oid: {"r": pearson(truth[:, j], pred[:, j])} for j, (_, oid, _, _) in enumerate(D.PHENOTYPES)}
    return {"risk": risk, "cm_subtype": subtype, "phenotype": pheno,
            "mean_auc": float(np.nanmean([v["auc"] for v in risk.values()])),
            "mean_r": float(np.nanmean([v["r"] for v in pheno.values()]))}


def ood_input_vectors(beats: np.ndarray, rhythm: np.ndarray, stride: int) -> np.ndarray:
    """[n, L·ceil(beat/stride) + R]: every `stride`-th median-beat sample of every lead, then the
    rhythm features (CardiacModels.OutOfDistribution, same order)."""
    b = np.asarray(beats, dtype=np.float32)[:, :, ::stride].reshape(len(beats), -1)
    return np.concatenate([b, np.asarray(rhythm, dtype=np.float32)], 1).astype(np.float64)


def calibrate_ood(run, model) -> dict:
    """The out-of-distribution check (ood.py): embedding, median-beat and signal-level distances;
    statistics from `ood.subjects` training subjects, thresholds by the one rule on the whole
    validation split (union flags `ood.target_flagged`). Returns the `ood.*` tensors and "summary"."""
    from . import ood as O
    from .pipeline import predict
    o = run.cfg["ood"]
    tr = run.pos["train"][: int(o["subjects"])]
    va = run.pos["val"]
    feats = {}
    for name, pos in (("train", tr), ("val", va)):
        f = O.cohort_features(run.cohort, run.rows[pos], run.cfg["preprocessing"], run.beat_spec,
                              int(run.cfg["preprocess_workers"]), cache_dir=run.run_dir / "cache", log=log)
        f["pooled"] = predict(run, model, pos)["pooled"].astype(np.float64)
        feats[name] = f
    res = O.calibrate(feats["train"], feats["val"], int(o["beat_stride"]), int(o["components"]),
                      float(o.get("target_flagged", O.TARGET_FLAGGED)))
    s = res["summary"]
    log(f"ood: q {s['percentile']:.2f}; thresholds embedding {s['embeddingThreshold']:.1f}, input {s['inputThreshold']:.1f}, "
        f"signal {s['signal']['threshold']:.1f}; validation flagged {s['validationFlagged']:.3f}")
    return {**res["tensors"], "summary": s}


def generator_informativeness(run, model, gen, n: int, seed_base: int) -> dict:
    """On validation subjects: EF and end-diastolic area measured on generated SAX frames (Otsu
    blood pool) against the true EF / EDV and against the model's own EF head."""
    from .pipeline import predict
    p, pose = run.cfg["prior"], run.cfg["pose"]
    pos = run.pos["val"][:n]
    rows = run.rows[pos]
    out = predict(run, model, pos)
    sched = DiffusionSchedule(p["diffusion_steps"], p["beta_start"], p["beta_end"])
    fr = run.cohort.frames
    phases = torch.arange(fr, dtype=torch.float64) / fr
    ef_gen, eda_gen = [], []
    for i in range(len(pos)):
        g = generate_cine(gen, sched, p["sampling_steps"], p["guidance"],
                          torch.from_numpy(out["heads"]["phenotype"][i]), torch.from_numpy(out["embedding"][i]),
                          seed_base + i, phases, pose["rotationDegrees"], pose["shiftPixels"])
        f = cine_function(g["frames"]["sax"])
        ef_gen.append(f["ef"])
        eda_gen.append(f["ed_area"])
    j_ef = D.phenotype_index("lv_ef")
    j_edv = D.phenotype_index("lv_edv")
    head_ef = out["heads"]["phenotype"][:, j_ef] * run.ph_std[j_ef] + run.ph_mean[j_ef]
    res = {"subjects": int(len(pos)),
           "efVsTrueEF": pearson(ef_gen, run.targets.phenotype[rows, j_ef]),
           "edAreaVsTrueEDV": pearson(eda_gen, run.targets.phenotype[rows, j_edv]),
           "efVsModelEF": pearson(ef_gen, head_ef)}
    log(f"generator on validation: r(generated EF, true EF) {res['efVsTrueEF']:.3f}, "
        f"r(ED area, true EDV) {res['edAreaVsTrueEDV']:.3f}, r(generated EF, EF head) {res['efVsModelEF']:.3f}")
    return res


INTERVAL = 0.8      # the phenotype intervals' nominal coverage (manifest `interval80`)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """ECE with equal-width probability bins: Σ_b n_b/n · |mean(y_b) − mean(p_b)|."""
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    k = np.minimum((p * bins).astype(int), bins - 1)
    e = 0.0
    for b in range(bins):
        m = k == b
        if m.any():
            e += m.sum() / len(p) * abs(y[m].mean() - p[m].mean())
    return float(e)


def platt(z: np.ndarray, y: np.ndarray) -> tuple:
    """Logistic recalibration p = σ(a·z + b) of logits z, fitted by maximum likelihood (Newton on
    two parameters) with a unit Gaussian prior pulling (a, b) towards (1, 0) — negligible with
    thousands of subjects, but it keeps a tiny or separable validation set from sending a to
    infinity; a is kept ≥ 0.05 so the ranking (AUC) never flips."""
    z, y = np.asarray(z, dtype=np.float64), np.asarray(y, dtype=np.float64)
    a, b = 1.0, 0.0
    for _ in range(100):
        p = 1 / (1 + np.exp(-np.clip(a * z + b, -50, 50)))
        g = np.array([((p - y) * z).sum() + (a - 1), (p - y).sum() + b])
        w = p * (1 - p) + 1e-9
        H = np.array([[(w * z * z).sum(), (w * z).sum()], [(w * z).sum(), w.sum()]]) + np.eye(2)
        step = np.linalg.solve(H, g)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-8:
            break
    return max(float(a), 0.05), float(b)


def conformal_scale(scores: np.ndarray, coverage: float) -> float:
    """Split-conformal quantile of the normalised residuals |y − μ|/σ: the ⌈(n+1)·coverage⌉-th
    smallest, so μ ± q·σ covers a new subject with probability ≥ coverage."""
    s = np.sort(np.asarray(scores, dtype=np.float64))
    k = min(len(s) - 1, int(np.ceil((len(s) + 1) * coverage)) - 1)
    return float(s[k])


# Interval cells: an ECG whose predicted probability of a disease group is well above the group's
# prevalence (DCM ~3 %, HCM ~2 %, PH ~4 %, prior MI ~9 %) gets intervals calibrated on that cell,
# first match in this order, else "none". Each cell's probability is a product of head outputs
# (risk probabilities after Platt scaling, subtype softmax), so the engine computes the same cell
# from the manifest. Fixed before calibration; prior MI is read from wall-motion abnormality.
INTERVAL_CELLS = [
    {"name": "dcm", "product": ["risk.cardiomyopathy", "cm_subtype.dcm"], "above": 0.1},
    {"name": "hcm", "product": ["risk.cardiomyopathy", "cm_subtype.hcm"], "above": 0.5},
    {"name": "pulmonary_hypertension", "product": ["risk.pulmonary_hypertension"], "above": 0.2},
    {"name": "prior_mi", "product": ["risk.wall_motion_abnormality"], "above": 0.2},
]
NO_CELL = "none"


def interval_cells(risk_logit: np.ndarray, subtype_logit: np.ndarray) -> np.ndarray:
    """The interval cell of every subject (INTERVAL_CELLS, first match; else NO_CELL) from its
    calibrated risk logits [n, risks] (sigmoid) and subtype logits [n, subtypes] (softmax)."""
    risk_prob = 1 / (1 + np.exp(-np.clip(risk_logit, -50, 50)))
    subtype_prob = np.exp(subtype_logit - subtype_logit.max(1, keepdims=True))
    subtype_prob /= subtype_prob.sum(1, keepdims=True)
    col = {f"risk.{oid}": risk_prob[:, j] for j, (_, oid, _) in enumerate(D.RISK_OUTPUTS)}
    col.update({f"cm_subtype.{sid}": subtype_prob[:, j] for j, (sid, _) in enumerate(D.SUBTYPES)})
    cells = np.full(len(risk_prob), NO_CELL, dtype=object)
    for c in reversed(INTERVAL_CELLS):          # reversed: the first match in order wins
        p = np.prod([col[k] for k in c["product"]], axis=0)
        cells[p > c["above"]] = c["name"]
    return cells


def cell_conformal_scales(score: np.ndarray, cells: np.ndarray, groups: dict, coverage: float,
                          rounds: int = 20, min_level: float = 0.7) -> tuple[dict, dict]:
    """Per-cell scales of one output's normalised residuals |y − μ|/σ such that every TRUE disease
    group (`groups`, named as the cells) and all subjects together are covered at `coverage`.

    A group's members fall in their own cell (ECGs that look like the disease) or in another cell.
    Each disease cell's scale is the smallest that brings its true group to `coverage`, the other
    cells' scales fixed — raised when the members in other cells are under-covered (their
    intervals are narrower than their errors), lowered when they are over-covered — but never below
    the scale that covers `min_level` of the cell's own subjects, so an ECG that looks like the
    disease does not get an interval narrower than its errors warrant. The "none" cell's scale is the
    smallest that brings all subjects to `coverage`. The scales depend on each other (a cell holds
    members of several groups), so the rule is applied in turn until no scale moves.
    Returns ({cell: scale}, {cell: share of the cell's own subjects covered})."""
    names = [c["name"] for c in INTERVAL_CELLS]
    score = np.asarray(score, dtype=np.float64)
    own = {c: score[cells == c] for c in names + [NO_CELL]}
    q = {c: conformal_scale(own[c], coverage) if len(own[c]) else conformal_scale(score, coverage)
         for c in own}
    floor = {c: conformal_scale(own[c], min_level) if len(own[c]) else 0.0 for c in names}
    everyone = np.ones(len(score), dtype=bool)

    def smallest(cell: str, mask: np.ndarray, low: float) -> float:
        inside = cells[mask] == cell
        s_in = np.sort(score[mask][inside])
        if len(s_in) == 0:
            return q[cell]
        out_cells = cells[mask][~inside]
        covered_out = int((score[mask][~inside] <= np.array([q[c] for c in out_cells], dtype=np.float64)).sum())
        need = int(np.ceil(coverage * int(mask.sum()))) - covered_out
        if need <= 0:
            return low
        return max(low, float(s_in[min(need, len(s_in)) - 1]))

    for _ in range(rounds):
        before = dict(q)
        for g in names:
            if groups[g].any():
                q[g] = smallest(g, groups[g], floor[g])
        q[NO_CELL] = smallest(NO_CELL, everyone, 0.0)
        if all(abs(q[c] - before[c]) < 1e-12 for c in q):
            break
    level = {c: float((own[c] <= q[c]).mean()) if len(own[c]) else float("nan") for c in q}
    return q, level


def calibrate(run) -> dict:
    """Stage `calibrate`, on the validation split: Platt scaling of every risk logit, folded into
    the risk head's weights (a·(Wx + c) + b), and the split-conformal scale of every phenotype's
    predicted σ for 80 % intervals. Writes calibrated.pt (the model that is exported) and
    calibration.json (parameters, validation ECE before/after, validation coverage per group)."""
    from .pipeline import disease_groups, predict, trained_model
    model = trained_model(run, "heads")
    pos = run.pos["val"]
    rows = run.rows[pos]
    o = predict(run, model, pos)
    res = {"risk": {}, "phenotype": {}, "coverage": INTERVAL}
    w = model.heads["risk"].weight.data
    bias = model.heads["risk"].bias.data
    for j, (_, oid, _) in enumerate(D.RISK_OUTPUTS):
        z, y = o["heads"]["risk"][:, j], run.targets.risk[rows, j]
        a, b = platt(z, y)
        before = expected_calibration_error(y, 1 / (1 + np.exp(-np.clip(z, -50, 50))))
        after = expected_calibration_error(y, 1 / (1 + np.exp(-np.clip(a * z + b, -50, 50))))
        w[j] *= a
        bias[j] = a * bias[j] + b
        res["risk"][oid] = {"a": a, "b": b, "eceBefore": before, "eceAfter": after}
        log(f"calibrate {oid}: a {a:.3f} b {b:+.3f}, validation ECE {before:.3f} → {after:.3f}")
    truth = (run.targets.phenotype[rows] - run.ph_mean) / run.ph_std
    mu, sigma = o["heads"]["phenotype"], np.exp(np.clip(o["log_sigma"]["phenotype"], -7, 4))
    groups = disease_groups(run.cohort, rows)
    # The cells of the exported model: its risk logits after the Platt scaling above.
    platt_logit = np.stack([res["risk"][oid]["a"] * o["heads"]["risk"][:, j] + res["risk"][oid]["b"]
                            for j, (_, oid, _) in enumerate(D.RISK_OUTPUTS)], 1)
    cells = interval_cells(platt_logit, o["heads"]["cm_subtype"])
    res["intervalCells"] = {"cells": INTERVAL_CELLS, "validationSubjects": {c: int((cells == c).sum())
                                                                           for c in [x["name"] for x in INTERVAL_CELLS] + [NO_CELL]}}
    for j, (_, oid, _, _) in enumerate(D.PHENOTYPES):
        score = np.abs(truth[:, j] - mu[:, j]) / sigma[:, j]
        q = conformal_scale(score, INTERVAL)
        qc, lv = cell_conformal_scales(score, cells, groups, INTERVAL)
        per = np.array([qc[c] for c in cells])
        cov = {g: float((score[m] <= per[m]).mean()) if m.any() else None for g, m in groups.items()}
        res["phenotype"][oid] = {"scale": q, "cellScales": qc, "cellLevels": lv,
                                 "validationCoverage": float((score <= per).mean()), "groups": cov}
    log("calibrate: interval cells on validation " + str(res["intervalCells"]["validationSubjects"]))
    log("calibrate: 80 % interval validation coverage by group (lv_ef, lv_edv, lv_mass, rv_edv): " +
        "; ".join(f"{k} {res['phenotype'][k]['groups']}" for k in ("lv_ef", "lv_edv", "lv_mass", "rv_edv")))
    torch.save({"modules": {"model": model.state_dict()}}, run.run_dir / "calibrated.pt")
    (run.run_dir / "calibration.json").write_text(json.dumps(res, indent=2) + "\n")
    return res


def validate(run) -> dict:
    from .export import build_generator
    from .pipeline import predict, trained_model
    res = {}
    pos = run.pos["val"]
    for name in ("calibrated", "baseline"):
        o = predict(run, trained_model(run, name), pos)["heads"]
        res[name] = head_metrics(run, o, pos)
        log(f"validate {name}: mean AUC {res[name]['mean_auc']:.3f}, mean phenotype r {res[name]['mean_r']:.3f}")
    res["heads"] = res.pop("calibrated")        # the exported model is the calibrated one
    model = trained_model(run, "calibrated")
    ood = calibrate_ood(run, model)
    np.savez(run.run_dir / "ood.npz", **{k: v for k, v in ood.items() if k != "summary"})
    res["ood"] = ood["summary"]
    ev = run.cfg["evaluate"]
    res["generator"] = generator_informativeness(run, model, build_generator(run), min(len(pos), int(ev["generator_subjects"])),
                                                 int(ev["generator_seed_base"]))
    (run.run_dir / "validation.json").write_text(json.dumps(res, indent=2) + "\n")
    return res
