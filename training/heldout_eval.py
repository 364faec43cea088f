"""Held-out check of a bundle, end to end through the real binary (the issue's "Must show").

    python training/heldout_eval.py --bin .build/debug/ecg2cmr --bundle assets/models/demo-v2 \
        --n 1500 --seed 4242 --out /tmp/heldout [--card docs/MODEL_CARD.md]

1. Draws a new synthetic cohort with `training/cohort` from a seed the model was not trained on and
   writes each subject's 10 s 12-lead ECG as a 500 Hz WFDB record (wfdb.wrsamp).
2. Runs `ecg2cmr screen` on the folder and scores its results against the cohort's truth: mean AUC
   of the seven ECG-visible risk outputs, LV EF r, LV mass r.
3. Fits the simple floor — logistic / ridge regression on every 4th sample of each lead's median
   beat + RR statistics (beats.py, the engine's algorithm) — on the training cohort and scores it on
   the same held-out subjects.
4. Exports normal, DCM / low-EF, HCM and prior-MI subjects with `ecg2cmr export --save-float-frames`
   and measures the blood pool on the generated SAX frames (one Otsu threshold per cine, bright
   component nearest the centre): r(generated EF, true EF), r(ED area, true EDV), the same with
   shuffled pairs (mean |r| over 200 permutations), and r(generated EF, the model's own EF head).
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
from ecg2cmr_train.metrics import auc, cine_function, pearson  # noqa: E402

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


def floor_scores(train_cohort: Path, heldout_stems: list, heldout: dict, manifest: dict, workers: int,
                 max_train: int) -> dict:
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler
    tc = D.Cohort(train_cohort)
    tr = np.flatnonzero(tc.split == "train")[:max_train]
    jobs = [("cohort", (str(tc.path), tr[a:a + 200], tc.lsb_mv), tc.rate, manifest) for a in range(0, len(tr), 200)]
    hjobs = [("wfdb", heldout_stems[a:a + 100], 500.0, manifest) for a in range(0, len(heldout_stems), 100)]
    with get_context("fork").Pool(workers) as pool:
        xtr = np.concatenate(list(pool.imap(_feat_job, jobs)))
        xte = np.concatenate(list(pool.imap(_feat_job, hjobs)))
    sc = StandardScaler().fit(xtr)
    xtr, xte = sc.transform(xtr), sc.transform(xte)
    t = D.Targets(tc)
    res = {"risk": {}, "phenotype": {}}
    for j, (col, oid, _) in enumerate(D.RISK_OUTPUTS):
        y = t.risk[tr, j]
        m = LogisticRegression(C=0.05, max_iter=400).fit(xtr, y)
        res["risk"][oid] = auc(heldout[col].astype(float), m.decision_function(xte))
    for col, oid in (("lv_ef_pct", "lv_ef"), ("lv_mass_g", "lv_mass"), ("lv_edv_ml", "lv_edv")):
        m = Ridge(alpha=30.0).fit(xtr, tc.numeric(col)[tr])
        res["phenotype"][oid] = pearson(heldout[col], m.predict(xte))
    res["meanAUC7"] = float(np.mean([res["risk"][k] for k in ECG_VISIBLE]))
    res["trainingSubjects"] = int(len(tr))
    return res


def screen_scores(bin_path: str, bundle: Path, out: Path, heldout: dict) -> dict:
    results = out / "results.jsonl"
    if results.exists():
        results.unlink()
    t0 = time.time()
    subprocess.run([bin_path, "screen", str(out / "ecg"), "--out", str(results), "--model", str(bundle),
                    "--plain"], check=False)
    return score_results(results, heldout, round(time.time() - t0, 1))


def score_results(results: Path, heldout: dict, seconds) -> dict:
    by_id = {}
    for line in results.read_text().splitlines():
        r = json.loads(line)
        if r.get("status") == "ok":
            by_id[Path(r["file"]).stem] = r
    ids = list(heldout["subject_id"])
    ok = [i for i, s in enumerate(ids) if s in by_id]
    res = {"screened": len(by_id), "subjects": len(ids), "seconds": seconds, "risk": {}, "phenotype": {}}
    for col, oid, _ in D.RISK_OUTPUTS:
        y = heldout[col][ok].astype(float)
        p = np.array([by_id[ids[i]]["risks"][oid]["probability"] for i in ok])
        res["risk"][oid] = auc(y, p)
    for col, oid in (("lv_ef_pct", "lv_ef"), ("lv_mass_g", "lv_mass"), ("lv_edv_ml", "lv_edv")):
        v = np.array([by_id[ids[i]]["phenotypes"][oid]["value"] for i in ok])
        res["phenotype"][oid] = pearson(heldout[col][ok], v)
    flags = [bool(by_id[ids[i]].get("outOfDistribution")) for i in ok]
    res["outOfDistributionFlagged"] = float(np.mean(flags)) if flags else float("nan")
    res["meanAUC7"] = float(np.mean([res["risk"][k] for k in ECG_VISIBLE]))
    return res


def pick_generator_subjects(h: dict, per_group: int) -> dict:
    groups = {
        "normal": np.flatnonzero((h["cad"] == 0) & (h["heart_failure"] == 0) & (h["cardiomyopathy"] == 0)
                                 & (h["atrial_fibrillation"] == 0) & (h["pulmonary_hypertension"] == 0)),
        "dcm_or_low_ef": np.flatnonzero((h["cm_subtype"] == "dcm") | (h["lv_ef_pct"] < 40)),
        "hcm": np.flatnonzero(h["cm_subtype"] == "hcm"),
        "prior_mi": np.flatnonzero(h["prior_mi"] == 1),
    }
    return {k: v[:per_group] for k, v in groups.items()}


def generator_scores(bin_path: str, bundle: Path, out: Path, h: dict, per_group: int) -> dict:
    groups = pick_generator_subjects(h, per_group)
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
    res = measure_exports(export, h, groups)
    res["seconds"] = round(time.time() - t0, 1)
    return res


def measure_exports(export: Path, h: dict, groups: dict) -> dict:
    """Blood-pool EF and ED area on every exported case's float SAX frames (a partial export too)."""
    ef, eda, head_ef, true_ef, true_edv, group_of = [], [], [], [], [], []
    for manifest_path in sorted(export.glob("*/manifest.json")):
        m = json.loads(manifest_path.read_text())
        sid = Path(m["input"]["path"]).stem
        i = int(np.flatnonzero(h["subject_id"] == sid)[0])
        frames = np.load(manifest_path.parent / "sax" / "frames.npy")
        f = cine_function(frames)
        ef.append(f["ef"])
        eda.append(f["ed_area"])
        head_ef.append(next(p["value"] for p in m["phenotypes"] if p["target"].endswith(".lv_ef")))
        true_ef.append(h["lv_ef_pct"][i])
        true_edv.append(h["lv_edv_ml"][i])
        group_of.append(next(k for k, v in groups.items() if i in set(v.tolist())))
    ef, eda, true_ef, true_edv = map(np.asarray, (ef, eda, true_ef, true_edv))
    rng = np.random.default_rng(0)
    perms = [rng.permutation(len(ef)) for _ in range(200)]
    res = {"subjects": len(ef), "groups": {k: int(sum(g == k for g in group_of)) for k in groups},
           "efVsTrueEF": pearson(ef, true_ef), "edAreaVsTrueEDV": pearson(eda, true_edv),
           "shuffledEF": float(np.mean([abs(pearson(ef, true_ef[p])) for p in perms])),
           "shuffledEDA": float(np.mean([abs(pearson(eda, true_edv[p])) for p in perms])),
           "efVsModelEF": pearson(ef, head_ef),
           "meanGeneratedEF": {k: float(np.mean([e for e, g in zip(ef, group_of) if g == k])) for k in groups
                               if any(g == k for g in group_of)}}
    return res


def write_card_section(card: Path, res: dict) -> None:
    s, f, g = res["screen"], res["floor"], res["generator"]
    fmt = lambda x: f"{x:.3f}"  # noqa: E731
    lines = [START, "", f"## Held-out check through the binary (`training/heldout_eval.py`, cohort seed {res['seed']}, "
             f"{s['screened']} of {s['subjects']} subjects screened)", "",
             "A new cohort drawn from a seed the model never saw, written as 500 Hz WFDB records and run through "
             "`ecg2cmr screen`; the floor is fitted on the training cohort with the same features the engine computes.", "",
             "| output | demo model (`screen`) | floor |", "|---|---|---|",
             f"| mean AUC, 7 ECG-visible outputs | {fmt(s['meanAUC7'])} | {fmt(f['meanAUC7'])} |"]
    for k in ECG_VISIBLE:
        lines.append(f"| {k} AUC | {fmt(s['risk'][k])} | {fmt(f['risk'][k])} |")
    for k in ("lv_ef", "lv_mass", "lv_edv"):
        lines.append(f"| {k} r | {fmt(s['phenotype'][k])} | {fmt(f['phenotype'][k])} |")
    lines += ["", f"Out-of-distribution flag on these held-out synthetic subjects: {s['outOfDistributionFlagged'] * 100:.1f} % "
              "(real 12-lead ECGs must be flagged: `tests/ood/run.sh`, run by `scripts/test`, requires ≥ 80 % of the "
              "PhysioNet/CinC 2021 records in `tests/records` and ≤ 10 % of 120 held-out synthetic subjects).", "",
              f"Generator ({g['subjects']} subjects exported with `--save-float-frames`: {g['groups']}): "
              f"r(generated EF, true EF) = {fmt(g['efVsTrueEF'])} (shuffled {fmt(g['shuffledEF'])}); "
              f"r(ED area, true EDV) = {fmt(g['edAreaVsTrueEDV'])} (shuffled {fmt(g['shuffledEDA'])}); "
              f"r(generated EF, the model's EF head) = {fmt(g['efVsModelEF'])}. Mean generated area-EF per group: "
              + ", ".join(f"{k} {v:.1f} %" for k, v in g["meanGeneratedEF"].items()) + ".", "", END]
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
    ap.add_argument("--train-cohort", default=str(HERE.parent / "data/cohort"))
    ap.add_argument("--n", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=4242)
    ap.add_argument("--out", default="/tmp/ecg2cmr-heldout")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--per-group", type=int, default=30)
    ap.add_argument("--floor-train", type=int, default=8000)
    ap.add_argument("--card", default=None)
    ap.add_argument("--measure-only", action="store_true",
                    help="reuse --out's results.jsonl and export/ (e.g. after an interrupted run): score and write")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    bundle = Path(a.bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    t0 = time.time()
    if a.measure_only:
        h = sample_subjects(a.n, a.seed)
        res = {"seed": a.seed, "n": a.n, "bundle": manifest["id"]}
        res["screen"] = score_results(out / "results.jsonl", h, None)
        stems = [str(out / "ecg" / sid) for sid in h["subject_id"]]
        res["floor"] = floor_scores(Path(a.train_cohort), stems, h, manifest, a.workers, a.floor_train)
        res["generator"] = measure_exports(out / "export", h, pick_generator_subjects(h, a.per_group))
        (out / "heldout.json").write_text(json.dumps(res, indent=2, default=float) + "\n")
        if a.card:
            write_card_section(Path(a.card), res)
        print(json.dumps(res, indent=1, default=float))
        return
    h = build_heldout(a.n, a.seed, out, a.workers)
    stems = [str(out / "ecg" / sid) for sid in h["subject_id"]]
    res = {"seed": a.seed, "n": a.n, "bundle": manifest["id"]}
    res["screen"] = screen_scores(a.bin, bundle, out, h)
    print(f"screen: mean AUC7 {res['screen']['meanAUC7']:.3f}, EF r {res['screen']['phenotype']['lv_ef']:.3f}, "
          f"mass r {res['screen']['phenotype']['lv_mass']:.3f}", flush=True)
    res["floor"] = floor_scores(Path(a.train_cohort), stems, h, manifest, a.workers, a.floor_train)
    print(f"floor: mean AUC7 {res['floor']['meanAUC7']:.3f}, EF r {res['floor']['phenotype']['lv_ef']:.3f}", flush=True)
    res["generator"] = generator_scores(a.bin, bundle, out, h, a.per_group)
    print(f"generator: {json.dumps(res['generator'])}", flush=True)
    res["seconds"] = round(time.time() - t0, 1)
    (out / "heldout.json").write_text(json.dumps(res, indent=2, default=float) + "\n")
    if a.card:
        write_card_section(Path(a.card), res)
    print(json.dumps({k: res[k] for k in ("screen", "floor")}, indent=1, default=float))


if __name__ == "__main__":
    main()
