"""Test-split comparison of a run's calibrated model with the floors, without export / evaluate.

    cd training && python compare_floors.py [--hgb-train 3000]

Needs the run's heads.pt, baseline.pt and calibrated.pt (stages heads, baseline, calibrate). Uses
floors.npz when the floors stage finished; otherwise (--hgb-train N) fits the HGB floor here on N
training subjects (the same features as floors.py). Prints model − floor (and − baseline) with
paired bootstrap 95 % CIs (200 resamples), test ECE, 80 % interval coverage by disease group and
mean true / predicted phenotypes per group; writes <run>/compare_floors.json. For a run that could
not finish its evaluate stage (this file was used on the shared 2-core machine, issue 25).
"""
import argparse
import json
import sys
import time
from pathlib import Path
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import numpy as np, torch
from ecg2cmr_train.config import load_config
from ecg2cmr_train.pipeline import open_run, predict, trained_model, ecg_inputs  # noqa: E402
from ecg2cmr_train import evaluate as E  # noqa: E402
from ecg2cmr_train.floors import beat_rr_features, cohort_measurements, fit_hgb  # noqa: E402
torch.set_num_threads(1)
ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--config", default=str(HERE / "configs/demo.json"))
ap.add_argument("--hgb-train", type=int, default=0, help="fit HGB here on this many training subjects when floors.npz is missing")
args = ap.parse_args()
cfg = load_config(args.config)
p = open_run(cfg)
ecg_inputs(p)
t0 = time.time()
pos = p.pos["test"]
m = trained_model(p, "calibrated")
pred = predict(p, m, pos)
base = predict(p, trained_model(p, "baseline"), pos)["heads"]
floors = {}
fz = p.run_dir / "floors.npz"
if fz.exists():
    from ecg2cmr_train.floors import load_floors
    floors = load_floors(p)
if args.hgb_train and "hgb" not in floors:
    n = args.hgb_train
    tr = np.sort(p.rng("floors-train").choice(p.pos["train"], size=min(n, len(p.pos["train"])), replace=False))
    meas = cohort_measurements(p)
    rtr = p.rows[tr]
    xtr = np.concatenate([beat_rr_features(p, tr), meas[tr]], 1)
    xte = np.concatenate([beat_rr_features(p, pos), meas[pos]], 1)
    h, _ = fit_hgb(xtr, p.targets.risk[rtr], (p.targets.phenotype[rtr] - p.ph_mean) / p.ph_std, xte, 0)
    h["cm_subtype"] = np.zeros((len(pos), 3))
    floors["hgb"] = h
    print(f"hgb fitted on {len(tr)} training subjects in {time.time()-t0:.0f} s", flush=True)
floors["baseline"] = base
vs = E.paired_vs_floors(p, pred["heads"], floors, 200)
cal = E.calibration_metrics(p, pred["heads"]["risk"])
calj = json.loads((p.run_dir / "calibration.json").read_text())
iv = E.interval_metrics(p, pred["heads"]["phenotype"], pred["log_sigma"]["phenotype"], {k: v["scale"] for k, v in calj["phenotype"].items()})
gm = E.group_means(p, pred["heads"]["phenotype"])
out = {"vs": vs, "ece": {k: v["ece"] for k, v in cal.items()},
       "coverage": {k: iv[k]["coverage"] for k in ("lv_ef", "lv_edv", "lv_mass", "rv_edv")},
       "n": {k: v for k, v in iv["lv_ef"]["n"].items()}, "group_means": gm}
(p.run_dir / "compare_floors.json").write_text(json.dumps(out, indent=1, default=float))
for k, v in vs.items():
    print(f"model − {k}: mean AUC7 {v['meanAUC7'][0]:+.3f} [{v['meanAUC7'][1]:+.3f}, {v['meanAUC7'][2]:+.3f}]; mean r {v['meanR'][0]:+.3f} [{v['meanR'][1]:+.3f}, {v['meanR'][2]:+.3f}]")
    print("   ECG-visible risks:", {o: [round(x, 3) for x in v['risk'][o]] for o in E.ECG_VISIBLE})
print("ECE:", {k: round(v, 3) for k, v in out["ece"].items()})
print("coverage:", json.dumps(out["coverage"]))
print("group means (true, predicted):", json.dumps(gm))
print(f"done in {time.time()-t0:.0f} s")
