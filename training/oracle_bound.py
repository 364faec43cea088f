"""Oracle upper bound for issue #25's group criteria: what could ANY ECG-only predictor reach?

    cd training && OMP_NUM_THREADS=1 nice -n 15 python oracle_bound.py --cohort ../data/cohort \
        --out runs/oracle-bound [--n-heldout 1500] [--verify 5] [--big-n 150000 --big-seed 25025]

What it is. Gradient-boosted trees (sklearn HGB) fitted not on the ECG but on the *oracle* feature
set: the noise-free beat parameters that the simulator's own `cohort.ecg.beat_model` builds for each
subject. For each of the 13 waves (P, P_la, Ta, q, R, S, R1, R2, R_prime, Q_mi, R_rv, T, ST), in a
fixed order, a presence flag, t, sigma_left, sigma_right and the 3-D vector (zeros when absent);
then beat_model's `info` values (qrs_volt_mV, qrs_ms, qrs_axis_deg, pr_s, qtc_s, w, rv_overload),
q_wave_mi (1 = the infarct left Q waves; whether the key exists is NOT encoded, that would leak
prior_mi), has_p, heart rate, AF and a one-hot bundle-branch block: 105 columns. No age, sex,
height or weight (beat_model uses them internally for voltage, QRS width, axis and PR).

Why it bounds information. These values fix the noise-free 12-lead signal: the stored ECG is a
function of them plus the rendering rng (RR jitter, beat-to-beat amplitude, electrode noise),
and that rng is seeded per subject independently of its cardiac state. So the features carry at
least as much information about the state as the stored ECG does. `--verify K` checks the mapping
from subjects.csv to the state dict: it re-renders K subjects exactly as `cohort.build` does and
requires the stored int16 ECG (and the cines and poses) to match to 0 counts.

What it reports (fit on split=train, early stopping on split=val, scores on split=test):
(a) the group means of the point estimate (conditional mean) within DCM (LV EDV) and pulmonary
    hypertension (RV EDV) against the truth, for LV EF / LV EDV / LV mass / RV EDV in every disease
    group; the median predicted EF among true EF <= 35 %; overall r; the DCM classifier's AUROC
    and the share of true DCM with p(DCM) < 0.1 (ECGs that look non-DCM even to the oracle);
(b) the binomial chance that a *perfectly calibrated* 80 % interval shows 75-85 % coverage in each
    disease group of a held-out cohort of `--n-heldout` subjects (group sizes = that n times the
    cohort's prevalence), and in all 16 group cells (4 phenotypes x 4 groups) at once under an
    independence approximation (coverage of the 4 phenotypes within one group is positively
    correlated, so the fully correlated value is printed beside it as the other extreme).
`--big-n N --big-seed S` also draws a fresh state-only cohort (beat_model only, no rendering)
and fits the same trees on it, scored on the cohort's test split and on a held-out slice of the
fresh cohort: is 14k training subjects enough for HGB to approach the Bayes predictor?

Limits (measured with this script, --big-n included):
- HGB on finite data is not the Bayes predictor: r still gains ~0.02 from 14k to 70k training
  subjects, and the DCM EDV bias moves between -10 % and -14 % across HGB variants.
- The oracle sees noise-free, hidden-rng-derived values (exact qrs_volt_mV, rv_overload, wave
  vectors) that a real 10 s noisy ECG only approximates. It bounds the *information*, not the
  criteria: group-mean bias and group coverage are not proper scores. A deliberately
  group-debiased ECG-only estimator, for example one that inflates EDV when p(DCM) is high, could
  beat the conditional mean on (a) at some cost in MSE.
- The criterion in #25 is measured on *generated cines* by the area tracker; that adds generator
  error on top of the point-estimate numbers here.
- The 16-cell probability assumes independence across cells, an approximation.
- A simulator edge case: a negative atrial volume makes beat_model fail (complex P width). Such
  subjects are dropped and counted (`dropped_beat_model_failures`); none in the demo cohort, 2 in
  150,000 fresh subjects at seed 25025. The same cause (a negative RA volume) can emit numpy's
  ComplexWarning without failing; it does not occur in the demo cohort.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import binom, pearsonr

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cohort.build import render_subject  # noqa: E402
from cohort.ecg import beat_model  # noqa: E402
from cohort.state import read_csv, sample_subjects, subject_row  # noqa: E402
from ecg2cmr_train import data as D  # noqa: E402
from ecg2cmr_train.pipeline import disease_groups  # noqa: E402

WAVES = ("P", "P_la", "Ta", "q", "R", "S", "R1", "R2", "R_prime", "Q_mi", "R_rv", "T", "ST")
INFO = ("qrs_volt_mV", "qrs_ms", "qrs_axis_deg", "pr_s", "qtc_s", "w", "rv_overload")
BBB = ("none", "lbbb", "rbbb")
# the four phenotypes of #25's interval criterion, by output id (columns come from data.PHENOTYPES)
OUTPUTS = ("lv_ef", "lv_edv", "lv_mass", "rv_edv")
GROUPS = ("dcm", "hcm", "prior_mi", "pulmonary_hypertension")
# the study's HGB settings: early stopping on the given validation set
HGB = dict(learning_rate=0.05, max_iter=3000, early_stopping=True, n_iter_no_change=40,
           min_samples_leaf=20, random_state=0)
# big.py's layout of a fresh cohort of 150,000, as fractions: fit, early-stop, (its conformal
# calibration slice: no intervals here, left out so the fit and evaluation rows are big.py's), eval
BIG_LAYOUT = (70 / 150, 80 / 150, 115 / 150)


class OracleError(ValueError):
    """Bad input: the cohort folder, its columns, or a subject beat_model describes unexpectedly."""


def column(output_id: str) -> str:
    return D.PHENOTYPES[D.phenotype_index(output_id)][0]


def feature_names() -> list[str]:
    out = [f"{w}_{k}" for w in WAVES for k in ("present", "t", "sl", "sr", "x", "y", "z")]
    return out + list(INFO) + ["q_wave_mi", "has_p", "heart_rate_bpm", "af"] + [f"bbb_{b}" for b in BBB]


def oracle_features(s: dict) -> np.ndarray:
    """The 105 oracle features of one subject state (a `subject_row` dict)."""
    b, info = beat_model(s)
    waves = {w[0]: w for w in b.waves}
    if len(waves) != len(b.waves) or not set(waves) <= set(WAVES):
        raise OracleError(f"subject {s['subject_id']}: beat_model waves {[w[0] for w in b.waves]} "
                          f"are not a subset of {WAVES} without repeats (simulator changed?)")
    f = []
    for w in WAVES:
        if w in waves:
            _, t, sl, sr, vec, _ = waves[w]
            f += [1.0, t, sl, sr, *vec]
        else:
            f += [0.0] * 7
    f += [float(info[k]) for k in INFO]
    f += [float(bool(info.get("q_wave_mi", False))), float(b.has_p), float(s["heart_rate_bpm"]),
          float(s["rhythm"] == "af")] + [float(s["bbb"] == x) for x in BBB]
    return np.asarray(f, dtype=np.float64)


def feature_matrix(states: dict) -> tuple[np.ndarray, np.ndarray]:
    """Features of every subject of a state dict (cohort.state columns) → (X, kept row indices).
    A subject beat_model cannot describe (the negative-atrial-volume edge case: a complex P width
    raises TypeError) is dropped; the caller reports how many."""
    rows, keep = [], []
    for i in range(len(states["subject_id"])):
        try:
            rows.append(oracle_features(subject_row(states, i)))
        except TypeError:
            continue
        keep.append(i)
    X = np.stack(rows) if rows else np.zeros((0, len(feature_names())))
    return X, np.asarray(keep, dtype=int)


class StateColumns:
    """The state dict seen through the two accessors `pipeline.disease_groups` reads (the same
    definitions of DCM / HCM / prior MI / PH as the model card), for a cohort with no folder."""

    def __init__(self, states: dict):
        self.states = states

    def strings(self, col):
        return np.asarray(self.states[col]).astype(str)

    def numeric(self, col):
        return np.asarray(self.states[col], dtype=np.float64)


def groups_of(states: dict, rows) -> dict:
    return {"all": np.ones(len(rows), bool), **disease_groups(StateColumns(states), rows)}


def verify(cohort: D.Cohort, states: dict, k: int) -> list[dict]:
    """Re-render k subjects as cohort.build does and compare with the stored arrays (0 counts);
    beat_model run twice must give identical features. Subjects: a normal one, then the first
    LBBB, DCM, pre-capillary PH and prior-MI subjects, then rows 1, 2, ... up to k."""
    cand = [0] + [int(np.flatnonzero(m)[0]) for m in (
        states["bbb"] == "lbbb", states["cm_subtype"] == "dcm", states["ph_group"] == "precap",
        states["prior_mi"] == 1) if m.any()] + list(range(1, cohort.n))
    picked = list(dict.fromkeys(cand))[:k]
    out = []
    for i in picked:
        s = subject_row(states, i)
        ecg, sax, lax, pose = render_subject(s, cohort.frames)
        d = {"row": i, "subject_id": s["subject_id"],
             "ecg_max_abs_diff_counts": int(np.abs(ecg.astype(int) - np.asarray(cohort.ecg[i]).astype(int)).max()),
             "sax_max_abs_diff": int(np.abs(sax.astype(int) - np.asarray(cohort.sax[i]).astype(int)).max()),
             "lax_max_abs_diff": int(np.abs(lax.astype(int) - np.asarray(cohort.lax[i]).astype(int)).max()),
             "features_deterministic": bool(np.array_equal(oracle_features(s), oracle_features(s)))}
        if cohort.pose is not None:
            d["pose_max_abs_diff"] = float(np.abs(pose - np.asarray(cohort.pose[i])).max())
        out.append(d)
        ok = (d["ecg_max_abs_diff_counts"] == 0 and d["sax_max_abs_diff"] == 0 and d["lax_max_abs_diff"] == 0
              and d.get("pose_max_abs_diff", 0.0) == 0.0 and d["features_deterministic"])
        if not ok:
            raise OracleError(f"{cohort.path}: subject {s['subject_id']} (row {i}) does not re-render "
                              f"from subjects.csv as stored: {d}")
    return out


def fit_reg(X, y, Xv, yv):
    from sklearn.ensemble import HistGradientBoostingRegressor
    return HistGradientBoostingRegressor(**HGB).fit(X, y, X_val=Xv, y_val=yv)


def fit_clf(X, y, Xv, yv):
    from sklearn.ensemble import HistGradientBoostingClassifier
    return HistGradientBoostingClassifier(**HGB).fit(X, y, X_val=Xv, y_val=yv)


def corr(y, p):
    """Pearson r, or None where it is undefined (fewer than 3 subjects, or a constant prediction:
    a tiny cohort's trees may not split at all)."""
    if len(y) < 3 or np.ptp(y) == 0 or np.ptp(p) == 0:
        return None
    return float(pearsonr(y, p)[0])


def score(models: dict, X: np.ndarray, states: dict, rows: np.ndarray) -> dict:
    """Criterion (a) numbers of fitted trees on the subjects `rows` (features X, in that order)."""
    from sklearn.metrics import roc_auc_score
    G = groups_of(states, rows)
    out = {"n": int(len(rows)), "group_n": {g: int(m.sum()) for g, m in G.items()}, "mean": {}}
    pred = {}
    for oid in OUTPUTS:
        y = np.asarray(states[column(oid)], dtype=np.float64)[rows]
        p = pred[oid] = models[oid].predict(X)
        out["mean"][oid] = {"r": corr(y, p), "groups": {
            g: {"true": float(y[m].mean()), "pred": float(p[m].mean()),
                "pct": float(100 * (p[m].mean() / y[m].mean() - 1)),
                "r_within": corr(y[m], p[m]) if g != "all" else None}
            for g, m in G.items() if m.any()}}
    ef = np.asarray(states[column("lv_ef")], dtype=np.float64)[rows]
    low = ef <= 35
    out["ef_le35"] = {"n": int(low.sum()),
                      "median_pred_ef": float(np.median(pred["lv_ef"][low])) if low.any() else None}
    dcm = G["dcm"]
    pd_ = models["dcm"].predict_proba(X)[:, 1] if models["dcm"] is not None else None
    has = pd_ is not None and dcm.any()
    out["dcm_classifier"] = {
        "auroc": float(roc_auc_score(dcm, pd_)) if has and dcm.sum() < len(dcm) else None,
        "median_p_in_dcm": float(np.median(pd_[dcm])) if has else None,
        "share_dcm_p_lt_0.1": float((pd_[dcm] < 0.1).mean()) if has else None}
    return out


def fit(X, states, fit_rows, es_rows) -> dict:
    """HGB per phenotype and a DCM classifier, early stopping on es_rows."""
    models = {}
    for oid in OUTPUTS:
        y = np.asarray(states[column(oid)], dtype=np.float64)
        models[oid] = fit_reg(X[fit_rows], y[fit_rows], X[es_rows], y[es_rows])
    y = (np.asarray(states["cm_subtype"]) == "dcm").astype(int)
    # a cohort too small to hold DCM in both the fit and early-stopping rows has no classifier
    both = len(np.unique(y[fit_rows])) == 2 and len(np.unique(y[es_rows])) == 2
    models["dcm"] = fit_clf(X[fit_rows], y[fit_rows], X[es_rows], y[es_rows]) if both else None
    return models


def p_in_band(n: int, level: float = 0.8, lo: float = 0.75, hi: float = 0.85) -> float:
    """P(k/n in [lo, hi]) for k ~ Binomial(n, level): a perfectly calibrated interval's chance."""
    if n <= 0:
        return None  # no such group: no chance to state
    k = np.arange(n + 1)
    ok = (k / n >= lo - 1e-12) & (k / n <= hi + 1e-12)
    return float(binom.pmf(k[ok], n, level).sum())


def binomial_chance(sizes: dict) -> dict:
    ps = {g: p_in_band(n) for g, n in sizes.items()}

    def prod(gs, power):
        return None if any(ps[g] is None for g in gs) else float(np.prod([ps[g] ** power for g in gs]))
    return {"group_n": sizes, "p_cell_in_band": ps,
            "all_16_group_cells_independent": prod(GROUPS, len(OUTPUTS)),
            "all_16_group_cells_fully_correlated_within_group": prod(GROUPS, 1),
            "all_20_cells_independent": prod(("all", *GROUPS), len(OUTPUTS))}


def big_run(n: int, seed: int, X_test: np.ndarray, states: dict, test_rows: np.ndarray, log) -> dict:
    """big.py: a fresh state-only cohort (no rendering), HGB fitted on its first 7/15 with early
    stopping on the next 1/15, scored on its last 7/30 and on the given cohort's test split."""
    t0 = time.time()
    fresh = sample_subjects(n, seed)
    Xb, keep = feature_matrix(fresh)
    fresh = {c: np.asarray(v)[keep] for c, v in fresh.items()}
    log(f"fresh cohort n={n} seed={seed}: features {Xb.shape}, {n - len(keep)} dropped, {time.time() - t0:.0f} s")
    a, b, c = (int(round(f * n)) for f in BIG_LAYOUT)
    idx = np.arange(len(keep))
    fit_r, es_r, ev_r = idx[idx < a], idx[(idx >= a) & (idx < b)], idx[idx >= c]
    models = fit(Xb, fresh, fit_r, es_r)
    log(f"fitted on {len(fit_r)} (early stop {len(es_r)}), {time.time() - t0:.0f} s")
    return {"n": n, "seed": seed, "dropped_beat_model_failures": int(n - len(keep)),
            "sizes": {"fit": int(len(fit_r)), "early_stop": int(len(es_r)), "eval": int(len(ev_r))},
            "iters": {k: int(m.n_iter_) for k, m in models.items() if m is not None},
            "fresh_eval": score(models, Xb[ev_r], fresh, ev_r),
            "cohort_test": score(models, X_test, states, test_rows)}


def table(R: dict) -> str:
    def f(v, fmt):  # a group or classifier a small cohort does not have prints as n/a
        return "n/a" if v is None else format(v, fmt)

    def col(s):
        m, dc = s["mean"], s["dcm_classifier"]
        na = {"true": None, "pred": None, "pct": None}
        dl = m["lv_edv"]["groups"].get("dcm", na)
        pr = m["rv_edv"]["groups"].get("pulmonary_hypertension", na)
        de = m["lv_ef"]["groups"].get("dcm", na)
        share = None if dc["share_dcm_p_lt_0.1"] is None else 100 * dc["share_dcm_p_lt_0.1"]
        return [f"{f(dl['true'], '.1f')} → {f(dl['pred'], '.1f')} ({f(dl['pct'], '+.1f')} %)",
                f"{f(pr['true'], '.1f')} → {f(pr['pred'], '.1f')} ({f(pr['pct'], '+.1f')} %)",
                f"{f(de['true'], '.1f')} → {f(de['pred'], '.1f')}",
                f"{f(s['ef_le35']['median_pred_ef'], '.1f')} (n = {s['ef_le35']['n']})",
                f(dc["auroc"], ".3f"), f(dc["median_p_in_dcm"], ".2f"), f"{f(share, '.0f')} %",
                *(f(m[o]["r"], ".3f") for o in ("lv_edv", "lv_ef", "lv_mass", "rv_edv"))]
    t = R["test"]
    cols = [(f"oracle HGB {R['sizes']['train'] // 1000}k, test (n = {t['n']})", col(t))]
    if "big" in R:
        k = R["big"]["sizes"]["fit"] // 1000
        cols.append((f"{k}k fresh, test", col(R["big"]["cohort_test"])))
        cols.append((f"{k}k fresh, eval (n = {R['big']['fresh_eval']['n']})", col(R["big"]["fresh_eval"])))
    g = t["group_n"]
    labels = [f"DCM LV EDV, true → pred (test n = {g['dcm']})", f"PH RV EDV (test n = {g['pulmonary_hypertension']})",
              "DCM LV EF", "median pred EF, true EF ≤ 35 %", "DCM AUROC", "median p(DCM) in DCM",
              "true DCM with p(DCM) < 0.1", "r LV EDV", "r LV EF", "r LV mass", "r RV EDV"]
    w = max(map(len, labels)) + 2
    cw = [max(len(c[0]), *(len(v) for v in c[1])) for c in cols]
    lines = ["(a)".ljust(w) + "".join(" | " + c[0].ljust(n) for c, n in zip(cols, cw))]
    for i, lab in enumerate(labels):
        lines.append(lab.ljust(w) + "".join(" | " + c[1][i].ljust(n) for c, n in zip(cols, cw)))
    bc = R["binomial"]["heldout"]
    lines.append(f"(b) perfectly calibrated 80 % interval in [0.75, 0.85], held-out n = {bc['group_n']['all']}: "
                 + ", ".join(f"{k} (n = {bc['group_n'][k]}) {f(bc['p_cell_in_band'][k], '.2f')}" for k in GROUPS))
    lines.append(f"    all 16 group cells, independence approximation: {f(bc['all_16_group_cells_independent'], '.4f')} "
                 f"(fully correlated within a group: {f(bc['all_16_group_cells_fully_correlated_within_group'], '.3f')}); "
                 f"at this cohort's test split: {f(R['binomial']['test_split']['all_16_group_cells_independent'], '.4f')}")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="The module docstring (python -c 'import oracle_bound; help(oracle_bound)') "
                                        "explains why this bounds information and its limits.")
    ap.add_argument("--cohort", default="data/cohort", help="a built cohort folder (subjects.csv with a split column)")
    ap.add_argument("--n-heldout", type=int, default=1500,
                    help="held-out cohort size for criterion (b)'s binomial chance (default 1500)")
    ap.add_argument("--out", required=True, help="output folder (writes oracle_bound.json)")
    ap.add_argument("--verify", type=int, default=0, metavar="K",
                    help="first re-render K subjects as cohort.build does and require the stored arrays to match to 0 counts")
    ap.add_argument("--big-n", type=int, default=0, metavar="N",
                    help="also fit on a fresh state-only cohort of N subjects (150000 as in the study: takes minutes "
                         "— 2.5 on one thread — and ~1.2 GB of memory); default off")
    ap.add_argument("--big-seed", type=int, default=25025, help="seed of the fresh cohort (default 25025, never used for the demo)")
    a = ap.parse_args(argv)
    if a.n_heldout < 1:
        ap.error("--n-heldout must be ≥ 1")
    t0 = time.time()

    def log(msg):
        print(f"[{time.time() - t0:5.0f} s] {msg}", flush=True)

    cohort = D.Cohort(a.cohort)  # CohortError names the folder and the missing file
    states = read_csv(cohort.path / "subjects.csv")
    missing = {"split", "seed", *(column(o) for o in OUTPUTS)} - set(states)
    if missing:
        raise OracleError(f"{cohort.path}/subjects.csv: missing columns {sorted(missing)}")
    R = {"cohort": str(cohort.path), "hgb": HGB, "features": feature_names()}
    if a.verify:
        R["verify"] = verify(cohort, states, a.verify)
        log(f"verify: {len(R['verify'])} subjects re-rendered, stored ECG/cines/poses match to 0 counts")
    X, keep = feature_matrix(states)
    R["dropped_beat_model_failures"] = int(cohort.n - len(keep))
    log(f"oracle features {X.shape}, {R['dropped_beat_model_failures']} subjects dropped")
    split = np.asarray(states["split"])[keep]
    pos = {s: np.flatnonzero(split == s) for s in ("train", "val", "test")}
    for s, p in pos.items():
        if len(p) < 3:
            raise OracleError(f"{cohort.path}/subjects.csv: split {s!r} has {len(p)} usable subjects (need ≥ 3)")
    R["sizes"] = {s: int(len(p)) for s, p in pos.items()}
    models = fit(X, {c: np.asarray(v)[keep] for c, v in states.items()}, pos["train"], pos["val"])
    R["iters"] = {k: int(m.n_iter_) for k, m in models.items() if m is not None}
    log(f"fitted on train {len(pos['train'])}, early stopping on val {len(pos['val'])}")
    test_rows = keep[pos["test"]]
    R["test"] = score(models, X[pos["test"]], states, test_rows)

    prev = {g: float(m.mean()) for g, m in groups_of(states, keep).items()}
    R["binomial"] = {
        "prevalence": prev,
        "heldout": binomial_chance({g: int(round(a.n_heldout * prev[g])) for g in ("all", *GROUPS)}),
        "test_split": binomial_chance(R["test"]["group_n"])}
    if a.big_n:
        R["big"] = big_run(a.big_n, a.big_seed, X[pos["test"]], states, test_rows, log)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "oracle_bound.json").write_text(json.dumps(R, indent=1))
    log(f"wrote {out / 'oracle_bound.json'}")
    print(table(R))
    return R


if __name__ == "__main__":
    try:
        main()
    except (OracleError, D.CohortError) as e:
        sys.exit(f"oracle_bound: {e}")
