"""Independent checks of `ecg2cmr export` output: Pillow and pngcheck decode every PNG, pixels
equal the generator's float frames after the scaling rule of docs/export.md (re-implemented here
in numpy), same seed → identical bytes, the manifest alone regenerates the export, and a
kill -9 in the middle of a long export never leaves a corrupt file under a final name.

Needs the built `ecg2cmr` binary ($ECG2CMR_BIN, else .build*/{debug,release}/ecg2cmr) — the
repository's test script builds it before running pytest.
"""
from __future__ import annotations

import hashlib
import json
import re
import math
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from ecg2cmr_binary import find_ecg2cmr
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "Tests/CMRExportTests/Fixtures/bundle-tiny"
RECORDS = REPO / "tests/records/cinc2021"  # real records committed with their licences
NOTICE = "synthetic image generated from ECG — not an acquired MRI"


def _binary() -> Path:
    found = find_ecg2cmr()
    if found is None:
        pytest.skip("ecg2cmr is not built (swift build) and ECG2CMR_BIN is not set")
    return found


def _export(out: Path, files, *extra, check=True):
    cmd = [str(_binary()), "export", *map(str, files), "--out", str(out), "--model", str(BUNDLE), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def _record(name="E07500") -> Path:
    return RECORDS / f"{name}.hea"


# ---- the scaling rule (docs/export.md), written independently of the Swift code ----

RADIUS = {"nearest": 0.5, "bilinear": 1.0, "bicubic": 2.0, "lanczos3": 3.0}


def _kernel(name, x):
    ax = abs(x)
    if name == "bilinear":
        return 1 - ax if ax < 1 else 0.0
    if name == "bicubic":
        a = -0.5
        if ax < 1:
            return ((a + 2) * ax - (a + 3)) * ax * ax + 1
        if ax < 2:
            return ((a * ax - 5 * a) * ax + 8 * a) * ax - 4 * a
        return 0.0
    if name == "lanczos3":
        if ax == 0:
            return 1.0
        if ax >= 3:
            return 0.0
        px = math.pi * ax
        return 3 * math.sin(px) * math.sin(px / 3) / (px * px)
    raise ValueError(name)


def _taps(src, dst, name):
    ratio = src / dst
    out = []
    for i in range(dst):
        if name == "nearest":
            out.append([(min(int(math.floor((i + 0.5) * ratio)), src - 1), 1.0)])
            continue
        stretch = max(1.0, ratio)
        support = RADIUS[name] * stretch
        centre = (i + 0.5) * ratio - 0.5
        lo, hi = math.ceil(centre - support), math.floor(centre + support)
        js = list(range(lo, max(lo, hi) + 1))
        w = [_kernel(name, (j - centre) / stretch) for j in js]
        total = 0.0
        for v in w:
            total += v
        if total != 0:
            w = [v / total for v in w]
        out.append([(min(max(j, 0), src - 1), v) for j, v in zip(js, w)])
    return out


def scale_frame(frame: np.ndarray, size: int, name: str) -> np.ndarray:
    h, w = frame.shape
    f = frame.astype(np.float64)
    tmp = np.zeros((h, size))
    for x, taps in enumerate(_taps(w, size, name)):
        acc = np.zeros(h)
        for j, wt in taps:
            acc = acc + wt * f[:, j]
        tmp[:, x] = acc
    out = np.zeros((size, size))
    for y, taps in enumerate(_taps(h, size, name)):
        acc = np.zeros(size)
        for j, wt in taps:
            acc = acc + wt * tmp[j, :]
        out[y, :] = acc
    return np.floor(np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


def _case(out: Path, stem: str = "E07500") -> Path:
    """The case folder of input `stem`: CaseExporter.caseName appends 8 hex digits of the input's SHA-256."""
    found = [p for p in out.glob(f"{stem}-*") if re.fullmatch(rf"{re.escape(stem)}-[0-9a-f]{{8}}", p.name)]
    assert len(found) == 1, f"expected one case folder for {stem} in {out}: {sorted(p.name for p in out.iterdir())}"
    return found[0]


# ---- tests ----

@pytest.mark.parametrize("filt", ["nearest", "bilinear", "bicubic", "lanczos3"])
def test_pixels_equal_generator_frames_after_scaling(tmp_path, filt):
    _export(tmp_path, [_record()], "--size", "64", "--filter", filt, "--save-float-frames", "--seed", "4", "--frame-count", "6")
    case = _case(tmp_path)
    manifest = json.loads((case / "manifest.json").read_text())
    assert manifest["scaling"]["filter"] == filt
    for view in ("sax", "lax"):
        frames = np.load(case / view / "frames.npy")
        assert frames.dtype == np.float32 and frames.ndim == 3
        assert len(frames) == manifest["phases"]["frameCount"]
        for k in (0, len(frames) // 2, len(frames) - 1):
            img = Image.open(case / view / f"frame_{k:03d}.png")
            assert img.mode == "L" and img.size == (64, 64)
            expected = scale_frame(frames[k], 64, filt)
            got = np.asarray(img)
            # The burned-in "GENERATED" label (Imaging/GeneratedImageLabel.swift): a black box with
            # white two-level text in the top-left corner; every other pixel is the scaled frame.
            rows, cols = np.nonzero(got != expected)
            assert len(rows) > 0, "no burned-in label"
            h, w = rows.max() + 1, cols.max() + 1
            assert rows.min() == 0 and cols.min() == 0 and h <= 16 and w <= 64, (h, w)
            box = got[:h, :w]
            assert set(np.unique(box)) == {0, 255}, np.unique(box)
            outside = np.ones_like(got, dtype=bool)
            outside[:h, :w] = False
            np.testing.assert_array_equal(got[outside], expected[outside])


def test_every_png_passes_pngcheck_and_pillow_and_carries_the_notice(tmp_path):
    _export(tmp_path, [_record()], "--size", "32")
    case = _case(tmp_path)
    pngs = sorted(case.rglob("*.png"))
    assert len(pngs) == 3 * 20 + 3
    if shutil.which("pngcheck"):
        proc = subprocess.run(["pngcheck", "-q", *map(str, pngs)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    for p in pngs:
        with Image.open(p) as im:
            im.load()
            assert "Model" in im.text and im.text["Model"].startswith("random-tiny")
            assert not any(k.startswith("Patient") for k in im.text)
            if p.name != "ecg.png":
                assert im.text["Disclaimer"] == NOTICE
    with Image.open(case / "preview.png") as im:
        assert im.is_animated and im.n_frames == 20
    with Image.open(case / "ecg.png") as im:
        assert im.mode == "RGB" and im.size == (270 * 5, 164 * 5)   # 5 px/mm paper
    manifest = json.loads((case / "manifest.json").read_text())
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    assert set(listed) == {str(p.relative_to(case)) for p in pngs}
    for path, sha in listed.items():
        assert hashlib.sha256((case / path).read_bytes()).hexdigest() == sha


def test_same_seed_is_byte_identical_and_manifest_regenerates(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    _export(a, [_record()], "--seed", "9", "--size", "40")
    _export(b, [_record()], "--seed", "9", "--size", "40")
    # The manifest alone: no FILE, no options on the command line.
    proc = subprocess.run([str(_binary()), "export", "--from-manifest", str(_case(a) / "manifest.json"), "--out", str(c)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files_a = sorted(p.relative_to(a) for p in a.rglob("*.png"))
    assert files_a and files_a == sorted(p.relative_to(b) for p in b.rglob("*.png"))
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
        assert (a / rel).read_bytes() == (c / rel).read_bytes(), rel


def test_failed_files_are_reported_and_counted_in_the_exit_status(tmp_path):
    bad = tmp_path / "broken.csv"
    bad.write_text("not,an\necg,file\n")
    proc = _export(tmp_path / "out", [bad, _record(), tmp_path / "missing.hea"], "--size", "32", check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "broken.csv" in proc.stderr and "missing.hea" in proc.stderr
    assert (_case(tmp_path / "out") / "manifest.json").exists()


def test_kill_during_long_export_then_rerun_completes_everything(tmp_path):
    records = sorted(RECORDS.glob("*.hea"))[:8]
    if len(records) < 6:
        pytest.skip("needs the cinc2021 records")
    out = tmp_path / "out"
    cmd = [str(_binary()), "export", *map(str, records), "--out", str(out), "--model", str(BUNDLE), "--size", "96"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Kill while a case is being written: wait for one finished case and a staging folder.
        deadline = time.time() + 300
        while time.time() < deadline:
            names = os.listdir(out) if out.exists() else []
            if any(not n.startswith(".") for n in names) and any(".partial-" in n for n in names):
                break
            if proc.poll() is not None:
                break
            time.sleep(0.02)
        killed_mid_case = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert killed_mid_case, "export finished before it could be killed"

    def final_cases():
        return sorted(p for p in out.iterdir() if not p.name.startswith("."))

    # Every case under a final name is complete and every file in it decodes.
    done_before = final_cases()
    assert 0 < len(done_before) < len(records)
    for case in done_before:
        manifest = json.loads((case / "manifest.json").read_text())
        for f in manifest["files"]:
            data = (case / f["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == f["sha256"]
        for p in case.rglob("*.png"):
            with Image.open(p) as im:
                im.load()

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert rerun.stdout.count("skip ") == len(done_before)
    assert [c.name.rsplit("-", 1)[0] for c in final_cases()] == sorted(r.stem for r in records)
    assert not [n for n in os.listdir(out) if n.startswith(".") and n != ".ecg2cmr-export.lock"], "staging folders left behind"
    for case in final_cases():
        manifest = json.loads((case / "manifest.json").read_text())
        for f in manifest["files"]:
            assert hashlib.sha256((case / f["path"]).read_bytes()).hexdigest() == f["sha256"]
