"""Stage `floors`: the simple models the network must beat, fitted on the training split.

  linear  logistic regression (risks) / ridge (phenotypes) on every 4th sample of each lead's
          median beat + RR statistics; C chosen per output on the validation split (AUC), α by
          leave-one-out CV on the training split (RidgeCV)
  hgb     sklearn HistGradientBoosting on the same inputs + the global measurements
          (`cohort.features.ecg_features`: heart rate, RR variability, QRS duration, Sokolow–Lyon,
          Cornell, per-lead R / S / ST / T amplitudes), early stopping on a held-back tenth
  cnn     a plain 1-D CNN on the raw 12 leads (250 Hz, 10 s, baseline = per-lead median), all
          outputs at once, time-capped

Test-split predictions go to floors.npz (evaluate.py compares the model with each, paired
bootstrap); the fitted HGB models go to floors_hgb.pkl so the held-out check through the binary
(heldout_eval.py) scores the same trees on features of the files it screens.
"""
from __future__ import annotations

import pickle
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import data as D
from .loop import log

FLOOR_NAMES = {"linear": "validated logistic / ridge (beats + RR)",
               "hgb": "gradient-boosted trees (beats + RR + measurements)",
               "cnn": "plain 1-D CNN (raw 12 leads)"}


MIN_CLASS = 10      # fewer positives (or negatives) than this in the training split: not fitted


def beat_rr_features(p, pos) -> np.ndarray:
    """Every 4th median-beat sample of every lead + the RR statistics (the linear floor's inputs)."""
    from .validate import ood_input_vectors
    c = p.cache
    t = torch.as_tensor(np.asarray(pos))
    return ood_input_vectors(c["beats"][t].numpy(), c["rhythm"][t].numpy(), 4)


def measurement_features(ecg_mv: np.ndarray, fs: float) -> np.ndarray:
    """Global measurements of records [n, 12, S] in mV (cohort.features.ecg_features; NaN where a
    measurement is impossible — HGB handles missing values natively)."""
    from cohort.features import ecg_features
    return np.stack([ecg_features(x.astype(np.float64), fs) for x in ecg_mv])


def cohort_measurements(p) -> np.ndarray:
    """Measurements of every selected row, cached in the run folder."""
    path = p.run_dir / "cache" / "measurements.npy"
    if path.exists():
        return np.load(path)
    t0 = time.time()
    out = []
    for i in range(0, len(p.rows), 500):
        out.append(measurement_features(p.cohort.ecg_mv(p.rows[i:i + 500]), p.cohort.rate))
    m = np.concatenate(out).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, m)
    log(f"floors: measurements of {len(m)} records in {time.time() - t0:.0f} s")
    return m


def fit_linear(xtr, ytr_risk, ytr_ph, xte, seed: int, xva=None, yva_risk=None) -> dict:
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.preprocessing import StandardScaler
    from .metrics import auc
    sc = StandardScaler().fit(xtr)
    a, b = sc.transform(xtr), sc.transform(xte)
    v = sc.transform(xva) if xva is not None else None
    risk = np.zeros((len(xte), ytr_risk.shape[1]))
    for j in range(ytr_risk.shape[1]):
        if min(ytr_risk[:, j].sum(), (1 - ytr_risk[:, j]).sum()) < MIN_CLASS:
            continue                    # too few of one class to fit (tiny test cohorts): score 0
        best = None
        for c in (0.003, 0.03, 0.3):
            m = LogisticRegression(C=c, max_iter=300).fit(a, ytr_risk[:, j])
            score = auc(yva_risk[:, j], m.decision_function(v)) if v is not None and yva_risk[:, j].min() < yva_risk[:, j].max() else -c
            if best is None or score > best[0]:
                best = (score, m)
        risk[:, j] = best[1].decision_function(b)
    ph = RidgeCV(alphas=[1, 3, 10, 30, 100, 300, 1000]).fit(a, ytr_ph).predict(b)
    return {"risk": risk, "phenotype": ph}


def fit_hgb(xtr, ytr_risk, ytr_ph, xte, seed: int) -> tuple[dict, dict]:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    risk = np.zeros((len(xte), ytr_risk.shape[1]))
    ph = np.zeros((len(xte), ytr_ph.shape[1]))
    models = {"risk": [], "phenotype": []}
    kw = dict(max_iter=200, learning_rate=0.1, early_stopping=True, validation_fraction=0.1, n_iter_no_change=10,
              random_state=seed)
    for j in range(ytr_risk.shape[1]):
        if min(ytr_risk[:, j].sum(), (1 - ytr_risk[:, j]).sum()) < MIN_CLASS:
            models["risk"].append(None)
            continue
        m = HistGradientBoostingClassifier(**kw).fit(xtr, ytr_risk[:, j])
        risk[:, j] = m.decision_function(xte)
        models["risk"].append(m)
    for j in range(ytr_ph.shape[1]):
        m = HistGradientBoostingRegressor(**kw).fit(xtr, ytr_ph[:, j])
        ph[:, j] = m.predict(xte)
        models["phenotype"].append(m)
    return {"risk": risk, "phenotype": ph}, models


class PlainCNN(nn.Module):
    """Four strided conv blocks (k 7, stride 2, BN, ReLU) → global average → one linear layer."""

    def __init__(self, outputs: int, channels=(32, 64, 64, 128)):
        super().__init__()
        layers, c_in = [], 12
        for c in channels:
            layers += [nn.Conv1d(c_in, c, 7, stride=2, padding=3), nn.BatchNorm1d(c), nn.ReLU()]
            c_in = c
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(c_in, outputs)

    def forward(self, x):
        return self.out(self.body(x).mean(dim=2))


def raw_leads(p, pos) -> torch.Tensor:
    x = p.cohort.ecg_mv(p.rows[np.asarray(pos)]).astype(np.float32)
    x = x - np.median(x, axis=2, keepdims=True)
    return torch.from_numpy(np.clip(x, -8, 8))


def fit_cnn(p, minutes: float, seed: int) -> dict:
    tr, va, te = p.pos["train"], p.pos["val"], p.pos["test"]
    nr = len(D.RISK_OUTPUTS)
    risk = torch.from_numpy(p.targets.risk[p.rows].astype(np.float32))
    ph = torch.from_numpy(((p.targets.phenotype[p.rows] - p.ph_mean) / p.ph_std).astype(np.float32))
    torch.manual_seed(seed)
    net = PlainCNN(nr + len(D.PHENOTYPES))
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    rng = np.random.default_rng(seed)
    pos_w = torch.clamp((1 - risk[tr].mean(0)) / risk[tr].mean(0).clamp_min(1e-3), 1, 5)

    def loss_of(idx):
        o = net(raw_leads(p, idx))
        t = torch.as_tensor(idx)
        return (F.binary_cross_entropy_with_logits(o[:, :nr], risk[t], pos_weight=pos_w)
                + F.mse_loss(o[:, nr:], ph[t]))

    t0, step, best, best_state = time.time(), 0, float("inf"), None
    vsub = va[:500]
    while time.time() - t0 < minutes * 60:
        net.train()
        idx = rng.choice(tr, size=min(64, len(tr)), replace=False)
        loss = loss_of(idx)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 100 == 0:
            net.eval()
            with torch.no_grad():
                v = float(loss_of(vsub))
            if v < best:
                best, best_state = v, {k: t.clone() for k, t in net.state_dict().items()}
            log(f"floors: cnn step {step}, validation loss {v:.4f}")
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(te), 256):
            outs.append(net(raw_leads(p, te[i:i + 256])).numpy())
    o = np.concatenate(outs)
    log(f"floors: cnn {step} steps in {time.time() - t0:.0f} s")
    return {"risk": o[:, :nr], "phenotype": o[:, nr:], "steps": step}


def stage_floors(p) -> None:
    cfg = p.cfg["floors"]
    seed = int(p.cfg["seed"])
    t0 = time.time()
    from .pipeline import ecg_inputs
    ecg_inputs(p)
    tr, te = p.pos["train"], p.pos["test"]
    ntr = min(len(tr), int(cfg["max_train"]))
    tr = np.sort(p.rng("floors-train").choice(tr, size=ntr, replace=False))
    rtr = p.rows[tr]
    ytr_risk = p.targets.risk[rtr]
    ytr_ph = (p.targets.phenotype[rtr] - p.ph_mean) / p.ph_std
    x_beats_tr, x_beats_te = beat_rr_features(p, tr), beat_rr_features(p, te)
    meas = cohort_measurements(p)
    out = {}
    t = time.time()
    va = p.pos["val"]
    lin = fit_linear(x_beats_tr, ytr_risk, ytr_ph, x_beats_te, seed, beat_rr_features(p, va), p.targets.risk[p.rows[va]])
    log(f"floors: linear in {time.time() - t:.0f} s")
    t = time.time()
    hgb, models = fit_hgb(np.concatenate([x_beats_tr, meas[tr]], 1), ytr_risk, ytr_ph,
                          np.concatenate([x_beats_te, meas[te]], 1), seed)
    log(f"floors: hgb in {time.time() - t:.0f} s")
    with open(p.run_dir / "floors_hgb.pkl", "wb") as f:
        pickle.dump({"models": models, "beat_stride": 4, "train_subjects": int(ntr),
                     "features": "every 4th median-beat sample per lead + RR statistics + cohort.features.ecg_features"}, f)
    cnn = fit_cnn(p, float(cfg["cnn_minutes"]), seed)
    for name, o in (("linear", lin), ("hgb", hgb), ("cnn", cnn)):
        out[f"{name}.risk"] = o["risk"]
        out[f"{name}.phenotype"] = o["phenotype"]
    np.savez(p.run_dir / "floors.npz", train_subjects=ntr, cnn_steps=cnn["steps"], **out)
    p.timings.set("floors", seconds=round(time.time() - t0, 1), steps=int(cnn["steps"]))


def load_floors(p) -> dict:
    """{floor name: {"risk": logits/scores [n_test, R], "phenotype": standardised [n_test, K], "cm_subtype": zeros}}."""
    z = np.load(p.run_dir / "floors.npz")
    n = len(p.pos["test"])
    return {name: {"risk": z[f"{name}.risk"], "phenotype": z[f"{name}.phenotype"],
                   "cm_subtype": np.zeros((n, len(D.SUBTYPES)))} for name in FLOOR_NAMES}
