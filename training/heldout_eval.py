"""Held-out check of a bundle, end to end through the real binary (the issue's "Must show").

    python training/heldout_eval.py --bin .build/debug/ecg2cmr --bundle assets/models/demo-v2 \
        --run training/runs/demo-v4 --n 1600 --seed 90210 --out /tmp/heldout [--card docs/MODEL_CARD.md]

1. Draws a new synthetic cohort with `training/cohort` from a seed the model was not trained on and
   writes each subject's 10 s 12-lead ECG as a 500 Hz WFDB record (wfdb.wrsamp).
2. Runs `ecg2cmr screen` on the folder and scores its results against the cohort's truth: mean AUC
   of the seven ECG-visible risk outputs, LV EF r, LV mass r.
3. Scores the training run's HGB floor (floors_hgb.pkl: gradient-boosted trees fitted on the
   model's training split on every 4th median-beat sample + RR statistics + global measurements)
   on the same files, and compares: model − HGB per output and for the mean AUC of the 7
   ECG-visible outputs and the mean phenotype r, paired bootstrap 95 % CIs; coverage of the 80 %
   intervals overall and in the DCM / HCM / prior-MI / pulmonary-hypertension groups; ECE.
4. Exports normal, DCM / low-EF, HCM and prior-MI subjects with `ecg2cmr export --save-float-frames`
   (and EF ≤ 35 %, DCM, pulmonary-hypertension subjects) and measures the blood pool on the
   generated SAX frames (one Otsu threshold per cine, bright component nearest the centre; the RV
   width at the septum): r(generated EF, true EF), the median generated EF among true EF ≤ 35 %, and
   per group the generated LV / RV EDV read through fits on true training cines.
Writes `<out>/heldout.json` and, with --card, the section between the card's heldout markers.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from multiprocessing import get_context
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cohort import LEAD_NAMES  # noqa: E402
from cohort.ecg import render_ecg  # noqa: E402
from cohort.state import sample_subjects, subject_row  # noqa: E402
from cohort.writers import write_wfdb  # noqa: E402
from ecg2cmr_train import data as D  # noqa: E402
from ecg2cmr_train.metrics import auc, pearson  # noqa: E402
from ecg2cmr_train.tracker import area_calibration, area_volume, ed_areas  # noqa: E402,F401

ECG_VISIBLE = ["cad", "heart_failure", "cardiomyopathy", "pulmonary_hypertension", "pericarditis",
               "atrial_fibrillation", "wall_motion_abnormality"]
START, END = "<!-- heldout:start -->", "<!-- heldout:end -->"


def _render(job):
    out, rows = job
    made = []
    for s in rows:
        rng = np.random.default_rng(int(s["seed"]))
        ecg = render_ecg(s, rng, fs=500, seconds=10.0)
        write_wfdb(Path(out) / s["subject_id"], ecg, 500, [f"synthetic heldout subject={s['subject_id']}"])
        made.append(s["subject_id"])
    return made


def build_heldout(n: int, seed: int, out: Path, workers: int) -> dict:
    cohort = sample_subjects(n, seed)
    (out / "ecg").mkdir(parents=True, exist_ok=True)
    rows = [subject_row(cohort, i) for i in range(n)]
    chunks = [rows[a:a + 50] for a in range(0, n, 50)]
    with get_context("fork").Pool(workers) as pool:
        for _ in pool.imap_unordered(_render, [(str(out / "ecg"), c) for c in chunks]):
            pass
    return cohort


def features_from_mv(ecg_mv: np.ndarray, fs: float, bundle_manifest: dict) -> np.ndarray:
    """Floor features of one ECG [12, n] mV through the bundle's preprocessing and beats.py."""
    from ecg2cmr_train.beats import beat_features
    from ecg2cmr_train.preprocess import preprocess
    from ecg2cmr_train.validate import ood_input_vectors
    x = preprocess(ecg_mv, fs, bundle_manifest["input"]["preprocessing"])[0].astype(np.float32)
    f = beat_features(x, list(LEAD_NAMES), float(bundle_manifest["input"]["samplingRate"]), bundle_manifest["encoder"]["beats"])
    return ood_input_vectors(f["median_beat"][None], f["rhythm"][None], 4)[0]


def _feat_job(job):
    kind, payload, fs, manifest = job
    if kind == "wfdb":
        import wfdb
        out = []
        for stem in payload:
            r = wfdb.rdrecord(stem)
            out.append(features_from_mv(r.p_signal.T.astype(np.float64), fs, manifest))
        return np.stack(out)
    path, rows, lsb = payload
    ecg = np.load(Path(path) / "ecg_250hz.npy", mmap_mode="r")
    return np.stack([features_from_mv(np.asarray(ecg[r], dtype=np.float64) * lsb, fs, manifest) for r in rows])


def hgb_scores(run_dir: Path, heldout_stems: list, manifest: dict, workers: int) -> dict:
    """The HGB floor the training run fitted on the model's training split (floors_hgb.pkl), scored on
    the held-out files: every 4th median-beat sample + RR statistics through the bundle's
    preprocessing and beats.py (the engine's algorithm), and the global measurements
    (cohort.features.ecg_features, on the record brought to the training cohort's 250 Hz)."""
    import pickle
    with open(run_dir / "floors_hgb.pkl", "rb") as f:
        floor = pickle.load(f)
    hjobs = [("wfdb", heldout_stems[a:a + 100], 500.0, manifest) for a in range(0, len(heldout_stems), 100)]
    with get_context("fork").Pool(workers) as pool:
        x = np.concatenate(list(pool.imap(_feat_job_hgb, hjobs)))
    risk = np.stack([m.decision_function(x) if m is not None else np.zeros(len(x)) for m in floor["models"]["risk"]], 1)
    ph = np.stack([m.predict(x) for m in floor["models"]["phenotype"]], 1)
    return {"risk": risk, "phenotype": ph, "trainingSubjects": floor["train_subjects"]}


def _feat_job_hgb(job):
    from scipy.signal import resample_poly
    from ecg2cmr_train.floors import measurement_features
    import wfdb
    _, stems, fs, manifest = job
    out = []
    for stem in stems:
        mv = wfdb.rdrecord(stem).p_signal.T.astype(np.float64)
        beats = features_from_mv(mv, fs, manifest)
        meas = measurement_features(resample_poly(mv, 1, int(round(fs / 250)), axis=1)[None], 250.0)[0]
        out.append(np.concatenate([beats, meas]))
    return np.stack(out)


def screen_scores(bin_path: str, bundle: Path, out: Path, heldout: dict) -> dict:
    results = out / "results.jsonl"
    if results.exists():
        results.unlink()
    t0 = time.time()
    subprocess.run([bin_path, "screen", str(out / "ecg"), "--out", str(results), "--model", str(bundle),
                    "--plain"], check=False)
    return screen_table(results, heldout, round(time.time() - t0, 1))


def screen_table(results: Path, heldout: dict, seconds) -> dict:
    """Per held-out subject (in cohort order; NaN where the file was not screened): risk
    probabilities, phenotype values and their 80 % intervals from `ecg2cmr screen`'s JSON lines."""
    by_id = {}
    for line in results.read_text().splitlines():
        r = json.loads(line)
        if r.get("status") == "ok":
            by_id[Path(r["file"]).stem] = r
    ids = list(heldout["subject_id"])
    n, nr, npx = len(ids), len(D.RISK_OUTPUTS), len(D.PHENOTYPES)
    prob, val = np.full((n, nr), np.nan), np.full((n, npx), np.nan)
    iv = np.full((n, npx, 2), np.nan)
    ood = np.zeros(n, dtype=bool)
    for i, sid in enumerate(ids):
        r = by_id.get(sid)
        if r is None:
            continue
        for j, (_, oid, _) in enumerate(D.RISK_OUTPUTS):
            prob[i, j] = r["risks"][oid]["probability"]
        for j, (_, oid, _, _) in enumerate(D.PHENOTYPES):
            f = r["phenotypes"][oid]
            val[i, j] = f["value"]
            if f.get("interval80"):
                iv[i, j] = f["interval80"]
        ood[i] = bool(r.get("outOfDistribution"))
    return {"screened": len(by_id), "subjects": n, "seconds": seconds, "prob": prob, "value": val, "interval80": iv,
            "ood": ood}


def groups_of(h: dict) -> dict:
    return {"all": np.ones(len(h["subject_id"]), dtype=bool), "dcm": h["cm_subtype"] == "dcm",
            "hcm": h["cm_subtype"] == "hcm", "prior_mi": h["prior_mi"] == 1,
            "pulmonary_hypertension": h["pulmonary_hypertension"] == 1}


def ece(y, p, bins=10) -> float:
    k = np.minimum((p * bins).astype(int), bins - 1)
    return float(sum((k == b).sum() / len(p) * abs(y[k == b].mean() - p[k == b].mean()) for b in range(bins) if (k == b).any()))


def compare(h: dict, s: dict, floor: dict, manifest: dict, n_boot: int = 1000) -> dict:
    """Model (screen) − HGB floor on the screened subjects: AUC per risk, r per phenotype, the mean AUC of
    the 7 ECG-visible outputs and the mean phenotype r, each with a paired bootstrap 95 % CI; interval
    coverage overall and within disease groups; ECE of every risk the bundle does not mark weak."""
    ok = np.isfinite(s["prob"]).all(1)
    y = np.stack([h[col].astype(float) for col, _, _ in D.RISK_OUTPUTS], 1)[ok]
    t = np.stack([h[col].astype(float) for col, _, _, _ in D.PHENOTYPES], 1)[ok]
    mp, mv = s["prob"][ok], s["value"][ok]
    fr, fp = floor["risk"][ok], floor["phenotype"][ok]
    vis = [j for j, (_, oid, _) in enumerate(D.RISK_OUTPUTS) if oid in ECG_VISIBLE]
    n = len(y)

    def met(sel):
        am = np.array([auc(y[sel, j], mp[sel, j]) for j in range(y.shape[1])])
        af = np.array([auc(y[sel, j], fr[sel, j]) for j in range(y.shape[1])])
        rm = np.array([pearson(t[sel, j], mv[sel, j]) for j in range(t.shape[1])])
        rf = np.array([pearson(t[sel, j], fp[sel, j]) for j in range(t.shape[1])])
        return am, af, rm, rf
    am, af, rm, rf = met(np.arange(n))
    rng = np.random.default_rng(7)
    da, dr = [], []
    for _ in range(n_boot):
        sel = rng.integers(0, n, n)
        a1, a2, r1, r2 = met(sel)
        da.append(a1 - a2)
        dr.append(r1 - r2)
    da, dr = np.array(da), np.array(dr)
    q = lambda d: [float(np.nanpercentile(d, 2.5)), float(np.nanpercentile(d, 97.5))]  # noqa: E731
    res = {"n": int(n), "model": {"auc": {oid: float(am[j]) for j, (_, oid, _) in enumerate(D.RISK_OUTPUTS)},
                                  "r": {oid: float(rm[j]) for j, (_, oid, _, _) in enumerate(D.PHENOTYPES)}},
           "hgb": {"auc": {oid: float(af[j]) for j, (_, oid, _) in enumerate(D.RISK_OUTPUTS)},
                   "r": {oid: float(rf[j]) for j, (_, oid, _, _) in enumerate(D.PHENOTYPES)}},
           "meanAUC7": {"model": float(np.nanmean(am[vis])), "hgb": float(np.nanmean(af[vis])),
                        "diff": float(np.nanmean(am[vis]) - np.nanmean(af[vis])), "ci": q(np.nanmean(da[:, vis], 1))},
           "meanR": {"model": float(np.nanmean(rm)), "hgb": float(np.nanmean(rf)),
                     "diff": float(np.nanmean(rm) - np.nanmean(rf)), "ci": q(np.nanmean(dr, 1))},
           "riskDiff": {oid: {"diff": float(am[j] - af[j]), "ci": q(da[:, j])} for j, (_, oid, _) in enumerate(D.RISK_OUTPUTS)},
           "phenotypeDiff": {oid: {"diff": float(rm[j] - rf[j]), "ci": q(dr[:, j])}
                             for j, (_, oid, _, _) in enumerate(D.PHENOTYPES)}}
    g = {k: v[ok] for k, v in groups_of(h).items()}
    iv = s["interval80"][ok]
    cov = {}
    for oid in ("lv_ef", "lv_edv", "lv_mass", "rv_edv"):
        j = D.phenotype_index(oid)
        inside = (t[:, j] >= iv[:, j, 0]) & (t[:, j] <= iv[:, j, 1])
        cov[oid] = {k: {"coverage": float(inside[m].mean()) if m.any() else None, "n": int(m.sum())} for k, m in g.items()}
    res["coverage80"] = cov
    weak = {o["id"]: o.get("weak", False) for hh in manifest["heads"] if hh["name"] == "risk" for o in hh["outputs"]}
    res["ece"] = {oid: {"ece": ece(y[:, j], mp[:, j]), "weak": bool(weak.get(oid))} for j, (_, oid, _) in enumerate(D.RISK_OUTPUTS)}
    res["oodFlagged"] = float(s["ood"][ok].mean())
    return res


def pick_generator_subjects(h: dict, per_group: int, whole=()) -> dict:
    """Subjects to export per group: the first `per_group` members, every member of a `whole` group."""
    groups = {
        "normal": np.flatnonzero((h["cad"] == 0) & (h["heart_failure"] == 0) & (h["cardiomyopathy"] == 0)
                                 & (h["atrial_fibrillation"] == 0) & (h["pulmonary_hypertension"] == 0)),
        "ef_le_35": np.flatnonzero(h["lv_ef_pct"] <= 35),
        "dcm": np.flatnonzero(h["cm_subtype"] == "dcm"),
        "hcm": np.flatnonzero(h["cm_subtype"] == "hcm"),
        "prior_mi": np.flatnonzero(h["prior_mi"] == 1),
        "pulmonary_hypertension": np.flatnonzero(h["pulmonary_hypertension"] == 1),
    }
    return {k: (v if k in whole else v[:per_group]) for k, v in groups.items()}


def generator_scores(bin_path: str, bundle: Path, out: Path, h: dict, per_group: int, calib: dict,
                     whole=()) -> dict:
    groups = pick_generator_subjects(h, per_group, whole)
    export = out / "export"
    if export.exists():
        import shutil
        shutil.rmtree(export)
    idx = sorted(set(int(i) for v in groups.values() for i in v))
    files = [str(out / "ecg" / f"{h['subject_id'][i]}.hea") for i in idx]
    t0 = time.time()
    for a in range(0, len(files), 40):
        subprocess.run([bin_path, "export", *files[a:a + 40], "--out", str(export), "--model", str(bundle),
                        "--save-float-frames", "--size", "64"], check=True, stdout=subprocess.DEVNULL)
    res = measure_exports(export, h, groups, calib, json.loads((bundle / "manifest.json").read_text())["generator"]["pose"])
    res["seconds"] = round(time.time() - t0, 1)
    return res


def measure_exports(export: Path, h: dict, groups: dict, calib: dict | None = None,
                    pose: dict | None = None) -> dict:
    """Blood-pool EF, LV ED area and the RV reading (→ volumes through `calib`) on every exported
    case's float SAX frames (a partial export too), per group. `pose` (the bundle's generator.pose)
    undoes the pose each export's seed drew, so the frames are read in the canonical pose."""
    from ecg2cmr_train.model import seeded_pose, unpose
    rec = []
    for manifest_path in sorted(export.glob("*/manifest.json")):
        m = json.loads(manifest_path.read_text())
        sid = Path(m["input"]["path"]).stem
        i = int(np.flatnonzero(h["subject_id"] == sid)[0])
        frames = np.load(manifest_path.parent / "sax" / "frames.npy")
        ef, a_lv, a_rv = ed_areas(frames)          # EF and the LV area do not depend on the pose
        if pose is not None:
            angle, dx, dy = seeded_pose(int(m["options"]["seed"]), 2, pose["rotationDegrees"], pose["shiftPixels"])[0]
            a_rv = ed_areas(unpose(frames, angle, dx, dy))[2]
        head = {p["target"].split(".", 1)[1]: p["value"] for p in m["phenotypes"]}
        rec.append({"i": i, "ef": ef, "lv": a_lv, "rv": a_rv, "head_ef": head["lv_ef"], "head_edv": head["lv_edv"],
                    "head_rv": head["rv_edv"]})
    col = {k: np.array([r[k] for r in rec]) for k in ("head_ef", "head_edv", "head_rv")}
    ef = np.array([r["ef"] for r in rec])
    idx = np.array([r["i"] for r in rec], dtype=int)
    true_ef, true_edv, true_rv = h["lv_ef_pct"][idx], h["lv_edv_ml"][idx], h["rv_edv_ml"][idx]
    eda = np.array([r["lv"] for r in rec])
    rva = np.array([r["rv"] for r in rec])
    rng = np.random.default_rng(0)
    perms = [rng.permutation(len(ef)) for _ in range(200)]
    res = {"subjects": len(ef), "groups": {k: int(np.isin(idx, v).sum()) for k, v in groups.items()},
           "efVsTrueEF": pearson(ef, true_ef), "edAreaVsTrueEDV": pearson(eda, true_edv),
           "shuffledEF": float(np.mean([abs(pearson(ef, true_ef[p])) for p in perms])),
           "efVsModelEF": pearson(ef, col["head_ef"]), "byGroup": {}}
    low = true_ef <= 35
    res["efLe35"] = {"n": int(low.sum()), "medianGeneratedEF": float(np.median(ef[low])) if low.any() else None,
                     "medianTrueEF": float(np.median(true_ef[low])) if low.any() else None}
    for k, v in groups.items():
        m = np.isin(idx, v)
        if not m.any():
            continue
        g = {"n": int(m.sum()), "generatedEF": float(ef[m].mean()), "trueEF": float(true_ef[m].mean()),
             "trueEDV": float(true_edv[m].mean()), "trueRVEDV": float(true_rv[m].mean()),
             "modelEF": float(col["head_ef"][m].mean()), "modelEDV": float(col["head_edv"][m].mean()),
             "modelRVEDV": float(col["head_rv"][m].mean())}
        if calib:
            g["generatedEDV"] = float(area_volume(calib["lv_edv"], eda[m]).mean())
            g["generatedRVEDV"] = float(np.nanmean(area_volume(calib["rv_edv"], rva[m])))
        res["byGroup"][k] = g
    if calib:
        res["areaCalibration"] = calib
    return res


def _ci(d):
    return f"{d['diff']:+.3f} [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}]"


def write_card_section(card: Path, res: dict) -> None:
    c, g = res["compare"], res["generator"]
    fmt = lambda x: "n/a" if x is None or not np.isfinite(x) else f"{x:.3f}"  # noqa: E731
    lines = [START, "", f"## Held-out check through the binary (`training/heldout_eval.py`, cohort seed {res['seed']}, "
             f"{res['screened']} of {res['n']} subjects screened)", "",
             "A new cohort drawn from a seed the model never saw, written as 500 Hz WFDB records and run through "
             "`ecg2cmr screen`. The floor is the run's gradient-boosted trees (HGB, fitted on the model's training split "
             f"of {res['hgbTrainingSubjects']} subjects: every 4th median-beat sample + RR statistics + global measurements), "
             "scored on the same files with the same features. Differences are model − HGB with a paired bootstrap 95 % CI "
             "(1000 resamples of the held-out subjects).", "",
             "| output | model (`screen`) | HGB | model − HGB [95 % CI] |", "|---|---|---|---|",
             f"| mean AUC, 7 ECG-visible outputs | {fmt(c['meanAUC7']['model'])} | {fmt(c['meanAUC7']['hgb'])} | "
             f"{c['meanAUC7']['diff']:+.3f} [{c['meanAUC7']['ci'][0]:+.3f}, {c['meanAUC7']['ci'][1]:+.3f}] |",
             f"| mean phenotype r ({len(D.PHENOTYPES)} outputs) | {fmt(c['meanR']['model'])} | {fmt(c['meanR']['hgb'])} | "
             f"{c['meanR']['diff']:+.3f} [{c['meanR']['ci'][0]:+.3f}, {c['meanR']['ci'][1]:+.3f}] |"]
    for _, oid, _ in D.RISK_OUTPUTS:
        lines.append(f"| {oid} AUC | {fmt(c['model']['auc'][oid])} | {fmt(c['hgb']['auc'][oid])} | {_ci(c['riskDiff'][oid])} |")
    for _, oid, _, _ in D.PHENOTYPES[:13]:
        lines.append(f"| {oid} r | {fmt(c['model']['r'][oid])} | {fmt(c['hgb']['r'][oid])} | {_ci(c['phenotypeDiff'][oid])} |")
    cov = c["coverage80"]
    gs = list(next(iter(cov.values())))
    lines += ["", "80 % intervals (`interval80` in the screen JSON): share of subjects whose true value lies inside.", "",
              "| phenotype | " + " | ".join(f"{k} (n={cov['lv_ef'][k]['n']})" for k in gs) + " |", "|---|" + "---|" * len(gs)]
    from scipy.stats import binom

    def cell(c):
        if c["coverage"] is None:
            return "n/a"
        lo, hi = binom.ppf([0.025, 0.975], c["n"], 0.8) / c["n"]
        return f"{c['coverage']:.2f}" + ("" if lo <= c["coverage"] <= hi else " ✗")
    for oid, v in cov.items():
        lines.append(f"| {oid} | " + " | ".join(cell(v[k]) for k in gs) + " |")
    lines += ["", "✗: outside the range a perfectly calibrated 80 % interval would give in 95 % of cohorts of that group's "
              "size (binomial); unmarked cells are consistent with 80 % coverage. The 75–85 % band is narrower than that "
              "range for groups of fewer than ~250 subjects."]
    lines += ["", "Calibration of the risk probabilities (ECE, 10 bins): " + ", ".join(
        f"{oid} {v['ece']:.3f}{' (weak)' if v['weak'] else ''}" for oid, v in c["ece"].items()) + ".", "",
        f"Out-of-distribution flag on these held-out synthetic subjects: {c['oodFlagged'] * 100:.1f} % "
        "(the rule, the real-record measurement and its target: \"Out-of-distribution rule\" below; `tests/ood/run.sh`, "
        "run by `scripts/test`, checks the real 12-lead records in `tests/records` and 120 held-out synthetic subjects).", ""]
    lines.append(f"Generator ({g['subjects']} subjects exported with `--save-float-frames`, the point-estimate anatomy; "
                 f"groups {g['groups']}): r(generated area-EF, true EF) = {fmt(g['efVsTrueEF'])} (shuffled {fmt(g['shuffledEF'])}); "
                 f"r(generated EF, the model's EF head) = {fmt(g['efVsModelEF'])}; among true EF ≤ 35 % (n = {g['efLe35']['n']}) "
                 f"median generated EF {fmt(g['efLe35']['medianGeneratedEF'])} % (true median {fmt(g['efLe35']['medianTrueEF'])} %).")
    if "areaCalibration" in g:
        cal = g["areaCalibration"]
        lines.append(f"Volumes are read from the generated SAX cine with fits on true pose-normalised training cines: LV EDV ≈ "
                     f"a + b·(ED area)^1.5 (r = {fmt(cal['lv_edv']['r'])}); RV EDV a power law of the RV width at the septum "
                     f"and the LV radius and wall behind it (r = {fmt(cal['rv_edv']['r'])}). r says how well the tracker "
                     f"reads volume on true cines.")
    lines += ["", "Each cell: true group mean → the model's point estimate (the value printed beside the picture, which the "
              "generator is asked to draw) → what the tracker reads on the generated cine.", "",
              "| group | n | EF (area-EF for the generated) | LV EDV | RV EDV |", "|---|---|---|---|---|"]
    for k, v in g["byGroup"].items():
        lines.append(f"| {k} | {v['n']} | {v['trueEF']:.1f} → {v.get('modelEF', float('nan')):.1f} → {v['generatedEF']:.1f} | "
                     f"{v['trueEDV']:.0f} → {v.get('modelEDV', float('nan')):.0f} → {v.get('generatedEDV', float('nan')):.0f} | "
                     f"{v['trueRVEDV']:.0f} → {v.get('modelRVEDV', float('nan')):.0f} → {v.get('generatedRVEDV', float('nan')):.0f} |")
    tc_ = g.get("areaCalibration", {}).get("trueCines")
    if tc_:
        lines += ["", "The tracker itself, on TRUE cines of the training cohort's test split (what it reads where the picture is "
                  "exactly right): " + "; ".join(
                      f"{k} (n = {v['n']}) LV EDV {v['trueEDV']:.0f} read {v['readEDV']:.0f}, RV EDV {v['trueRVEDV']:.0f} read "
                      f"{v['readRVEDV']:.0f}" for k, v in tc_.items()) + "."]
    lines += ["", END]
    text = card.read_text() if card.exists() else ""
    if START in text and END in text:
        text = text[:text.index(START)] + "\n".join(lines) + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n" + "\n".join(lines) + "\n"
    card.write_text(text)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--bundle", default=str(HERE.parent / "assets/models/demo-v2"))
    ap.add_argument("--run", default=str(HERE / "runs/demo-v4"), help="training run folder (floors_hgb.pkl)")
    ap.add_argument("--config", default=str(HERE / "configs/demo.json"))
    ap.add_argument("--train-cohort", default=str(HERE.parent / "data/cohort"))
    ap.add_argument("--n", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=4242)
    ap.add_argument("--out", default="/tmp/ecg2cmr-heldout")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--per-group", type=int, default=25)
    ap.add_argument("--whole-groups", nargs="*", default=[],
                    choices=["normal", "ef_le_35", "dcm", "hcm", "prior_mi", "pulmonary_hypertension"],
                    help="export every member of these groups (a group mean of the generated cines without "
                         "the sampling noise of --per-group members)")
    ap.add_argument("--card", default=None)
    ap.add_argument("--skip", nargs="*", default=[], choices=["build", "screen", "export"],
                    help="reuse what --out already holds (e.g. after an interruption)")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    bundle = Path(a.bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    t0 = time.time()
    h = sample_subjects(a.n, a.seed) if "build" in a.skip else build_heldout(a.n, a.seed, out, a.workers)
    print(f"held-out cohort: {a.n} subjects ({time.time() - t0:.0f} s)", flush=True)
    stems = [str(out / "ecg" / sid) for sid in h["subject_id"]]
    s = screen_table(out / "results.jsonl", h, None) if "screen" in a.skip else screen_scores(a.bin, bundle, out, h)
    print(f"screen: {s['screened']} of {s['subjects']} ({time.time() - t0:.0f} s)", flush=True)
    floor = hgb_scores(Path(a.run), stems, manifest, a.workers)
    res = {"seed": a.seed, "n": a.n, "bundle": manifest["id"], "screened": s["screened"],
           "hgbTrainingSubjects": floor["trainingSubjects"]}
    res["compare"] = compare(h, s, floor, manifest)
    c = res["compare"]
    print(f"model − HGB: mean AUC7 {c['meanAUC7']['diff']:+.3f} {c['meanAUC7']['ci']}, mean r {c['meanR']['diff']:+.3f} "
          f"{c['meanR']['ci']} ({time.time() - t0:.0f} s)", flush=True)
    calib = area_calibration(Path(a.train_cohort), Path(a.config))
    if "export" in a.skip:
        res["generator"] = measure_exports(out / "export", h, pick_generator_subjects(h, a.per_group, a.whole_groups), calib,
                                           manifest["generator"]["pose"])
    else:
        res["generator"] = generator_scores(a.bin, bundle, out, h, a.per_group, calib, a.whole_groups)
    res["seconds"] = round(time.time() - t0, 1)
    (out / "heldout.json").write_text(json.dumps(res, indent=2, default=float) + "\n")
    if a.card:
        write_card_section(Path(a.card), res)
    print(json.dumps({k: res[k] for k in ("compare", "generator")}, indent=1, default=float))


if __name__ == "__main__":
    main()
