"""Real-format paired dataset, end to end: UK Biobank-style CardioSoft XML ECGs, SAX cines as DICOM
series (one MR file per frame), LAX cines as NIfTI, a CSV manifest → `ecg2cmr prepare` (the Swift
readers + the bundle's preprocessing) → realdata.train (pydicom / nibabel, heart crop) → a bundle
that the Swift engine loads and runs (`ecg2cmr screen --model`), with the engine's phenotype equal
to the PyTorch model's on the cached input.

Needs the built `ecg2cmr` ($ECG2CMR_BIN, else .build*/{debug,release}/ecg2cmr); skipped otherwise.
The subjects come from the synthetic cohort and the bundle says `synthetic: true`.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ecg2cmr_binary import find_ecg2cmr

TRAINING = Path(__file__).resolve().parents[1]
REPO = TRAINING.parent
sys.path.insert(0, str(TRAINING))


def _binary() -> Path:
    found = find_ecg2cmr()
    if found is None:
        pytest.skip("ecg2cmr is not built (swift build) and ECG2CMR_BIN is not set")
    return found


def write_mr_series(folder: Path, cine: np.ndarray, subject: str, pixel_mm: float) -> None:
    """One MR Image Storage file per frame, as a scanner exports a single-slice cine."""
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid
    folder.mkdir(parents=True, exist_ok=True)
    series = generate_uid()
    # Written in reverse order with shuffled names: the reader must sort by TriggerTime.
    for k in reversed(range(cine.shape[0])):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"IM{(k * 7) % cine.shape[0]:04d}_{k}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.PatientID, ds.SeriesInstanceUID = "MR", subject, series
        ds.SeriesDescription = "CINE_segmented_SAX (synthetic)"
        ds.InstanceNumber, ds.TriggerTime, ds.SliceLocation = k + 1, 40.0 * k, 0.0
        ds.Rows, ds.Columns = cine.shape[1:]
        ds.PixelSpacing = [pixel_mm, pixel_mm]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelData = (cine[k].astype(np.uint16) * 8).tobytes()
        ds.save_as(ds.filename, enforce_file_format=True)


def test_real_format_dataset_trains_a_bundle_the_engine_runs(tmp_path):
    import nibabel as nib
    from cohort.build import build
    from cohort.writers import write_ukb
    from ecg2cmr_train import data as D
    from ecg2cmr_train import realdata
    binary = _binary()
    build(24, tmp_path / "cohort", seed=11, cine_frames=6, workers=1, log=lambda *a, **k: None)
    cohort = D.Cohort(tmp_path / "cohort")
    targets = D.Targets(cohort)
    ds = tmp_path / "dataset"
    lines = ["subject,ecg,sax,lax,split,label:cad,label:heart_failure,phenotype:lv_ef,phenotype:lv_edv"]
    ef, edv = D.phenotype_index("lv_ef"), D.phenotype_index("lv_edv")
    (ds / "ecg").mkdir(parents=True)
    for r in range(cohort.n):
        sid = f"10{r:05d}"
        ecg = cohort.ecg_mv([r])[0]
        subject = {"subject_id": sid, "age": 60, "sex": "F", "height_cm": 165, "weight_kg": 70}
        meas = {"rate": 70, "pr": 160, "qrs": 90, "qt": 400, "qtc": 420, "rr": 857, "p_axis": 50, "r_axis": 40,
                "t_axis": 40}
        write_ukb(ds / "ecg" / f"{sid}_20205_2_0.xml", ecg, int(cohort.rate), subject, meas)
        write_mr_series(ds / "cmr" / sid / "sa", np.asarray(cohort.sax[r]), sid, 1.5)
        lax = np.asarray(cohort.lax[r], dtype=np.int16)
        (ds / "cmr" / sid).mkdir(parents=True, exist_ok=True)                      # [F, H, W] → NIfTI (x, y, t)
        nib.save(nib.Nifti1Image(np.transpose(lax, (2, 1, 0)), np.eye(4)), str(ds / "cmr" / sid / "la_4ch.nii.gz"))
        split = "train" if r < 16 else ("val" if r < 20 else "test")
        cad = "" if r == 3 else str(int(targets.risk[r, 0]))                 # one unknown label
        # The last subject has no CMR visit (ECG-only rows train the heads, not the alignment).
        sax, lax_path = ("", "") if r == cohort.n - 1 else (f"cmr/{sid}/sa", f"cmr/{sid}/la_4ch.nii.gz")
        lines.append(f"{sid},ecg/{sid}_20205_2_0.xml,{sax},{lax_path},{split},{cad},"
                     f"{int(targets.risk[r, 1])},{targets.phenotype[r, ef]:.2f},{targets.phenotype[r, edv]:.1f}")
    (ds / "dataset.csv").write_text("\n".join(lines) + "\n")

    cache = tmp_path / "cache"
    model = REPO / "assets" / "models" / "demo-v2"
    r = subprocess.run([str(binary), "prepare", str(ds / "dataset.csv"), "--model", str(model), "--out", str(cache)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "prepared 24 of 24 subjects" in r.stdout
    index = json.loads((cache / "index.json").read_text())
    first = index["subjects"][0]
    assert first["ecg"]["file"] == str(ds / "ecg" / f"{first['subject']}_20205_2_0.xml")
    assert first["ecg"]["sha256"] == hashlib.sha256(Path(first["ecg"]["file"]).read_bytes()).hexdigest()
    assert first["ecg"]["npySHA256"] == hashlib.sha256((cache / first["ecg"]["npy"]).read_bytes()).hexdigest()
    # The bundle's ops as the engine decoded them (defaults written out, e.g. cropOrPad's align).
    shipped = json.loads((model / "manifest.json").read_text())["input"]["preprocessing"]
    assert [{**op, **{k: v for k, v in op.items()}} for op in shipped] == \
        [{k: v for k, v in op.items() if k in shipped[i]} for i, op in enumerate(index["input"]["preprocessing"])]
    assert index["subjects"][3]["labels"]["cad"] is None and index["subjects"][-1]["sax"] is None

    # Training sees what inference sees: the cached input is the engine's own preprocessing of the
    # XML, which the Python twin reproduces from the same counts.
    from ecg2cmr_train.preprocess import preprocess
    x = np.load(cache / first["ecg"]["npy"])
    twin = preprocess(cohort.ecg_mv([0])[0], cohort.rate, index["input"]["preprocessing"])[0]
    assert x.shape == twin.shape and np.abs(x - twin).max() < 0.02     # 5 µV CardioSoft quantisation

    bundle = tmp_path / "bundle"
    cfg = {"bundle_id": "real-format-test", "synthetic": True,
           "disclaimer": "Trained on synthetic subjects written in real formats. Test only.",
           "encoder": {"width": 16, "depth": 1, "heads": 2, "proj_dim": 8},
           "cmr": {"size": 32, "frames": 6, "encoder_channels": [4, 4, 4]},
           "train": {"steps": 12, "batch": 8}}
    manifest = realdata.train(cache, bundle, cfg, device="cpu")
    # Two gloo ranks under torchrun, same global batch: the same weights.
    (tmp_path / "real.json").write_text(json.dumps(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    d = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "ecg2cmr_train.realdata", "--cache", str(cache), "--out", str(tmp_path / "bundle2"),
                        "--config", str(tmp_path / "real.json"), "--device", "cpu"],
                       cwd=TRAINING, env=env, capture_output=True, text=True, timeout=600)
    assert d.returncode == 0, d.stdout[-3000:] + d.stderr[-3000:]
    from safetensors.numpy import load_file
    one, two = load_file(str(bundle / "model.safetensors")), load_file(str(tmp_path / "bundle2" / "model.safetensors"))
    assert one.keys() == two.keys()
    rel = {k: float(np.abs(one[k] - two[k]).max() / max(np.abs(one[k]).max(), 1e-3)) for k in one}
    worst = max(rel, key=rel.get)
    print(f"realdata, 2 ranks vs 1 process: max relative weight difference {rel[worst]:.1e} ({worst})")
    # Float summation order differs (gathered batch, per-rank sums); Adam divides by √v, so weights
    # whose true gradient is zero — the attention key bias (softmax ignores a constant per query)
    # — carry that rounding as ~1e-4 after 12 steps. A wrong loss scaling moves weights by ~1e-2.
    assert rel[worst] < 5e-4
    assert [h["name"] for h in manifest["heads"]] == ["risk", "phenotype"]
    ph = manifest["heads"][1]["outputs"]
    assert ph[0]["id"] == "lv_ef" and 30 < ph[0]["mean"] < 80 and ph[0]["std"] > 0
    assert manifest["training"]["withCMR"] == 23 and manifest["synthetic"] is True

    out = tmp_path / "screen.jsonl"
    s = subprocess.run([str(binary), "screen", str(ds / "ecg"), "--model", str(bundle), "--out", str(out), "--plain"],
                       capture_output=True, text=True, timeout=600)
    assert s.returncode == 0, s.stdout + s.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    assert len(rows) == 24 and all(row["status"] == "ok" for row in rows), rows[:2]
    assert all(row["modelID"] == "real-format-test" and row["syntheticModel"] is True for row in rows)
    # The engine's phenotype for a training ECG equals the PyTorch model's on the cached input.
    from ecg2cmr_train.bundle import load_bundle
    from ecg2cmr_train.beats import beat_features
    import torch
    enc, _, _ = load_bundle(bundle)
    f = beat_features(x, index["input"]["leads"], float(index["input"]["samplingRate"]), manifest["encoder"]["beats"])
    with torch.no_grad():
        o = enc({"beats": torch.from_numpy(f["median_beat"][None].astype(np.float32)),
                 "rhythm": torch.from_numpy(f["rhythm"][None].astype(np.float32))})
    py_ef = float(o["heads"]["phenotype"][0, 0]) * ph[0]["std"] + ph[0]["mean"]
    row = next(row for row in rows if row["file"].endswith(f"{first['subject']}_20205_2_0.xml"))
    swift_ef = row["phenotypes"]["lv_ef"]["value"]
    print(f"LV EF of {first['subject']}: engine {swift_ef:.4f}, PyTorch on the cached input {py_ef:.4f}")
    assert abs(swift_ef - py_ef) < 1e-3 * max(1.0, abs(py_ef)), (swift_ef, py_ef)

