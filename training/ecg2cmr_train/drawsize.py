"""Fit the generator's size correction, so a generated cine shows the LV volume printed beside it.

    python -m ecg2cmr_train.drawsize --bundle assets/models/demo-v2 --cohort data/calibration-cohort \
        --cines data/cohort [--n 600] [--large 600] [--workers 2] [--cache DIR] [--dry-run]

The frame decoder learnt from a cohort in which hearts above ~220 mL are a few per cent, and draws
them smaller than asked: on the held-out DCM group the printed LV EDV was 229 mL and the tracker
read 221 mL on the generated cines, while the same tracker reads true DCM cines within 1 %. This
tool draws, exactly as the engine does (the model's point-estimate anatomy, the ECG's guided
prior residual, a seed per subject), the SAX cines of subjects of a cohort the model never saw —
the first `--n` and up to `--large` more whose printed LV EDV is ≥ 200 mL, where the decoder has
little data — and reads their end-diastolic LV volume with the card's tracker (`tracker.py`,
fitted on true cines of the training cohort). Half of them fit, per band of printed volume, the
median drawn / printed ratio; the decoder is then asked for LV EDV and ESV × 1 / ratio (manifest
`generator.anatomy.sizeCorrection`; both volumes alike, so the asked EF is unchanged). The other
half checks it: drawn vs printed per band, before and after.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from . import data as D

HERE = Path(__file__).resolve().parents[1]
BY, SCALE = "lv_edv", ["lv_edv", "lv_esv"]
BANDS_ML = [0, 120, 160, 200, 240, 280, 1e9]
KNOT_EDGES_ML = [0, 110, 130, 150, 170, 190, 210, 230, 250, 270, 290, 320, 1e9]


def sax_ed_volumes(gen, manifest: dict, anatomy: np.ndarray, embedding: np.ndarray, seeds: np.ndarray,
                   calib: dict, phases: int = 10) -> np.ndarray:
    """LV EDV (mL) the tracker reads on the canonical SAX cine the engine draws for each subject
    (`model.generate_cine`, the anatomy through the generator's size correction if set), `phases`
    frames over the cycle; the largest blood-pool area is end-diastole."""
    import torch
    from .model import DiffusionSchedule, generate_cine
    from .tracker import area_volume, ed_areas
    g = manifest["generator"]
    sched = DiffusionSchedule(g["diffusion"]["steps"], g["diffusion"]["betaStart"], g["diffusion"]["betaEnd"])
    ph = torch.arange(phases, dtype=torch.float32) / phases
    out = np.zeros(len(seeds))
    with torch.no_grad():
        for i in range(len(seeds)):
            res = generate_cine(gen, sched, g["diffusion"]["samplingSteps"], float(g["guidance"]),
                                torch.from_numpy(anatomy[i]).float(), torch.from_numpy(embedding[i]).float(),
                                int(seeds[i]), ph, g["pose"]["rotationDegrees"], g["pose"]["shiftPixels"],
                                views=["sax"])
            out[i] = float(area_volume(calib["lv_edv"], np.array([ed_areas(res["canonical"]["sax"])[1]]))[0])
    return out


def fit_correction(asked: np.ndarray, drawn: np.ndarray, edges=KNOT_EDGES_ML, min_n: int = 8) -> dict:
    """The factor by which to ask so that the drawn volume is the asked one: in bands of the asked
    volume (`edges`, a band with fewer than `min_n` subjects merged into the one below), the median
    of drawn / asked — a median, because the tracker now and then merges the LV with the RV on one
    cine — at the band's median asked volume; factor = 1 / that ratio, read once more at the volume
    actually asked (ratio(x · factor)), since the ratio changes with size."""
    ratio = drawn / asked
    bands = []
    for lo, hi in zip(edges, edges[1:]):
        m = (asked >= lo) & (asked < hi)
        if m.sum() < min_n and bands:
            bands[-1] |= m
        elif m.any():
            bands.append(m)
    if len(bands) > 1 and bands[-1].sum() < min_n:
        last = bands.pop()
        bands[-1] |= last
    x = np.array([np.median(asked[m]) for m in bands])
    r = np.array([np.median(ratio[m]) for m in bands])
    f = 1.0 / np.interp(x / r, x, r)
    return {"knotsMl": [round(float(v), 2) for v in x], "factors": [round(float(v), 5) for v in f],
            "bands": [{"askedMl": float(v), "drawnOverAsked": float(q), "n": int(m.sum())} for v, q, m in zip(x, r, bands)]}


def band_table(asked: np.ndarray, drawn: np.ndarray) -> list:
    rows = []
    for lo, hi in zip(BANDS_ML, BANDS_ML[1:]):
        m = (asked >= lo) & (asked < hi)
        if m.any():
            rows.append({"band": [lo, hi if hi < 1e8 else None], "n": int(m.sum()), "askedMl": float(asked[m].mean()),
                         "drawnMl": float(drawn[m].mean()), "medianRatio": float(np.median(drawn[m] / asked[m]))})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ecg2cmr_train.drawsize", description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", required=True, help="exported bundle directory (its manifest is rewritten)")
    ap.add_argument("--cohort", required=True,
                    help="cohort whose ECGs are drawn from (a calibration cohort the model never saw)")
    ap.add_argument("--cines", required=True, help="the training cohort: its true cines fit the tracker")
    ap.add_argument("--config", default=str(HERE / "configs/demo.json"), help="training config (cine pixel size)")
    ap.add_argument("--n", type=int, default=600, help="subjects in cohort order …")
    ap.add_argument("--large", type=int, default=600, help="… plus up to this many whose printed LV EDV ≥ 200 mL")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--cache", default=None, help="folder for the feature cache")
    ap.add_argument("--report", default=None, help="write the fit and the check (json) here")
    ap.add_argument("--dry-run", action="store_true", help="report only; leave the bundle as it is")
    a = ap.parse_args(argv)
    import torch
    from .bundle import load_bundle, replace_manifest, size_correction
    from .intervals import predict_bundle
    from .ood import cohort_features
    from .tracker import area_calibration
    torch.set_num_threads(max(1, a.workers))
    encoder, gen, manifest = load_bundle(a.bundle)
    if gen is None or "anatomy" not in manifest["generator"]:
        print(f"{a.bundle}: needs an anatomy generator", file=sys.stderr)
        return 2
    ga = manifest["generator"]["anatomy"]
    head = next(h for h in manifest["heads"] if h["name"] == ga["head"])
    out = {o["id"]: o for o in head["outputs"]}
    cohort = D.Cohort(a.cohort)
    every = np.arange(cohort.n) if cohort.ready else np.flatnonzero(cohort.rendered())
    f = cohort_features(cohort, every, manifest["input"]["preprocessing"], manifest["encoder"]["beats"],
                        a.workers, cache_dir=Path(a.cache) if a.cache else None)
    pred = predict_bundle(encoder, f["beats"], f["rhythm"])
    j = [o["id"] for o in head["outputs"]].index(BY)
    printed = pred["heads"][ga["head"]][:, j].astype(np.float64) * out[BY]["std"] + out[BY]["mean"]
    pick = np.union1d(np.arange(min(a.n, len(every))), np.flatnonzero(printed >= 200)[:a.large])
    rows = every[pick]
    anat = pred["heads"][ga["head"]][pick].astype(np.float32)
    emb = pred["embedding"][pick]
    asked = printed[pick]
    seeds = 7000 + rows                      # a seed per subject, as a user's export would have one
    calib = area_calibration(Path(a.cines), Path(a.config))
    print(f"drawsize: {len(rows)} subjects of {a.cohort} ({int((asked >= 200).sum())} printed ≥ 200 mL); "
          f"tracker LV EDV r on true cines {calib['lv_edv']['r']:.3f}")
    gen.size_correction = None
    drawn = sax_ed_volumes(gen, manifest, anat, emb, seeds, calib)
    fit_half, check_half = np.arange(len(rows)) % 2 == 0, np.arange(len(rows)) % 2 == 1
    corr = fit_correction(asked[fit_half], drawn[fit_half])
    spec = {"by": BY, "scale": SCALE, "knotsMl": corr["knotsMl"], "factors": corr["factors"]}
    trial = json.loads(json.dumps(manifest))
    trial["generator"]["anatomy"]["sizeCorrection"] = spec
    gen.size_correction = size_correction(trial)
    after = sax_ed_volumes(gen, manifest, anat[check_half], emb[check_half], seeds[check_half], calib)
    res = {"subjects": int(len(rows)), "cohort": {"path": str(a.cohort), "seed": cohort.meta.get("seed")},
           "fit": corr, "tracker": calib["lv_edv"],
           "checkBefore": band_table(asked[check_half], drawn[check_half]),
           "checkAfter": band_table(asked[check_half], after)}
    for name in ("checkBefore", "checkAfter"):
        print(f"{name}: " + "; ".join(f"{r['band'][0]}–{r['band'][1] or '…'} mL n {r['n']}: printed {r['askedMl']:.0f} "
                                      f"drawn {r['drawnMl']:.0f} (median {100 * r['medianRatio'] - 100:+.1f} %)"
                                      for r in res[name]))
    print("factors: " + ", ".join(f"{k:.0f} mL ×{v:.3f}" for k, v in zip(corr["knotsMl"], corr["factors"])))
    if a.report:
        Path(a.report).write_text(json.dumps(res, indent=2) + "\n")
    if not a.dry_run:
        d = Path(a.bundle)
        m = json.loads((d / "manifest.json").read_text())
        m["generator"]["anatomy"]["sizeCorrection"] = {
            **spec, "fitted": {"tool": "python -m ecg2cmr_train.drawsize", "cohortSeed": cohort.meta.get("seed"),
                               "subjects": int(fit_half.sum()), "checkSubjects": int(check_half.sum()),
                               "checkBefore": res["checkBefore"], "checkAfter": res["checkAfter"]}}
        replace_manifest(d, m)
        print(f"drawsize: bundle {a.bundle} manifest rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
