"""Held-out test evaluation of the exported bundle against the ECG-only baseline → docs/MODEL_CARD.md.

Every number in the card is computed here (or read from the run's timings.json / validation.json,
which the pipeline wrote); nothing is typed in by hand.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import numpy as np
import torch

from . import data as D
from .bundle import load_bundle
from .config import resolve
from .loop import log
from .metrics import (auc_ci, blood_pool_ef, operating_point, pearson, pearson_ci, psnr, ssim)
from .model import DiffusionSchedule


def _softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def disease_metrics(p, outs: dict, manifest: dict, n_boot: int) -> dict:
    rows = p.rows[p.pos["test"]]
    risk_meta = {o["id"]: o for o in next(h for h in manifest["heads"] if h["name"] == "risk")["outputs"]}
    res = {}
    for name, o in outs.items():
        prob = 1 / (1 + np.exp(-o["risk"]))
        risk = {}
        for j, (_, oid, _) in enumerate(D.RISK_OUTPUTS):
            y = p.targets.risk[rows, j]
            a, lo, hi = auc_ci(y, prob[:, j], n_boot, seed=j)
            thr = risk_meta[oid]["threshold"] if name == "aligned" else p.val_thresholds[name][oid]
            risk[oid] = {"auc": a, "lo": lo, "hi": hi, "positives": int(y.sum()), **operating_point(y, prob[:, j], thr)}
        sub = p.targets.subtype[rows]
        cm = sub >= 0
        sp = _softmax(o["cm_subtype"][cm])
        subtype = {}
        for k, (sid, _) in enumerate(D.SUBTYPES):
            a, lo, hi = auc_ci(sub[cm] == k, sp[:, k], n_boot, seed=100 + k)
            subtype[sid] = {"auc": a, "lo": lo, "hi": hi, "cases": int((sub[cm] == k).sum())}
        subtype_acc = float((sp.argmax(1) == sub[cm]).mean()) if cm.any() else float("nan")
        truth = p.targets.phenotype[rows]
        pred = o["phenotype"] * p.ph_std + p.ph_mean
        pheno = {}
        for j, (_, oid, _, unit) in enumerate(D.PHENOTYPES):
            r, lo, hi = pearson_ci(truth[:, j], pred[:, j])
            pheno[oid] = {"r": r, "lo": lo, "hi": hi, "mae": float(np.abs(truth[:, j] - pred[:, j]).mean()),
                          "unit": unit}
        res[name] = {"risk": risk, "cm_subtype": subtype, "cm_subtype_accuracy": subtype_acc, "phenotype": pheno,
                     "mean_auc": float(np.nanmean([v["auc"] for v in risk.values()])),
                     "mean_r": float(np.nanmean([v["r"] for v in pheno.values()]))}
    return res


ECG_VISIBLE = ["cad", "heart_failure", "cardiomyopathy", "pulmonary_hypertension", "pericarditis",
               "atrial_fibrillation", "wall_motion_abnormality"]


def hand_features(p, pos) -> np.ndarray:
    """The simple floor's features: every 4th sample of each lead's median beat + RR statistics."""
    from .validate import ood_input_vectors
    c = p.cache
    t = torch.as_tensor(np.asarray(pos))
    return ood_input_vectors(c["beats"][t].numpy(), c["rhythm"][t].numpy(), 4)


def floor_predictions(p) -> dict:
    """Logistic regression (risks) and ridge (phenotypes) on hand features, fitted on the training
    split: the floor every output of the network is compared with."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler
    tr, te = p.pos["train"], p.pos["test"]
    sc = StandardScaler().fit(hand_features(p, tr))
    xtr, xte = sc.transform(hand_features(p, tr)), sc.transform(hand_features(p, te))
    rtr, rte = p.rows[tr], p.rows[te]
    risk = np.zeros((len(te), len(D.RISK_OUTPUTS)))
    for j in range(len(D.RISK_OUTPUTS)):
        y = p.targets.risk[rtr, j]
        if y.min() == y.max():
            continue
        m = LogisticRegression(C=0.05, max_iter=300).fit(xtr, y)
        risk[:, j] = m.decision_function(xte)
    ph = Ridge(alpha=30.0).fit(xtr, (p.targets.phenotype[rtr] - p.ph_mean) / p.ph_std).predict(xte)
    return {"risk": risk, "phenotype": ph, "cm_subtype": np.zeros((len(te), len(D.SUBTYPES)))}


def paired_vs_floors(p, model: dict, floors: dict, n_boot: int) -> dict:
    """Model − each floor on the test split, paired bootstrap (the same resample of test subjects
    for both): per output (AUC or Pearson r) and for the mean AUC of the ECG-visible outputs and the
    mean phenotype r. Returns {floor: {"meanAUC7": [d, lo, hi], "meanR": [...], "risk": {id: [...]},
    "phenotype": {id: [...]}}} with d the point difference and [lo, hi] the 95 % interval."""
    from .metrics import auc
    rows = p.rows[p.pos["test"]]
    y = p.targets.risk[rows]
    t = p.targets.phenotype[rows]
    vis = [j for j, (_, oid, _) in enumerate(D.RISK_OUTPUTS) if oid in ECG_VISIBLE]
    n = len(rows)

    def metrics(o, s):
        a = np.array([auc(y[s, j], o["risk"][s, j]) for j in range(y.shape[1])])
        r = np.array([pearson(t[s, j], o["phenotype"][s, j]) for j in range(t.shape[1])])
        return a, r

    full = np.arange(n)
    base = {"model": metrics(model, full), **{k: metrics(v, full) for k, v in floors.items()}}
    rng = np.random.default_rng(17)
    draws = {k: ([], []) for k in floors}
    for _ in range(n_boot):
        s = rng.integers(0, n, n)
        am, rm = metrics(model, s)
        for k, v in floors.items():
            af, rf = metrics(v, s)
            draws[k][0].append(am - af)
            draws[k][1].append(rm - rf)
    out = {}
    for k in floors:
        da, dr = np.array(draws[k][0]), np.array(draws[k][1])
        pa, pr = base["model"][0] - base[k][0], base["model"][1] - base[k][1]

        def ci(point, d):
            return [float(point), float(np.nanpercentile(d, 2.5)), float(np.nanpercentile(d, 97.5))]
        out[k] = {"meanAUC7": ci(np.nanmean(pa[vis]), np.nanmean(da[:, vis], 1)),
                  "meanR": ci(np.nanmean(pr), np.nanmean(dr, 1)),
                  "risk": {oid: ci(pa[j], da[:, j]) for j, (_, oid, _) in enumerate(D.RISK_OUTPUTS)},
                  "phenotype": {oid: ci(pr[j], dr[:, j]) for j, (_, oid, _, _) in enumerate(D.PHENOTYPES)}}
    return out


def calibration_metrics(p, risk_logits: np.ndarray, bins: int = 10) -> dict:
    """Test-split ECE and reliability-diagram points (mean predicted vs observed per probability bin)."""
    from .validate import expected_calibration_error
    rows = p.rows[p.pos["test"]]
    prob = 1 / (1 + np.exp(-np.clip(risk_logits, -50, 50)))
    out = {}
    for j, (_, oid, _) in enumerate(D.RISK_OUTPUTS):
        yy, pp = p.targets.risk[rows, j], prob[:, j]
        k = np.minimum((pp * bins).astype(int), bins - 1)
        pts = [[float(pp[k == b].mean()), float(yy[k == b].mean()), int((k == b).sum())] for b in range(bins) if (k == b).any()]
        out[oid] = {"ece": expected_calibration_error(yy, pp, bins), "bins": pts}
    return out


def interval_metrics(p, mu: np.ndarray, log_sigma: np.ndarray, scales: dict, cells: np.ndarray | None = None) -> dict:
    """Test-split coverage of the 80 % intervals (`interval_coverage` on the run's test split)."""
    rows = p.rows[p.pos["test"]]
    return interval_coverage(p.cohort, rows, p.targets.phenotype[rows], mu, log_sigma, p.ph_mean, p.ph_std,
                             scales, cells)


def interval_coverage(cohort, rows, truth: np.ndarray, mu: np.ndarray, log_sigma: np.ndarray, mean, std,
                      scales: dict, cells: np.ndarray | None = None) -> dict:
    """Coverage of the 80 % intervals of cohort `rows`, overall and within the disease groups, and
    their median width in the output's unit. `mu`, `log_sigma` standardised head outputs; `truth`
    [n, phenotypes] in units; `scales[oid]` is one scale, or {cell: scale} with `cells` the
    subjects' interval cells (validate.interval_cells)."""
    from .pipeline import disease_groups
    groups = {"all": np.ones(len(rows), dtype=bool), **disease_groups(cohort, rows)}
    out = {}
    for j, (_, oid, _, _) in enumerate(D.PHENOTYPES):
        q = scales[oid]
        q = np.array([q[c] for c in cells]) if isinstance(q, dict) else q
        half = q * np.exp(np.clip(log_sigma[:, j], -7, 4)) * std[j]
        val = mu[:, j] * std[j] + mean[j]
        inside = np.abs(truth[:, j] - val) <= half
        out[oid] = {"width": float(np.median(2 * half)),
                    "coverage": {g: (float(inside[m].mean()) if m.any() else None) for g, m in groups.items()},
                    "n": {g: int(m.sum()) for g, m in groups.items()}}
    return out


INTERVALS_HEADING = "### 80 % intervals of the phenotypes (test split)"


def interval_section(iv: dict, cells: dict | None, calibrated_on: str) -> list:
    """The card's interval section (lines): the rule, the test subjects per cell and the coverage
    table of `interval_metrics`. Written by the evaluate stage and again by `python -m
    ecg2cmr_train.intervals --card` when a bundle's scales are set on a calibration cohort."""
    L = [INTERVALS_HEADING + "\n"]
    L.append("The phenotype head predicts a Gaussian (mean and log σ, trained with the mean's error detached); "
             f"interval = value ± q·σ with q a split-conformal scale of |error|/σ set on {calibrated_on}"
             + (", per interval cell: an ECG whose predicted probability of DCM, HCM, pulmonary hypertension "
                "or prior MI (read from wall-motion abnormality) is above a threshold fixed in advance "
                "(`validate.INTERVAL_CELLS`) gets its cell's scale, the other ECGs the \"none\" cell's; each disease "
                "cell's scale is the smallest that covers its true disease group at 80 % (never covering less than 70 % "
                "of the cell's own subjects), the \"none\" cell's the smallest that covers all subjects at 80 % "
                f"(`validate.cell_conformal_scales`; test subjects per cell: {', '.join(f'{k} {v}' for k, v in cells.items())}). "
                "The members of a group whose ECG does not look like the disease fall in another cell, so a disease "
                "cell covers more or less than 80 % of its own subjects" if cells else "")
             + ". Coverage (share of subjects whose true value lies inside), overall and within disease groups:\n")
    gs = list(next(iter(iv.values()))["coverage"])
    L.append("| phenotype | median width | " + " | ".join(f"{g} (n={iv['lv_ef']['n'][g]})" for g in gs) + " |")
    L.append("|---|---|" + "---|" * len(gs))
    for _, oid, label, unit in D.PHENOTYPES[:13]:
        L.append(f"| {label} | {_f(iv[oid]['width'], 1)} {unit} | " + " | ".join(_f(iv[oid]['coverage'][g], 2) for g in gs) + " |")
    L.append("")
    return L


def group_means(p, mu: np.ndarray) -> dict:
    """Mean true vs predicted LV EF / LV EDV / RV EDV / LV mass within each disease group (is the
    severity the generator draws right where it matters?)."""
    from .pipeline import disease_groups
    rows = p.rows[p.pos["test"]]
    truth = p.targets.phenotype[rows]
    pred = mu * p.ph_std + p.ph_mean
    out = {}
    for g, m in {"all": np.ones(len(rows), dtype=bool), **disease_groups(p.cohort, rows)}.items():
        if not m.any():
            continue
        out[g] = {oid: [float(truth[m, D.phenotype_index(oid)].mean()), float(pred[m, D.phenotype_index(oid)].mean())]
                  for oid in ("lv_ef", "lv_edv", "rv_edv", "lv_mass")}
        out[g]["n"] = int(m.sum())
    return out


def reliability_figure(cal: dict, path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.2, 5.2), dpi=110)
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--")
    for oid in ECG_VISIBLE:
        pts = np.array([b[:2] for b in cal[oid]["bins"] if b[2] >= 10])
        if len(pts):
            ax.plot(pts[:, 0], pts[:, 1], marker="o", ms=3, lw=1, label=f"{oid} (ECE {cal[oid]['ece']:.3f})")
    ax.set_xlabel("predicted probability (bin mean)")
    ax.set_ylabel("observed frequency")
    ax.set_title("Reliability, test split (bins with ≥ 10 subjects)")
    ax.legend(fontsize=6.5, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def paired_bootstrap(p, outs_a: dict, outs_b: dict, n_boot: int) -> dict:
    """95 % CI of (aligned − baseline) for the mean AUC over the ECG-visible outputs and for LV EF r,
    resampling test subjects (the same resample for both models)."""
    from .metrics import auc
    rows = p.rows[p.pos["test"]]
    idx = [j for j, (_, oid, _) in enumerate(D.RISK_OUTPUTS) if oid in ECG_VISIBLE]
    j_ef = D.phenotype_index("lv_ef")
    y = p.targets.risk[rows]
    ef = p.targets.phenotype[rows, j_ef]
    rng = np.random.default_rng(7)
    da, dr = [], []
    n = len(rows)
    for _ in range(n_boot):
        s = rng.integers(0, n, n)
        ma = np.nanmean([auc(y[s, j], outs_a["risk"][s, j]) for j in idx])
        mb = np.nanmean([auc(y[s, j], outs_b["risk"][s, j]) for j in idx])
        da.append(ma - mb)
        dr.append(pearson(ef[s], outs_a["phenotype"][s, j_ef]) - pearson(ef[s], outs_b["phenotype"][s, j_ef]))
    q = lambda v: [float(np.nanpercentile(v, 2.5)), float(np.nanpercentile(v, 97.5))]  # noqa: E731
    return {"meanAUC7": q(da), "lvEfR": q(dr)}


def label_efficiency(p, fractions) -> dict:
    """MMCL-style linear probes on frozen pooled features of the aligned encoder (after alignment)
    and of the MDM-only encoder, with 100 % / 10 % / 1 % of the training labels."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler
    from .metrics import auc
    from .pipeline import new_encoder, predict
    out = {}
    idx = [j for j, (_, oid, _) in enumerate(D.RISK_OUTPUTS) if oid in ECG_VISIBLE]
    j_ef = D.phenotype_index("lv_ef")
    for name, stage, key in (("aligned", "align", "enc"), ("mdm only", "mdm", "enc")):
        enc = new_encoder(p)
        state = p.load_done(stage)["modules"][key]
        enc.load_state_dict(state, strict=False)
        ftr = predict(p, enc, p.pos["train"])["pooled"]
        fte = predict(p, enc, p.pos["test"])["pooled"]
        sc = StandardScaler().fit(ftr)
        ftr, fte = sc.transform(ftr), sc.transform(fte)
        rows_te = p.rows[p.pos["test"]]
        res = {}
        for frac in fractions:
            k = max(20, int(len(ftr) * frac))
            sel = np.random.default_rng(11).choice(len(ftr), k, replace=False)
            rtr = p.rows[p.pos["train"][sel]]
            aucs = []
            for j in idx:
                y = p.targets.risk[rtr, j]
                if y.min() == y.max():
                    aucs.append(float("nan"))
                    continue
                m = LogisticRegression(C=0.1, max_iter=300).fit(ftr[sel], y)
                aucs.append(auc(p.targets.risk[rows_te, j], m.decision_function(fte)))
            ef = Ridge(alpha=10.0).fit(ftr[sel], p.targets.phenotype[rtr, j_ef]).predict(fte)
            res[str(frac)] = {"meanAUC7": float(np.nanmean(aucs)), "lvEfR": pearson(p.targets.phenotype[rows_te, j_ef], ef),
                              "labels": int(k)}
        out[name] = res
    return out


@torch.no_grad()
def generator_metrics(p, enc, gen, manifest, n_subjects: int, seed_base: int) -> dict:
    """Generated vs true cines on test subjects (canonical pose on both sides), with the
    autoencoder ceiling, the true anatomy alone (residual dropped), the cohort-mean latent and the
    same sampler fed shuffled ECGs."""
    from .metrics import cine_function
    from .model import generate_cine
    from .pipeline import canonical_cines, predict, trained_autoencoder
    pos = p.pos["test"][:n_subjects]
    rows = p.rows[pos]
    g = manifest["generator"]
    sched = DiffusionSchedule(g["diffusion"]["steps"], g["diffusion"]["betaStart"], g["diffusion"]["betaEnd"])
    out = predict(p, enc, pos)
    fr = p.cohort.frames
    phases = torch.arange(fr, dtype=torch.float64) / fr
    true = canonical_cines(p, pos)
    ae = trained_autoencoder(p)
    enc_true = ae.encode(true)
    shuffle = np.random.default_rng(3).permutation(len(pos))
    j_ef = D.phenotype_index("lv_ef")
    j_edv = D.phenotype_index("lv_edv")
    kinds = ("generated", "shuffled", "autoencoder", "anatomy_only", "mean_latent")
    acc = {k: {"sax": {"ssim": [], "psnr": []}, "lax": {"ssim": [], "psnr": []}, "ef": [], "eda": []} for k in kinds}
    true_fun = []
    for i in range(len(pos)):
        true_fun.append(cine_function(true["sax"][i].numpy()))
        for kind in kinds:
            if kind in ("generated", "shuffled"):
                j = i if kind == "generated" else int(shuffle[i])
                res = generate_cine(gen, sched, g["diffusion"]["samplingSteps"], float(g["guidance"]),
                                    torch.from_numpy(out["heads"]["phenotype"][j]), torch.from_numpy(out["embedding"][j]),
                                    seed_base + i, phases, g["pose"]["rotationDegrees"], g["pose"]["shiftPixels"])
                frames = res["canonical"]
            else:
                frames = {}
                for vi, v in enumerate(gen.view_names):
                    if kind in ("autoencoder", "anatomy_only"):
                        from .pipeline import anatomy
                        # anatomy_only: the residual dropped to zero, as the cmr stage's residual dropout does
                        r = enc_true[v][0][i] if kind == "autoencoder" else torch.zeros(gen.residual)
                        z = torch.cat([gen.select_anatomy(anatomy(p, rows[i:i + 1])[0]), r])
                    else:
                        z = torch.cat([torch.zeros(gen.anatomy), gen.residual_mean[vi * gen.residual:(vi + 1) * gen.residual]])
                    frames[v] = gen.decode(v, z, phases.float()).numpy()
            for v in gen.view_names:
                tf = true[v][i].numpy()
                acc[kind][v]["ssim"].append(np.mean([ssim(frames[v][k], tf[k]) for k in range(fr)]))
                acc[kind][v]["psnr"].append(np.mean([psnr(frames[v][k], tf[k]) for k in range(fr)]))
            f = cine_function(frames["sax"])
            acc[kind]["ef"].append(f["ef"])
            acc[kind]["eda"].append(f["ed_area"])
    ef_true = p.targets.phenotype[rows, j_ef]
    edv_true = p.targets.phenotype[rows, j_edv]
    head_ef = out["heads"]["phenotype"][:, j_ef] * p.ph_std[j_ef] + p.ph_mean[j_ef]
    res = {"subjects": int(len(pos)), "frames": fr, "samplingSteps": g["diffusion"]["samplingSteps"],
           "guidance": g["guidance"],
           "true_cine_ef_vs_table": pearson([t["ef"] for t in true_fun], ef_true),
           "true_cine_eda_vs_edv": pearson([t["ed_area"] for t in true_fun], edv_true)}
    for kind in kinds:
        a = acc[kind]
        res[kind] = {v: {"ssim": float(np.mean(a[v]["ssim"])), "psnr": float(np.mean(a[v]["psnr"]))}
                     for v in gen.view_names}
        res[kind]["ef_vs_true_ef"] = pearson(a["ef"], ef_true)
        res[kind]["eda_vs_true_edv"] = pearson(a["eda"], edv_true)
        res[kind]["ef_vs_true_cine_ef"] = pearson(a["ef"], [t["ef"] for t in true_fun])
    res["generated"]["ef_vs_model_ef"] = pearson(acc["generated"]["ef"], head_ef)
    return res


def _f(x, nd=3):
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{nd}f}"


def write_card(p, res: dict, gen: dict, manifest: dict, path, bundle_mb: float) -> None:
    cfg = p.cfg
    timings = json.loads((p.run_dir / "timings.json").read_text())
    a, b = res["aligned"], res["baseline"]
    total_s = sum(v.get("seconds", 0) for v in timings.values())
    e = cfg["encoder"]
    L = []
    L.append(f"# Model card — {manifest['displayName']} (`{manifest['id']}`)\n")
    L.append("> **Trained on synthetic data. A demonstration, not for clinical use.** Every ECG and CMR "
             "this model saw was generated by `training/cohort` from a simulated cardiac state; none of "
             "its numbers say anything about performance on real patients.\n")
    L.append(f"Generated by `training/ecg2cmr_train/evaluate.py` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC "
             f"from run `{cfg['run_dir']}` (config `{cfg.get('config_file', 'defaults')}`). "
             "Reproduce: see `training/README.md`.\n")
    L.append("## What it is\n")
    L.append(f"- ECG encoder (beat-aware, `beatvit1d`): R peaks found by SignalKit's Pan–Tompkins detector "
             f"(the same algorithm in `training/ecg2cmr_train/beats.py`), per-lead median beat "
             f"({p.beat_samples} samples at {int(p.rate)} Hz) cut into patches of {e['patch']} samples "
             f"({12 * p.beat_samples // e['patch']} beat tokens) plus one rhythm token (RR statistics); width {e['width']}, "
             f"depth {e['depth']}, {e['heads']} heads, attention pooling, projection {e['proj_dim']}.")
    L.append(f"- Training: masked modelling of the beat tokens (mask ratio {cfg['mdm']['mask_ratio']}) → CLIP-style "
             f"alignment to the CMR representation (τ = {cfg['align']['temperature']}, λ = {cfg['align']['lambda']}, "
             f"weighted InfoNCE {'on' if cfg['align']['weighted'] else 'off'}) → "
             + ("heads on the frozen encoder: its pooled vector beside a wide branch (sub-sampled median beats, "
                "per-lead extremes, RR), the encoder's weights unchanged"
                if cfg["heads"].get("freeze_encoder") else
                f"fine-tuning of encoder + heads (alignment kept at weight {cfg['heads']['align_weight']})")
             + " with early stopping on the validation loss"
             + (f"; {int(cfg['heads']['seeds'])} seeds of the wide branch and heads, each its own early-stopped run, "
                "folded exactly into one model whose outputs are the seeds' mean (`heads.seeds`)"
                if int(cfg["heads"]["seeds"]) > 1 else "") + ".")
    from .pipeline import decoder_anatomy_index
    k_anat = len(decoder_anatomy_index(cfg))
    gen_anatomy = (f"all {k_anat}" if k_anat == len(D.PHENOTYPES) else
                   f"{k_anat} (`cmr.anatomy_outputs`: the values the heart is drawn from; what follows from them, such "
                   "as SV, EF, CO and mass, is left out)")
    L.append("- CMR representation and generator: a conditional autoencoder on pose-normalised cines (the cohort "
             "stores each cine's pose). Its frame decoder renders frame φ from (anatomy, residual): the anatomy is "
             f"the {gen_anatomy} of the standardised phenotypes — at inference the phenotype head's own output, so the "
             f"picture shows the numbers beside it — and the residual ({cfg['cmr']['residual']} numbers per view, a small "
             "VAE) carries texture and shading. A DDPM prior over the residual, conditioned on the ECG embedding "
             f"(condition dropout {cfg['prior']['cond_dropout']}, classifier-free guidance {cfg['prior']['guidance']}), "
             f"DDIM {cfg['prior']['sampling_steps']} steps; the seed also draws the pose (±{cfg['pose']['rotationDegrees']}°, "
             f"±{cfg['pose']['shiftPixels']} px). A new seed changes texture and pose, never the anatomy.")
    L.append(f"- Baseline: the same encoder and heads from random initialisation on ECG alone"
             + (" (the random encoder frozen too: only its wide branch and heads learn)" if cfg["heads"].get("freeze_encoder") else "")
             + f", the same {timings.get('baseline', {}).get('steps', '?')} training steps and batches"
             + (f" — one seed, so the aligned-vs-baseline difference below includes the {int(cfg['heads']['seeds'])}-seed "
                "ensemble's gain" if int(cfg["heads"]["seeds"]) > 1 else "") + ".")
    L.append(f"- Data: synthetic cohort of {p.cohort.n} subjects; used train {len(p.pos['train'])}, validation "
             f"{len(p.pos['val'])}, test {len(p.pos['test'])}"
             + ("." if p.cohort_complete else " (the cohort build had not finished when training started: only the "
                "subjects already written were used)."))
    L.append(f"- Bundle: `{cfg['bundle_dir']}`, {bundle_mb:.2f} MB.\n")

    L.append("## Aligned vs ECG-only baseline (held-out test split)\n")
    L.append(f"| summary | aligned | baseline |\n|---|---|---|")
    L.append(f"| mean disease AUC ({len(D.RISK_OUTPUTS)} risk outputs) | {_f(a['mean_auc'])} | {_f(b['mean_auc'])} |")
    L.append(f"| mean phenotype Pearson r ({len(D.PHENOTYPES)} outputs) | {_f(a['mean_r'])} | {_f(b['mean_r'])} |")
    L.append(f"| cardiomyopathy subtype accuracy (cardiomyopathy cases) | {_f(a['cm_subtype_accuracy'])} | {_f(b['cm_subtype_accuracy'])} |\n")
    m7 = lambda r: float(np.nanmean([r["risk"][k]["auc"] for k in ECG_VISIBLE]))  # noqa: E731
    floors = res.get("floors", {"floor": "logistic / ridge"})
    vs = res.get("vs_floors", {})
    fn = list(floors)
    L.append("### Against the floors (fitted on the training split, scored on the same test subjects)\n")
    L.append("Floors: " + "; ".join(f"**{k}** = {v}" for k, v in floors.items()) + ". The linear floor's C is chosen per "
             "output on the validation split and α by leave-one-out CV; the trees stop early on a held-back tenth; the CNN trains for a fixed "
             "wall time and keeps its best validation state (`training/ecg2cmr_train/floors.py`).\n")
    hdr = "| output | model | " + " | ".join(fn) + " | " + " | ".join(f"model − {k} [95 % CI]" for k in vs) + " |"
    L.append(hdr)
    L.append("|---|---|" + "---|" * (len(fn) + len(vs)))

    def delta(k, part, oid=None):
        d = vs[k][part] if oid is None else vs[k][part][oid]
        return f"{d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}]"
    L.append(f"| mean AUC, {len(ECG_VISIBLE)} ECG-visible outputs | {_f(m7(a))} | " + " | ".join(_f(m7(res[k])) for k in fn)
             + " | " + " | ".join(delta(k, "meanAUC7") for k in vs) + " |")
    L.append(f"| mean phenotype r ({len(D.PHENOTYPES)} outputs) | {_f(a['mean_r'])} | " + " | ".join(_f(res[k]['mean_r']) for k in fn)
             + " | " + " | ".join(delta(k, "meanR") for k in vs) + " |")
    for _, oid, label in D.RISK_OUTPUTS:
        L.append(f"| {label} AUC | {_f(a['risk'][oid]['auc'])} | " + " | ".join(_f(res[k]['risk'][oid]['auc']) for k in fn)
                 + " | " + " | ".join(delta(k, "risk", oid) for k in vs) + " |")
    for _, oid, label, _u in D.PHENOTYPES:
        L.append(f"| {label} r | {_f(a['phenotype'][oid]['r'])} | " + " | ".join(_f(res[k]['phenotype'][oid]['r']) for k in fn)
                 + " | " + " | ".join(delta(k, "phenotype", oid) for k in vs) + " |")
    if vs:
        behind = [f"{oid} vs {k}" for k in vs for oid in ECG_VISIBLE if vs[k]["risk"][oid][2] < 0]
        L.append("\nPaired bootstrap over test subjects (the same resample for model and floor). "
                 + ("ECG-visible outputs behind a floor with a CI excluding 0: " + ", ".join(behind) + "."
                    if behind else "No ECG-visible output is behind any floor with a CI that excludes 0."))
    cal = res.get("calibration")
    if cal:
        L.append("\n### Risk calibration (test split)\n")
        L.append("Risk logits are recalibrated on the validation split (Platt scaling per output, folded into the risk "
                 "head's weights). Expected calibration error, 10 equal-width bins:\n")
        L.append("| output | ECE | weak |\n|---|---|---|")
        weak_ = {o["id"]: o["weak"] for h in manifest["heads"] if h["name"] == "risk" for o in h["outputs"]}
        for _, oid, label in D.RISK_OUTPUTS:
            L.append(f"| {label} | {_f(cal[oid]['ece'])} | {'yes' if weak_.get(oid) else 'no'} |")
        L.append("\n![Reliability diagram](img/reliability.png)\n")
    if res.get("intervals"):
        L.extend(interval_section(res["intervals"], res.get("intervalCells"), "the validation split"))
    gm = res.get("group_means")
    if gm:
        L.append("### Severity within disease groups (test split): mean true → mean predicted\n")
        L.append("| group | n | LV EF % | LV EDV mL | RV EDV mL | LV mass g |\n|---|---|---|---|---|---|")
        for g, v in gm.items():
            L.append(f"| {g} | {v['n']} | " + " | ".join(f"{v[o][0]:.1f} → {v[o][1]:.1f}" for o in ("lv_ef", "lv_edv", "rv_edv", "lv_mass")) + " |")
        L.append("")
    ci = res["paired"]
    L.append(f"\nAligned − baseline, paired bootstrap 95 % CI ({cfg['evaluate']['bootstrap']} resamples of the test "
             f"subjects): mean AUC of the {len(ECG_VISIBLE)} ECG-visible outputs [{_f(ci['meanAUC7'][0])}, {_f(ci['meanAUC7'][1])}]; "
             f"LV EF r [{_f(ci['lvEfR'][0])}, {_f(ci['lvEfR'][1])}]. The baseline gets the same phenotype supervision, "
             "so the difference measures alignment only.\n")
    le = res["label_efficiency"]
    if le:
        L.append("### Label efficiency (linear probe on frozen pooled features)\n")
        L.append("| encoder | " + " | ".join(f"{float(k) * 100:g} % labels: AUC7 / EF r" for k in next(iter(le.values()))) + " |")
        L.append("|---|" + "---|" * len(next(iter(le.values()))))
        for name, r in le.items():
            L.append(f"| {name} | " + " | ".join(f"{_f(v['meanAUC7'])} / {_f(v['lvEfR'])} ({v['labels']})" for v in r.values()) + " |")
        L.append("")
    verdict_auc = "beats" if a["mean_auc"] > b["mean_auc"] else "does NOT beat"
    verdict_r = "beats" if a["mean_r"] > b["mean_r"] else "does NOT beat"
    L.append(f"The aligned encoder {verdict_auc} the baseline on mean disease AUC and {verdict_r} it on mean "
             "phenotype r in this run.\n")

    L.append("### Disease heads (sigmoid): AUC with 95 % bootstrap CI "
             f"({cfg['evaluate']['bootstrap']} resamples); accuracy / sensitivity / specificity at the "
             "Youden-optimal threshold chosen on the validation split\n")
    L.append("| output | positives | aligned AUC [95 % CI] | acc / sens / spec | baseline AUC [95 % CI] | acc / sens / spec | weak |")
    L.append("|---|---|---|---|---|---|---|")
    weak = {o["id"]: o["weak"] for h in manifest["heads"] for o in h["outputs"] if "weak" in o}
    for _, oid, label in D.RISK_OUTPUTS:
        x, y = a["risk"][oid], b["risk"][oid]
        L.append(f"| {label} | {x['positives']} | {_f(x['auc'])} [{_f(x['lo'])}, {_f(x['hi'])}] | "
                 f"{_f(x['accuracy'], 2)} / {_f(x['sensitivity'], 2)} / {_f(x['specificity'], 2)} (p ≥ {_f(x['threshold'], 3)}) | "
                 f"{_f(y['auc'])} [{_f(y['lo'])}, {_f(y['hi'])}] | "
                 f"{_f(y['accuracy'], 2)} / {_f(y['sensitivity'], 2)} / {_f(y['specificity'], 2)} | {'yes' if weak.get(oid) else 'no'} |")
    L.append("\n`weak` = validation AUC < 0.65: the workstation shows such outputs with their AUC and never as a finding.\n")
    L.append("### Cardiomyopathy subtype (softmax, one-vs-rest AUC among cardiomyopathy cases)\n")
    L.append("| subtype | cases | aligned AUC [95 % CI] | baseline AUC [95 % CI] |\n|---|---|---|---|")
    for sid, label in D.SUBTYPES:
        x, y = a["cm_subtype"][sid], b["cm_subtype"][sid]
        L.append(f"| {label} | {x['cases']} | {_f(x['auc'])} [{_f(x['lo'])}, {_f(x['hi'])}] | "
                 f"{_f(y['auc'])} [{_f(y['lo'])}, {_f(y['hi'])}] |")
    L.append("\n### Phenotypes (regression): Pearson r with Fisher-z 95 % CI, mean absolute error\n")
    L.append("| phenotype | unit | aligned r [95 % CI] | aligned MAE | baseline r [95 % CI] | baseline MAE | reference range |")
    L.append("|---|---|---|---|---|---|---|")
    ref = {o["id"]: o["referenceRange"] for h in manifest["heads"] if h["name"] == "phenotype" for o in h["outputs"]}
    for _, oid, label, unit in D.PHENOTYPES:
        x, y = a["phenotype"][oid], b["phenotype"][oid]
        L.append(f"| {label} | {unit} | {_f(x['r'])} [{_f(x['lo'])}, {_f(x['hi'])}] | {_f(x['mae'], 2)} | "
                 f"{_f(y['r'])} [{_f(y['lo'])}, {_f(y['hi'])}] | {_f(y['mae'], 2)} | {ref[oid][0]}–{ref[oid][1]} |")
    version = p.cohort.meta.get("generator_version", "version not recorded: the build had not finished")
    L.append("\nReference ranges: 2.5th–97.5th percentile of the disease-free training subjects (the cohort draws "
             f"healthy values from the cited reference table in docs/synthetic-cohort.md; generator {version}). "
             "Regression outputs are flagged `weak` in the manifest when validation r < 0.5.\n")

    L.append(f"## Generator (first {gen['subjects']} test subjects, {gen['frames']} phases per view, DDIM "
             f"{gen['samplingSteps']} steps, guidance {gen['guidance']}, seeded noise; compared in the canonical pose)\n")
    L.append("| frames decoded from | SAX SSIM | SAX PSNR (dB) | LAX SSIM | LAX PSNR (dB) | r(area EF, true EF) | r(ED area, true EDV) |")
    L.append("|---|---|---|---|---|---|---|")
    names = {"generated": "this ECG: head anatomy + prior residual (what the workstation shows)",
             "shuffled": "another subject's ECG (shuffled control)",
             "autoencoder": "true anatomy + the true cine's residual (autoencoder ceiling)",
             "anatomy_only": "true anatomy alone, residual dropped (what the anatomy draws)",
             "mean_latent": "cohort-mean anatomy and residual (no ECG information)"}
    for k in ("generated", "shuffled", "autoencoder", "anatomy_only", "mean_latent"):
        s_ = gen[k]
        L.append(f"| {names[k]} | {_f(s_['sax']['ssim'])} | {_f(s_['sax']['psnr'], 2)} | {_f(s_['lax']['ssim'])} | "
                 f"{_f(s_['lax']['psnr'], 2)} | {_f(s_['ef_vs_true_ef'])} | {_f(s_['eda_vs_true_edv'])} |")
    L.append("")
    L.append("Blood-pool measurement on SAX frames: one Otsu threshold per cine, bright component nearest the centre "
             "per frame; area EF = (max − min) / max over the cycle, ED area = max. On the true cines it tracks the "
             f"cohort's LV EF at r = {_f(gen['true_cine_ef_vs_table'])} and EDV at r = {_f(gen['true_cine_eda_vs_edv'])}. "
             f"The generated EF agrees with the model's own EF head at r = {_f(gen['generated']['ef_vs_model_ef'])}. "
             "Wall thickness is not measured on the frames (the anatomy input carries the 16 segment thicknesses).\n")
    L.append("![Generated vs true SAX / LAX, normal, DCM, HCM](img/generated-vs-true.png)\n")
    L.append("*`docs/img/generated-vs-true.png`, from `python training/generator_figure.py`: held-out subjects, "
             "true cine (its own pose) beside the generated one (the seed's pose), end-diastole and end-systole.*\n")
    L.append("CMR representation: its anatomy part is the CMR-measured phenotype vector itself, so a linear probe "
             "recovers EF, EDV and LV mass exactly (r = 1 by construction); what matters is that the decoder draws it — "
             f"frames decoded from the true anatomy alone give an area EF that tracks the true EF at r = "
             f"{_f(gen['anatomy_only']['ef_vs_true_ef'])} and an ED area that tracks EDV at r = "
             f"{_f(gen['anatomy_only']['eda_vs_true_edv'])}; with the true cine's residual added (the autoencoder "
             f"ceiling) r = {_f(gen['autoencoder']['ef_vs_true_ef'])} and {_f(gen['autoencoder']['eda_vs_true_edv'])} — "
             "the residual makes the picture closer to the true cine (SSIM, PSNR) but can also blur a thin septum, and one "
             "cine whose LV blood pool the tracker then merges with the RV moves r on this many subjects.\n")
    L.append("## Training wall time (2-core CPU, shared with other jobs)\n")
    L.append("| stage | seconds | steps |\n|---|---|---|")
    for k, v in timings.items():
        L.append(f"| {k} | {v.get('seconds', 0):.0f} | {v.get('steps', '')} |")
    L.append(f"| **total** | {total_s:.0f} | |\n")
    L.append("## Limits\n")
    L.append("- Synthetic training and test data: the ECG↔CMR relations are those the simulator encodes, so the "
             "numbers above measure the pipeline, not medicine.")
    L.append("- Tissue markers (LGE, T1, T2, ECV) are barely visible on an ECG, as Sahashi et al. found for "
             "echo; their heads are expected to be weak and are flagged as such.")
    L.append("- Generated cines are drawn from a prior conditioned on the ECG: they show a plausible heart for "
             "that ECG, not the patient's heart.")
    r_gen = gen["generated"]["ef_vs_true_ef"]
    if not np.isfinite(r_gen) or r_gen < 3 * max(abs(gen["shuffled"]["ef_vs_true_ef"]), 0.05):
        L.append(f"- In this run the generated cines carry little subject-specific information: their area EF "
                 f"correlates with the true EF at r = {_f(r_gen)} against {_f(gen['shuffled']['ef_vs_true_ef'])} for "
                 "shuffled ECGs. Read them as an illustration of the pipeline only.")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Keep the held-out section that training/heldout_eval.py writes between its markers, the
    # hand-written history of held-out checks after it, and the out-of-distribution section (rule,
    # measurements), written by hand and by training/ood_measure.py between its own markers.
    old = path.read_text() if path.exists() else ""
    kept = []
    for start, end in (("<!-- heldout:start -->", "<!-- heldout:end -->"),
                       ("<!-- heldout-history:start -->", "<!-- heldout-history:end -->"),
                       ("<!-- ood:start -->", "<!-- ood:end -->")):
        if start in old and end in old:
            kept.append(old[old.index(start):old.index(end) + len(end)])
    path.write_text("\n".join(L) + "".join("\n\n" + k for k in kept) + "\n")


def evaluate(p) -> dict:
    from .pipeline import ecg_inputs, predict, trained_model
    cfg = p.cfg
    t0 = time.time()
    ecg_inputs(p)
    bdir = resolve(cfg["bundle_dir"])
    enc, gen, manifest = load_bundle(bdir)
    base = trained_model(p, "baseline")
    val = json.loads((p.run_dir / "validation.json").read_text())
    p.val_thresholds = {"baseline": {k: v["threshold"] for k, v in val["baseline"]["risk"].items()},
                        "floor": {k: 0.5 for k in val["baseline"]["risk"]}}
    pos = p.pos["test"]
    from .floors import FLOOR_NAMES, load_floors
    floors = load_floors(p) if (p.run_dir / "floors.npz").exists() else {"linear": floor_predictions(p)}
    for k in floors:
        p.val_thresholds[k] = {oid: 0.5 for oid in p.val_thresholds["floor"]}
    pred = predict(p, enc, pos)
    outs = {"aligned": pred["heads"], "baseline": predict(p, base, pos)["heads"], **floors}
    res = disease_metrics(p, outs, manifest, int(cfg["evaluate"]["bootstrap"]))
    res["floors"] = {k: FLOOR_NAMES.get(k, k) for k in floors}
    res["paired"] = paired_bootstrap(p, outs["aligned"], outs["baseline"], max(50, int(cfg["evaluate"]["bootstrap"]) // 5))
    res["vs_floors"] = paired_vs_floors(p, outs["aligned"], floors, max(50, int(cfg["evaluate"]["bootstrap"]) // 2))
    for k, v in res["vs_floors"].items():
        log(f"evaluate: model − {k}: mean AUC7 {v['meanAUC7'][0]:+.3f} [{v['meanAUC7'][1]:+.3f}, {v['meanAUC7'][2]:+.3f}], "
            f"mean r {v['meanR'][0]:+.3f} [{v['meanR'][1]:+.3f}, {v['meanR'][2]:+.3f}]")
    res["calibration"] = calibration_metrics(p, pred["heads"]["risk"])
    reliability_figure(res["calibration"], resolve("docs/img/reliability.png") if cfg["bundle_id"].startswith("demo")
                       else p.run_dir / "reliability.png")
    cal = json.loads((p.run_dir / "calibration.json").read_text())
    if "phenotype" in pred["log_sigma"]:
        from .validate import interval_cells
        cells = interval_cells(pred["heads"]["risk"], pred["heads"]["cm_subtype"])
        res["intervals"] = interval_metrics(p, pred["heads"]["phenotype"], pred["log_sigma"]["phenotype"],
                                            {k: v.get("cellScales", v["scale"]) for k, v in cal["phenotype"].items()}, cells)
        res["intervalCells"] = {c: int((cells == c).sum()) for c in sorted(set(cells))}
    res["group_means"] = group_means(p, pred["heads"]["phenotype"])
    # Label-efficiency probes re-encode the training split twice; an empty fraction list skips them.
    res["label_efficiency"] = label_efficiency(p, cfg["evaluate"]["label_fractions"]) if cfg["evaluate"]["label_fractions"] else {}
    log(f"evaluate: test mean AUC aligned {res['aligned']['mean_auc']:.3f} vs baseline {res['baseline']['mean_auc']:.3f}"
        + "".join(f" vs {k} {res[k]['mean_auc']:.3f}" for k in floors))
    g = generator_metrics(p, enc, gen, manifest, int(cfg["evaluate"]["generator_subjects"]),
                          int(cfg["evaluate"]["generator_seed_base"]))
    log(f"evaluate: generator r(EF) {g['generated']['ef_vs_true_ef']:.3f} (shuffled {g['shuffled']['ef_vs_true_ef']:.3f})")
    bundle_mb = sum(f.stat().st_size for f in bdir.iterdir() if f.is_file()) / 1e6
    (p.run_dir / "evaluation.json").write_text(json.dumps({"disease": res, "generator": g, "bundle_mb": bundle_mb},
                                                          indent=2, default=float) + "\n")
    write_card(p, res, g, manifest, resolve(cfg["model_card"]), bundle_mb)
    log(f"evaluate: wrote {resolve(cfg['model_card'])} in {time.time() - t0:.0f} s")
    return {"disease": res, "generator": g}


def main(argv=None):
    import argparse
    from .config import load_config
    from .pipeline import open_run
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default="configs/demo.json")
    ap.add_argument("--cohort", default=None)
    ap.add_argument("--card-only", action="store_true",
                    help="rewrite the model card from the run's evaluation.json without recomputing")
    args = ap.parse_args(argv)
    cfg = load_config(args.config, {"cohort": args.cohort} if args.cohort else None)
    torch.set_num_threads(int(cfg["threads"]))
    run = open_run(cfg)
    if args.card_only:
        ev = json.loads((run.run_dir / "evaluation.json").read_text())
        _, _, manifest = load_bundle(resolve(cfg["bundle_dir"]))
        write_card(run, ev["disease"], ev["generator"], manifest, resolve(cfg["model_card"]), ev["bundle_mb"])
        return
    evaluate(run)


if __name__ == "__main__":
    main()
