"""Measure a built cohort and print Markdown tables (used for docs/synthetic-cohort.md).

    python -m cohort.report --cohort data/cohort [--ecg-subjects 3000] [--cine-subjects 300]

Prevalences and phenotype summaries use every subject; the ECG couplings use the first
--ecg-subjects stored ECGs (int16, 250 Hz) and the cine check the first --cine-subjects SAX cines.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy import ndimage

from .features import FEATURE_NAMES, ecg_features
from .state import BINARY_COLUMNS, bsa_mosteller, read_csv


def lv_pool_area(frame: np.ndarray) -> float:
    """LV blood-pool area (pixels) in a SAX frame: bright component at the image centre."""
    x = ndimage.median_filter(frame.astype(np.float32) / 255.0, 3)
    m = ndimage.binary_opening(x > 0.5 * np.percentile(x, 99))
    lab, _ = ndimage.label(m)
    h, w = frame.shape
    yy, xx = np.mgrid[:h, :w]
    centre = np.hypot(yy - h / 2 + 0.5, xx - w / 2 + 0.5) < 6
    ks, counts = np.unique(lab[centre & (lab > 0)], return_counts=True)
    if ks.size == 0:
        return float("nan")
    return float(ndimage.binary_fill_holes(lab == ks[np.argmax(counts)]).sum())


def cv_auc(X, y, seed=0):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    model = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=3000))
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    p = cross_val_predict(model, X, y, cv=cv, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, p))


def report(folder: Path, n_ecg: int, n_cine: int) -> str:
    folder = Path(folder)
    meta = json.loads((folder / "meta.json").read_text())
    c = read_csv(folder / "subjects.csv")
    n = len(c["seed"])
    out = [f"Cohort `{folder}`: n = {n}, seed = {meta['seed']}, generator {meta['generator_version']}, "
           f"build wall time {meta['wall_time_s']} s with {meta['workers']} workers "
           f"(render CPU time {meta.get('render_cpu_time_s', 'n/a')} s).", ""]
    out += ["| label | prevalence |", "| --- | --- |"]
    for k in BINARY_COLUMNS:
        out.append(f"| {k} | {100 * c[k].mean():.1f} % |")
    for k in ("cm_subtype", "mi_territory", "ph_group", "bbb", "rhythm"):
        if k not in c:
            continue
        vals, counts = np.unique(c[k], return_counts=True)
        out.append(f"| {k} | " + ", ".join(f"{v} {100 * m / n:.1f} %" for v, m in zip(vals, counts)) + " |")
    out.append("")
    if "infarct_size" in c:
        low = c["lv_ef_pct"] < 40
        af = c["atrial_fibrillation"] == 1
        peri = c["pericarditis"] == 1
        mi = c["prior_mi"] == 1
        out += ["| coupling (cohort 2.0) | value |", "| --- | --- |",
                f"| LV EF < 40 %: share of subjects / ischaemic (prior MI) / DCM | "
                f"{100 * low.mean():.1f} % / {100 * c['prior_mi'][low].mean():.1f} % / "
                f"{100 * (c['cm_subtype'][low] == 'dcm').mean():.1f} % |",
                f"| prior MI: mean infarct size / EF < 40 % / mean EF, infarct size < 0.3 vs ≥ 0.7 | "
                f"{c['infarct_size'][mi].mean():.2f} / {100 * low[mi].mean():.1f} % / "
                f"{c['lv_ef_pct'][mi & (c['infarct_size'] < 0.3)].mean():.1f} vs "
                f"{c['lv_ef_pct'][mi & (c['infarct_size'] >= 0.7)].mean():.1f} % |",
                f"| PH: pre-capillary / post-capillary share of PH | "
                f"{100 * (c['ph_group'] == 'precap').sum() / max(c['pulmonary_hypertension'].sum(), 1):.0f} % / "
                f"{100 * (c['ph_group'] == 'postcap').sum() / max(c['pulmonary_hypertension'].sum(), 1):.0f} % |",
                f"| mean RV EF, pre-capillary / post-capillary PH (%) | "
                f"{c['rv_ef_pct'][c['ph_group'] == 'precap'].mean():.1f} / "
                f"{c['rv_ef_pct'][c['ph_group'] == 'postcap'].mean():.1f} |",
                f"| pericarditis: acute share | {100 * c['pericarditis_acute'][peri].mean():.0f} % |",
                f"| AF: sinus rhythm on the day (paroxysmal) | {100 * (c['rhythm'][af] == 'sinus').mean():.0f} % |",
                ""]
    bsa = bsa_mosteller(c["height_cm"], c["weight_kg"])
    healthy = np.ones(n, bool)
    for k in ("cad", "heart_failure", "cardiomyopathy", "pulmonary_hypertension",
              "atrial_fibrillation", "pericarditis", "effusion"):
        healthy &= c[k] == 0
    healthy &= c["bbb"] == "none"
    out += ["Disease-free subjects (no CAD, HF, cardiomyopathy, PH, AF, pericarditis, effusion, BBB), mean ± SD:", "",
            "| phenotype | men | women |", "| --- | --- | --- |"]
    rows = {"age (y)": c["age"], "LV EDV / BSA (ml/m²)": c["lv_edv_ml"] / bsa,
            "LV ESV / BSA (ml/m²)": c["lv_esv_ml"] / bsa, "LV EF (%)": c["lv_ef_pct"],
            "LV mass / BSA (g/m²)": c["lv_mass_g"] / bsa, "RV EDV / BSA (ml/m²)": c["rv_edv_ml"] / bsa,
            "RV EF (%)": c["rv_ef_pct"], "LA volume / BSA (ml/m²)": c["la_vol_ml"] / bsa,
            "RA volume / BSA (ml/m²)": c["ra_vol_ml"] / bsa, "mean wall thickness (mm)": c["wt_mean_mm"],
            "heart rate (bpm)": c["heart_rate_bpm"], "native T1 (ms)": c["native_t1_ms"],
            "T2 (ms)": c["t2_ms"], "ECV (%)": c["ecv_pct"]}
    for name, x in rows.items():
        cells = []
        for sex in ("M", "F"):
            sel = healthy & (c["sex"] == sex)
            cells.append(f"{x[sel].mean():.1f} ± {x[sel].std():.1f}")
        out.append(f"| {name} | {cells[0]} | {cells[1]} |")
    out.append("")

    ecg = np.load(folder / "ecg_250hz.npy", mmap_mode="r")
    m = min(n_ecg, n)
    lsb = meta["ecg_lsb_uV"] / 1000.0
    X = np.stack([ecg_features(np.asarray(ecg[i], dtype=np.float64) * lsb, meta["ecg_rate_hz"])
                  for i in range(m)])
    f = {name: X[:, k] for k, name in enumerate(FEATURE_NAMES)}
    sub = {k: v[:m] for k, v in c.items()}
    sl, cornell = f["sokolow_lyon_mV"], f["cornell_mV"]
    ok = np.isfinite(sl)
    r_sl = np.corrcoef(sl[ok], sub["lv_mass_g"][ok])[0, 1]
    r_co = np.corrcoef(cornell[ok], sub["lv_mass_g"][ok])[0, 1]
    hr_err = np.abs(f["hr_bpm"] - sub["heart_rate_bpm"]) / sub["heart_rate_bpm"]
    out += [f"ECG couplings on the first {m} stored ECGs (250 Hz int16, with noise):", "",
            "| check | value |", "| --- | --- |",
            f"| r(Sokolow–Lyon, LV mass) | {r_sl:.2f} |",
            f"| r(Cornell voltage, LV mass) | {r_co:.2f} |",
            f"| median relative error, measured heart rate vs heart_rate_bpm | {100 * np.nanmedian(hr_err):.1f} % |",
            f"| median measured QRS, no BBB / LBBB / RBBB (ms) | "
            f"{np.nanmedian(f['qrs_ms'][sub['bbb'] == 'none']):.0f} / "
            f"{np.nanmedian(f['qrs_ms'][sub['bbb'] == 'lbbb']):.0f} / "
            f"{np.nanmedian(f['qrs_ms'][sub['bbb'] == 'rbbb']):.0f} |",
            f"| median RR coefficient of variation, sinus / AF | "
            f"{np.nanmedian(f['rr_cv'][sub['rhythm'] == 'sinus']):.3f} / "
            f"{np.nanmedian(f['rr_cv'][sub['rhythm'] == 'af']):.3f} |"]
    if "ph_group" in sub:
        g = sub["ph_group"]
        plain = (g == "none") & (sub["bbb"] == "none")
        out.append(f"| median R in V1 (mV), no PH / pre-capillary / post-capillary PH | "
                   f"{np.nanmedian(f['r_V1'][plain]):.2f} / {np.nanmedian(f['r_V1'][g == 'precap']):.2f} / "
                   f"{np.nanmedian(f['r_V1'][g == 'postcap']):.2f} |")
        peri = sub["pericarditis"] == 1
        ac = sub["pericarditis_acute"] == 1
        st_inf = f["st_II"]
        out.append(f"| median ST in II (mV), no pericarditis / previous / acute | "
                   f"{np.nanmedian(st_inf[~peri]):.3f} / {np.nanmedian(st_inf[peri & ~ac]):.3f} / "
                   f"{np.nanmedian(st_inf[ac]):.3f} |")
    out.append("")
    out += [f"Logistic regression on the {len(FEATURE_NAMES)} simple ECG features "
            "(cohort.features; 5-fold cross-validated AUC):", "", "| label | AUC |", "| --- | --- |"]
    labels = {k: sub[k] for k in (
        "t1_abnormal", "t2_abnormal", "ecv_abnormal", "lge", "wall_motion_abnormality",
        "prior_mi", "cad", "heart_failure", "cardiomyopathy", "pulmonary_hypertension",
        "pericarditis", "pericarditis_acute", "atrial_fibrillation") if k in sub}
    if "ph_group" in sub:
        labels["ph_group == precap"] = (sub["ph_group"] == "precap").astype(int)
        labels["ph_group == postcap"] = (sub["ph_group"] == "postcap").astype(int)
        labels["lv_ef_pct < 40"] = (sub["lv_ef_pct"] < 40).astype(int)
    for k, y in labels.items():
        if 5 <= y.sum() <= m - 5:
            out.append(f"| {k} | {cv_auc(X, y):.3f} (n+ = {int(y.sum())}) |")
    out.append("")

    sax = np.load(folder / "sax.npy", mmap_mode="r")
    k = min(n_cine, n)
    ratios = []
    for i in range(k):
        areas = np.array([lv_pool_area(np.asarray(fr)) for fr in sax[i]])
        ratios.append(np.nanmin(areas) / areas[0])
    ratios = np.array(ratios)
    ok = np.isfinite(ratios)
    r_area = np.corrcoef(ratios[ok], c["lv_ef_pct"][:k][ok])[0, 1]
    out += [f"SAX cine: r(min/ED LV blood-pool area from the stored frames, EF) = {r_area:.3f} "
            f"on the first {k} subjects.", ""]
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m cohort.report")
    p.add_argument("--cohort", type=Path, default=Path("data/cohort"))
    p.add_argument("--ecg-subjects", type=int, default=3000)
    p.add_argument("--cine-subjects", type=int, default=300)
    a = p.parse_args(argv)
    print(report(a.cohort, a.ecg_subjects, a.cine_subjects))


if __name__ == "__main__":
    main()
