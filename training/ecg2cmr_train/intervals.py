"""Recalibrate an exported bundle's 80 % phenotype intervals on a calibration cohort.

    python -m ecg2cmr_train.intervals --bundle assets/models/demo-v2 --cohort data/calibration-cohort \
        [--n N] [--workers 2] [--cache DIR] [--report FILE] [--dry-run]

The calibrate stage sets each interval cell's scale on the validation split (2,000 subjects of the
demo cohort). That split holds about 50 DCM, 40 HCM, 80 PH and 180 prior-MI members, so a disease
cell's scale, which must bring its true group to 80 %, moves by ±0.05 of coverage with which 50
subjects happen to be there. This tool reads a bundle as the engine does (its preprocessing ops,
its weights, its risk heads already Platt-scaled), predicts on every subject of a separate synthetic
cohort (`python -m cohort.build --n 20000 --seed S --out DIR`, a seed the model never saw) and sets
the scales there with the same rule (`validate.cell_conformal_scales`). Only the manifest's
`interval80Scale`, `interval80Scales` and `uncertainty` text change; the weights are not touched.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from . import data as D
from .validate import (INTERVAL, INTERVAL_CELLS, NO_CELL, cell_conformal_scales, conformal_scale,
                       interval_cells)

KEY_OUTPUTS = ("lv_ef", "lv_edv", "lv_mass", "rv_edv")


def predict_bundle(encoder, beats: np.ndarray, rhythm: np.ndarray, batch: int = 256) -> dict:
    """Head outputs, log σ and embedding of a bundle's encoder on prepared median beats and rhythm
    features."""
    import torch
    heads, sig, emb = {}, {}, []
    with torch.no_grad():
        for a in range(0, len(beats), batch):
            o = encoder({"beats": torch.from_numpy(np.asarray(beats[a:a + batch], dtype=np.float32)),
                         "rhythm": torch.from_numpy(np.asarray(rhythm[a:a + batch], dtype=np.float32))})
            emb.append(o["embedding"].float().numpy())
            for k, v in o["heads"].items():
                heads.setdefault(k, []).append(v.float().numpy())
            for k, v in o.get("log_sigma", {}).items():
                sig.setdefault(k, []).append(v.float().numpy())
    return {"heads": {k: np.concatenate(v) for k, v in heads.items()},
            "log_sigma": {k: np.concatenate(v) for k, v in sig.items()}, "embedding": np.concatenate(emb)}


def recalibrate(manifest: dict, pred: dict, truth: np.ndarray, groups: dict) -> dict:
    """New scales for every phenotype output of the manifest's interval head from predictions on
    calibration subjects: {output id: {"scale", "cellScales", "cellLevels", "coverage"}} plus the
    subjects per cell. `truth` is [n, phenotypes] in PHENOTYPES order, in the outputs' units."""
    head = next(h for h in manifest["heads"] if "uncertainty" in h)
    sigma = np.exp(np.clip(pred["log_sigma"][head["name"]], -7, 4))
    mu = pred["heads"][head["name"]]
    cells = interval_cells(pred["heads"]["risk"], pred["heads"]["cm_subtype"])
    names = [c["name"] for c in INTERVAL_CELLS] + [NO_CELL]
    res = {"cellSubjects": {c: int((cells == c).sum()) for c in names},
           "groupSubjects": {g: int(m.sum()) for g, m in groups.items()}, "outputs": {}}
    everyone = np.ones(len(mu), dtype=bool)
    for j, o in enumerate(head["outputs"]):
        t = (truth[:, D.phenotype_index(o["id"])] - o["mean"]) / o["std"]
        score = np.abs(t - mu[:, j]) / sigma[:, j]
        qc, lv = cell_conformal_scales(score, cells, groups, INTERVAL)
        per = np.array([qc[c] for c in cells])
        res["outputs"][o["id"]] = {
            "scale": conformal_scale(score, INTERVAL), "cellScales": qc, "cellLevels": lv,
            "coverage": {g: float((score[m] <= per[m]).mean()) for g, m in {"all": everyone, **groups}.items()}}
    return res


def rewrite_manifest(bundle_dir, res: dict, source: dict) -> dict:
    """Write the new scales into the bundle's manifest."""
    from .bundle import replace_manifest
    d = Path(bundle_dir)
    manifest = json.loads((d / "manifest.json").read_text())
    head = next(h for h in manifest["heads"] if "uncertainty" in h)
    for o in head["outputs"]:
        r = res["outputs"][o["id"]]
        o["interval80Scale"] = round(r["scale"], 5)
        o["interval80Scales"] = {c: round(v, 5) for c, v in r["cellScales"].items()}
    u = head["uncertainty"]
    u["calibration"] = (
        "split conformal: interval80 = value ± interval80Scale·σ·std; with cells, the scale of the ECG's cell "
        "(interval80Scales[cell]): the first cell whose probability (the product of the named head outputs) is "
        "above its threshold, else \"none\"; each disease cell's scale set so that its true disease group is "
        "covered at 80 %, the \"none\" cell's so that all subjects are, on the calibration cohort "
        "(calibrationCohort)")
    u["calibrationCohort"] = {**source, "cellSubjects": res["cellSubjects"], "groupSubjects": res["groupSubjects"]}
    replace_manifest(d, manifest)
    return manifest


def test_split_coverage(encoder, manifest: dict, res: dict, cohort, workers: int, cache) -> dict:
    """Coverage of the intervals the new scales give on the training cohort's test split (the
    evaluate stage's table, with these scales)."""
    from .evaluate import interval_coverage
    from .ood import cohort_features
    rows = np.flatnonzero(cohort.split == "test")
    f = cohort_features(cohort, rows, manifest["input"]["preprocessing"], manifest["encoder"]["beats"], workers,
                        cache_dir=cache)
    pred = predict_bundle(encoder, f["beats"], f["rhythm"])
    head = next(h for h in manifest["heads"] if "uncertainty" in h)
    ids = [o["id"] for o in head["outputs"]]
    if ids != [oid for _, oid, _, _ in D.PHENOTYPES]:
        raise ValueError(f"{head['name']} outputs {ids[:3]}… are not in the cohort's phenotype order")
    cells = interval_cells(pred["heads"]["risk"], pred["heads"]["cm_subtype"])
    cov = interval_coverage(cohort, rows, D.Targets(cohort).phenotype[rows], pred["heads"][head["name"]],
                            pred["log_sigma"][head["name"]], [o["mean"] for o in head["outputs"]],
                            [o["std"] for o in head["outputs"]],
                            {oid: r["cellScales"] for oid, r in res["outputs"].items()}, cells)
    return {"coverage": cov, "cells": {c: int((cells == c).sum()) for c in sorted(set(cells))}}


def rewrite_card_section(card: Path, lines: list) -> None:
    """Replace the card's interval section (its heading up to the next `### ` heading)."""
    from .evaluate import INTERVALS_HEADING
    text = card.read_text().split("\n")
    start = text.index(INTERVALS_HEADING)
    end = next(i for i in range(start + 1, len(text)) if text[i].startswith("### ") or text[i].startswith("## "))
    new = "\n".join(lines).split("\n")
    card.write_text("\n".join(text[:start] + new + text[end:]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ecg2cmr_train.intervals", description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", required=True, help="exported bundle directory (its manifest is rewritten)")
    ap.add_argument("--cohort", required=True, help="calibration cohort folder (python -m cohort.build)")
    ap.add_argument("--n", type=int, default=None, help="use the first N subjects (default: all)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--cache", default=None, help="folder for the feature cache (re-runs skip preprocessing)")
    ap.add_argument("--report", default=None, help="write the scales and coverage (json) here")
    ap.add_argument("--dry-run", action="store_true", help="report only; leave the bundle as it is")
    ap.add_argument("--check-cohort", default=None,
                    help="the training cohort: coverage with the new scales on its test split")
    ap.add_argument("--card", default=None,
                    help="rewrite this model card's interval section with that test-split coverage")
    a = ap.parse_args(argv)
    if a.card and not a.check_cohort:
        ap.error("--card needs --check-cohort (the coverage it writes is measured there)")
    import torch
    from .bundle import load_bundle
    from .ood import cohort_features
    from .pipeline import disease_groups
    torch.set_num_threads(max(1, a.workers))
    encoder, _, manifest = load_bundle(a.bundle)
    head = next((h for h in manifest["heads"] if "uncertainty" in h), None)
    if manifest["encoder"]["type"] != "beatvit1d" or head is None or "cells" not in head["uncertainty"]:
        print(f"{a.bundle}: needs a beat-aware encoder with an interval head and interval cells", file=sys.stderr)
        return 2
    cohort = D.Cohort(a.cohort)
    rows = np.arange(cohort.n) if cohort.ready else np.flatnonzero(cohort.rendered())
    if a.n is not None:
        rows = rows[:a.n]
    f = cohort_features(cohort, rows, manifest["input"]["preprocessing"], manifest["encoder"]["beats"],
                        a.workers, cache_dir=Path(a.cache) if a.cache else None)
    pred = predict_bundle(encoder, f["beats"], f["rhythm"])
    truth = D.Targets(cohort).phenotype[rows]
    res = recalibrate(manifest, pred, truth, disease_groups(cohort, rows))
    seed = cohort.meta.get("seed")
    source = {"subjects": int(len(rows)), "seed": seed, "cohortVersion": cohort.meta.get("version")}
    for oid in KEY_OUTPUTS:
        r = res["outputs"][oid]
        print(f"{oid}: scales " + ", ".join(f"{c} {q:.3f}" for c, q in r["cellScales"].items())
              + "; coverage " + ", ".join(f"{g} {v:.3f}" for g, v in r["coverage"].items()))
    print("cells: " + ", ".join(f"{c} {k}" for c, k in res["cellSubjects"].items()))
    check = None
    if a.check_cohort:
        check = test_split_coverage(encoder, manifest, res, D.Cohort(a.check_cohort), a.workers,
                                    Path(a.cache) if a.cache else None)
        for oid in KEY_OUTPUTS:
            print(f"{oid}: test-split coverage " + ", ".join(f"{g} {v:.3f}" for g, v in check["coverage"][oid]["coverage"].items()))
    if a.report:
        Path(a.report).write_text(json.dumps({"source": source, **res, "testSplit": check}, indent=2) + "\n")
    if a.card and check is not None and not a.dry_run:
        from .evaluate import interval_section
        rewrite_card_section(Path(a.card), interval_section(
            check["coverage"], check["cells"],
            f"a calibration cohort of {len(rows):,} synthetic subjects the model never saw (seed {seed}, "
            "`python -m ecg2cmr_train.intervals`; the validation split alone holds ~50 DCM members)"))
    if not a.dry_run:
        rewrite_manifest(a.bundle, res, source)
        print(f"intervals: {len(rows)} calibration subjects; bundle {a.bundle} manifest rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
