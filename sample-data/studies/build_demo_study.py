"""Writes demo-cardiomyopathy.json: a three-stage reader study over the synthetic sample patients.

Truth comes from each patient's truth.json (labels.cardiomyopathy, labels.cm_subtype), so the
definition never disagrees with the cohort. Run from the repository root:
    python sample-data/studies/build_demo_study.py
"""
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parent
SUBTYPES = {"dcm": "DCM", "hcm": "HCM", "rcm": "RCM"}
ECG_NAMES = ["ecg.hea", "ecg.csv", "ecg.dcm", "ecg-aecg.xml", "ecg-muse.xml", "ecg-ukb.xml"]


def main():
    cases = []
    for i, patient in enumerate(sorted(p for p in SAMPLES.iterdir() if (p / "truth.json").exists()), start=1):
        truth = json.loads((patient / "truth.json").read_text())
        ecg = next(n for n in ECG_NAMES if (patient / n).exists())
        labels = truth["labels"]
        case = {"id": f"C{i:02d}", "ecg": f"../{patient.name}/{ecg}", "realCMR": f"../{patient.name}",
                "truth": {"finding": bool(labels["cardiomyopathy"])}}
        if labels["cardiomyopathy"] and labels.get("cm_subtype") in SUBTYPES:
            case["truth"]["subtype"] = SUBTYPES[labels["cm_subtype"]]
        cases.append(case)
    definition = {
        "format": "ecg2cmr-study/1",
        "id": "demo-cardiomyopathy",
        "title": "Cardiomyopathy from the ECG (synthetic demo)",
        "seed": 20261123,
        "questions": {"finding": "Cardiomyopathy present?", "subtypes": ["DCM", "HCM", "RCM"], "note": True},
        "roles": ["junior", "senior"],
        "model": {"head": "risk", "output": "cardiomyopathy", "threshold": 0.5, "generatorSeed": 7},
        "stages": [
            {"id": "ecg-only", "title": "ECG only", "shows": ["traces"]},
            {"id": "ecg+generated-cmr", "title": "ECG + generated CMR", "shows": ["traces", "generated-cmr"],
             "washoutDays": 28},
            {"id": "ecg+real-cmr", "title": "ECG + real CMR", "shows": ["traces", "real-cmr"], "washoutDays": 28},
        ],
        "cases": cases,
    }
    (HERE / "demo-cardiomyopathy.json").write_text(json.dumps(definition, indent=2) + "\n")
    print(f"wrote {HERE / 'demo-cardiomyopathy.json'}: {len(cases)} cases, "
          f"{sum(c['truth']['finding'] for c in cases)} with cardiomyopathy")


if __name__ == "__main__":
    main()
