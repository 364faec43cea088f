"""Demo patients for the workstation: one folder per synthetic patient with the ECG in a real file
format, the ground-truth cines and a truth.json.

    python -m cohort.sample_data --out sample-data

Everything is regenerated from fixed seeds, so running it twice gives the same files.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from . import GENERATOR_VERSION, LEAD_NAMES
from .cmr import render_cine
from .ecg import beat_model, render_ecg
from .features import ecg_features, median_beat, r_peaks, FEATURE_NAMES
from .state import COLUMNS, sample_subjects, subject_row
from . import writers

FS = 500
CINE_FRAMES = 25
POOL_SEED = 2026
POOL_SIZE = 6000


def _plain(s):
    return s["bbb"] == "none" and s["rhythm"] == "sinus" and not s["pulmonary_hypertension"] \
        and not s["effusion"]


# (folder, condition shown, ECG format, predicate on the subject row)
PATIENTS = (
    ("P01-healthy", "no cardiac disease", "wfdb",
     lambda s: _plain(s) and not any(s[k] for k in (
         "cad", "heart_failure", "cardiomyopathy", "pericarditis", "lge", "atrial_fibrillation",
         "t1_abnormal", "t2_abnormal", "ecv_abnormal"))),
    ("P02-anterior-mi", "CAD with prior anterior (LAD) infarct", "aecg",
     lambda s: _plain(s) and s["mi_territory"] == "lad" and s["lv_ef_pct"] < 45
     and s["cm_subtype"] == "none"),
    ("P03-inferior-mi", "CAD with prior inferior (RCA) infarct", "dicom",
     lambda s: _plain(s) and s["mi_territory"] == "rca" and s["lv_ef_pct"] < 50
     and s["cm_subtype"] == "none"),
    ("P04-dcm-heart-failure", "dilated cardiomyopathy with heart failure", "muse",
     lambda s: s["cm_subtype"] == "dcm" and s["heart_failure"] and s["rhythm"] == "sinus"
     and s["bbb"] == "none" and not s["pulmonary_hypertension"]),
    ("P05-hcm", "hypertrophic cardiomyopathy", "ukb",
     lambda s: _plain(s) and s["cm_subtype"] == "hcm" and s["wt_seg09_mm"] > 15),
    ("P06-rcm", "restrictive cardiomyopathy (low voltage, atrial enlargement)", "csv",
     lambda s: s["cm_subtype"] == "rcm" and s["rhythm"] == "sinus" and s["bbb"] == "none"),
    ("P07-pulmonary-hypertension", "pre-capillary pulmonary hypertension", "wfdb",
     lambda s: s["ph_group"] == "precap" and s["rhythm"] == "sinus" and s["bbb"] == "none"
     and s["cm_subtype"] == "none" and not s["effusion"] and s["rv_ef_pct"] < 40),
    ("P08-pericarditis-effusion", "acute pericarditis with pericardial effusion", "aecg",
     lambda s: s["pericarditis_acute"] and s["effusion"] and s["rhythm"] == "sinus"
     and s["bbb"] == "none" and s["cm_subtype"] == "none"),
    ("P09-atrial-fibrillation", "atrial fibrillation", "dicom",
     lambda s: s["rhythm"] == "af" and s["bbb"] == "none" and s["cm_subtype"] == "none"
     and not s["prior_mi"]),
    ("P10-lbbb", "left bundle-branch block", "muse",
     lambda s: s["bbb"] == "lbbb" and s["rhythm"] == "sinus" and s["cm_subtype"] == "none"),
    ("P11-rbbb", "right bundle-branch block", "ukb",
     lambda s: s["bbb"] == "rbbb" and s["rhythm"] == "sinus" and not s["pulmonary_hypertension"]
     and s["cm_subtype"] == "none"),
    ("P12-ischaemic-wma", "CAD without infarct, ischaemic wall-motion abnormality", "csv",
     lambda s: _plain(s) and s["cad"] and not s["prior_mi"] and s["wall_motion_abnormality"]
     and s["cm_subtype"] == "none"),
    ("P13-lateral-mi-hf", "prior lateral (LCX) infarct with heart failure", "wfdb",
     lambda s: s["mi_territory"] == "lcx" and s["heart_failure"] and s["bbb"] == "none"
     and s["rhythm"] == "sinus"),
    ("P14-abnormal-tissue", "abnormal native T1 and ECV with a normal ECG (tissue markers only)",
     "aecg",
     lambda s: _plain(s) and s["t1_abnormal"] and s["ecv_abnormal"] and not any(s[k] for k in (
         "cad", "heart_failure", "cardiomyopathy", "pericarditis", "atrial_fibrillation"))),
)

FORMAT_NAMES = {
    "wfdb": "WFDB (format 16, 1000 adu/mV)", "aecg": "HL7 aECG XML", "dicom": "DICOM 12-lead ECG",
    "muse": "GE MUSE XML (8 stored leads)", "ukb": "UK Biobank CardioSoft XML", "csv": "CSV (mV)",
}

LABEL_KEYS = ("cad", "prior_mi", "mi_territory", "heart_failure", "cardiomyopathy", "cm_subtype",
              "pulmonary_hypertension", "ph_group", "pericarditis", "pericarditis_acute", "effusion",
              "atrial_fibrillation", "bbb", "wall_motion_abnormality", "lge", "t1_abnormal",
              "t2_abnormal", "ecv_abnormal")


def _measurements(s, ecg, fs):
    _, info = beat_model(s)
    f = dict(zip(FEATURE_NAMES, ecg_features(ecg, fs)))
    rate = int(round(f["hr_bpm"])) if np.isfinite(f["hr_bpm"]) else int(round(s["heart_rate_bpm"]))
    rr_ms = int(round(60000.0 / rate))
    qt = int(round(1000.0 * info["qtc_s"] * np.sqrt(rr_ms / 1000.0)))
    af = s["rhythm"] == "af"
    return {
        "rate": rate, "atrial_rate": 0 if af else rate, "pr": 0 if af else int(round(info["pr_s"] * 1000)),
        "qrs": int(round(f["qrs_ms"])) if np.isfinite(f["qrs_ms"]) else int(round(info["qrs_ms"])),
        "qt": qt, "qtc": int(round(info["qtc_s"] * 1000)), "rr": rr_ms,
        "p_axis": 0 if af else 50, "r_axis": int(round(info["qrs_axis_deg"] + 20)), "t_axis": 40,
        "qrs_count": int(r_peaks(ecg, fs).size),
    }


def _median(ecg, fs):
    peaks = r_peaks(ecg, fs)
    mb, pre = median_beat(ecg, fs, peaks)
    if mb is None:
        return None
    out = np.zeros((12, int(1.2 * fs)))
    start = int(0.4 * fs) - pre          # R peak at 0.4 s in a 1.2 s median window
    n = min(mb.shape[1], out.shape[1] - start)
    out[:, start:start + n] = mb[:, :n]
    return out


def _conditions(s):
    names = []
    if s["cad"]:
        names.append("CAD" + (f" with prior MI ({s['mi_territory'].upper()})" if s["prior_mi"] else ""))
    if s["heart_failure"]:
        names.append("heart failure")
    if s["cm_subtype"] != "none":
        names.append(s["cm_subtype"].upper())
    if s["pulmonary_hypertension"]:
        names.append("pulmonary hypertension" + {"precap": " (pre-capillary)",
                                                 "postcap": " (post-capillary, left heart disease)"}
                     .get(s.get("ph_group"), ""))
    if s["pericarditis"]:
        names.append("acute pericarditis" if s.get("pericarditis_acute") else "previous pericarditis")
    if s["effusion"]:
        names.append("pericardial effusion")
    if s["atrial_fibrillation"]:
        names.append("atrial fibrillation" + ("" if s["rhythm"] == "af" else " (paroxysmal, sinus today)"))
    if s["bbb"] != "none":
        names.append(s["bbb"].upper())
    return names or ["none"]


def _statements(s):
    out = ["SYNTHETIC ECG - ecg2cmr synthetic cohort - not a real patient"]
    out.append("Atrial fibrillation" if s["rhythm"] == "af" else "Sinus rhythm")
    if s["bbb"] == "lbbb":
        out.append("Left bundle branch block")
    if s["bbb"] == "rbbb":
        out.append("Right bundle branch block")
    return out


def write_patient(folder: Path, s: dict, fmt: str, condition: str) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(int(s["seed"]))
    ecg = render_ecg(s, rng, fs=FS, seconds=10).astype(np.float64)
    sax, p_sax = render_cine(s, "sax", CINE_FRAMES, rng, return_pose=True)
    lax, p_lax = render_cine(s, "lax", CINE_FRAMES, rng, return_pose=True)
    med = _median(ecg, FS)
    meas = _measurements(s, ecg, FS)
    comments = [f"synthetic=true generator={GENERATOR_VERSION}", f"subject={s['subject_id']}",
                f"age={s['age']:.0f} sex={s['sex']}", "conditions=" + "; ".join(_conditions(s))]
    if fmt == "wfdb":
        files = writers.write_wfdb(folder / "ecg", ecg, FS, comments)
    elif fmt == "csv":
        files = [writers.write_csv(folder / "ecg.csv", ecg, FS, comments)]
    elif fmt == "aecg":
        files = [writers.write_aecg(folder / "ecg-aecg.xml", ecg, FS, s, med)]
    elif fmt == "dicom":
        files = [writers.write_dicom(folder / "ecg.dcm", ecg, FS, s, med)]
    elif fmt == "muse":
        files = [writers.write_muse(folder / "ecg-muse.xml", ecg, FS, s, meas, med, _statements(s))]
    elif fmt == "ukb":
        files = [writers.write_ukb(folder / "ecg-ukb.xml", ecg, FS, s, meas, med)]
    else:
        raise ValueError(f"unknown ECG format {fmt!r}")
    np.save(folder / "sax.npy", sax)
    np.save(folder / "lax.npy", lax)
    truth = {
        "synthetic": True,
        "note": "Synthetic demonstration patient from the ecg2cmr synthetic cohort; not a real person.",
        "generator_version": GENERATOR_VERSION,
        "condition": condition,
        "conditions": _conditions(s),
        "ecg": {"files": [p.name for p in files], "format": FORMAT_NAMES[fmt],
                "sampling_rate_hz": FS, "seconds": 10, "leads": list(LEAD_NAMES),
                "note": "MUSE stores 8 leads (I, II, V1-V6); III, aVR, aVL, aVF are derived"
                if fmt == "muse" else ""},
        "cine": {"sax": {"file": "sax.npy", "shape": list(sax.shape), "dtype": "uint8"},
                 "lax": {"file": "lax.npy", "shape": list(lax.shape), "dtype": "uint8"},
                 "phases": f"frame k is cardiac phase k/{CINE_FRAMES}; k = 0 is end-diastole",
                 "views": "sax = mid-ventricular short axis 80x80; lax = 4-chamber 96x96",
                 "pose": {"columns": ["pixel_mm", "angle_rad", "shift_x_px", "shift_y_px"],
                          "sax": [round(float(x), 6) for x in p_sax],
                          "lax": [round(float(x), 6) for x in p_lax],
                          "convention": "as pose.npy in docs/synthetic-cohort.md"}},
        "labels": {k: s[k] for k in LABEL_KEYS},
        "subject": {k: s[k] for k in COLUMNS if k != "split"},
    }
    (folder / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    return truth


def generate(out: Path) -> list[tuple[str, str, str, dict]]:
    out = Path(out)
    pool = sample_subjects(POOL_SIZE, POOL_SEED)
    rows = [subject_row(pool, i) for i in range(POOL_SIZE)]
    used = set()
    made = []
    for folder, condition, fmt, pred in PATIENTS:
        idx = next((i for i, s in enumerate(rows) if i not in used and pred(s)), None)
        if idx is None:
            raise RuntimeError(f"sample_data: no subject in the pool matches {folder}")
        used.add(idx)
        target = out / folder
        if target.exists():
            shutil.rmtree(target)
        truth = write_patient(target, rows[idx], fmt, condition)
        made.append((folder, condition, fmt, truth))
    _write_readme(out, made)
    return made


def _write_readme(out: Path, made):
    lines = [
        "# Sample data — synthetic demo patients",
        "",
        "**Every patient here is synthetic** (ecg2cmr synthetic cohort, "
        f"`{GENERATOR_VERSION}`): a hidden cardiac state drives both the ECG and the cine CMR. "
        "None of it comes from a real person. See `docs/synthetic-cohort.md` for the model.",
        "",
        "Regenerate everything (deterministic) from the repository root:",
        "",
        "```",
        "PYTHONPATH=training python -m cohort.sample_data --out sample-data",
        "```",
        "",
        "Each folder holds the 10 s, 500 Hz 12-lead ECG in one real file format, `truth.json` "
        "(labels, phenotypes, tissue markers, marked `\"synthetic\": true`) and the ground-truth "
        f"cines `sax.npy` (uint8 [{CINE_FRAMES}, 80, 80], mid-ventricular short axis) and `lax.npy` "
        f"(uint8 [{CINE_FRAMES}, 96, 96], 4-chamber), frame k at cardiac phase k/{CINE_FRAMES} "
        "(k = 0 end-diastole).",
        "",
        "| patient | condition | ECG file | format | LV EF % | LV mass g | all conditions |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for folder, condition, fmt, t in made:
        s = t["subject"]
        lines.append(f"| `{folder}` | {condition} | `{t['ecg']['files'][0]}` | {FORMAT_NAMES[fmt]} "
                     f"| {s['lv_ef_pct']:.0f} | {s['lv_mass_g']:.0f} | {', '.join(t['conditions'])} |")
    lines += ["", "Format notes:", "",
              "- WFDB: `ecg.hea` + `ecg.dat`, written by `wfdb.wrsamp` (format 16, gain 1000 adu/mV).",
              "- HL7 aECG: rhythm series with 12 `SLIST_PQ` sequences (origin 0 µV, scale 2.5 µV) "
              "and a representative-beat derived series.",
              "- DICOM: 12-Lead ECG Waveform Storage, explicit VR little endian; RHYTHM and "
              "MEDIAN BEAT multiplex groups, channel sensitivity 2.5 µV, baseline 0.",
              "- GE MUSE: 8 stored leads (I, II, V1–V6) as base64 little-endian int16 at 4.88 µV per "
              "bit with CRC32 per lead; readers derive III, aVR, aVL, aVF.",
              "- UK Biobank: CardioSoft `CardiologyXML`, `StripData` comma-separated counts at "
              "5 µV per LSB, median beats under `RestingECGMeasurements/MedianSamples`.",
              "- CSV: `# sampling_rate=500`, `# units=mV` header comments, then a header row of lead "
              "names and one row per sample.", ""]
    (out / "README.md").write_text("\n".join(lines))


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m cohort.sample_data", description=__doc__)
    p.add_argument("--out", type=Path, default=Path("sample-data"))
    a = p.parse_args(argv)
    made = generate(a.out)
    for folder, condition, fmt, _ in made:
        print(f"{folder:32s} {FORMAT_NAMES[fmt]:32s} {condition}")


if __name__ == "__main__":
    main()
