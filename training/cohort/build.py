"""Write a synthetic cohort to disk.

    python -m cohort.build --n 20000 --out data/cohort --seed 0 [--cine-frames 12] [--workers 2]

Writes subjects.csv, ecg_250hz.npy (int16 [N, 12, 2500], LSB in meta.json), sax.npy
(uint8 [N, F, 80, 80]), lax.npy (uint8 [N, F, 96, 96]), pose.npy (float32 [N, 2, 4]: per view
sax/lax the cine pose pixel_mm, angle_rad, shift_x_px, shift_y_px; see cohort.cmr.pose_grid),
meta.json, and finally an empty READY file that marks the build complete (it is removed when a new build starts).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from numpy.lib.format import open_memmap
from scipy.signal import resample_poly

from . import GENERATOR_VERSION, LEAD_NAMES
from .cmr import VIEW_SIZE, render_cine
from .ecg import render_ecg
from .state import COLUMNS, sample_subjects, write_csv

ECG_LSB_UV = 5.0
ECG_RATE_HZ = 250
ECG_SECONDS = 10
GEN_RATE_HZ = 500


def ecg_to_int16(ecg_mv_500: np.ndarray, lsb_uv: float = ECG_LSB_UV) -> np.ndarray:
    """500 Hz float mV → 250 Hz int16 counts of `lsb_uv` µV."""
    x = resample_poly(ecg_mv_500, 1, 2, axis=-1)
    counts = np.round(x * 1000.0 / lsb_uv)
    return np.clip(counts, -32767, 32767).astype(np.int16)


def render_subject(s: dict, cine_frames: int):
    """ECG (int16, 250 Hz), SAX and LAX cines and their poses [2, 4] for one subject, from its
    own seed."""
    rng = np.random.default_rng(int(s["seed"]))
    ecg = ecg_to_int16(render_ecg(s, rng, fs=GEN_RATE_HZ, seconds=ECG_SECONDS))
    sax, p_sax = render_cine(s, "sax", cine_frames, rng, return_pose=True)
    lax, p_lax = render_cine(s, "lax", cine_frames, rng, return_pose=True)
    return ecg, sax, lax, np.stack([p_sax, p_lax]).astype(np.float32)


def _work(job):
    cpu0 = time.process_time()
    out, rows, start, frames = job
    ecg_mm = np.load(out / "ecg_250hz.npy", mmap_mode="r+")
    sax_mm = np.load(out / "sax.npy", mmap_mode="r+")
    lax_mm = np.load(out / "lax.npy", mmap_mode="r+")
    pose_mm = np.load(out / "pose.npy", mmap_mode="r+")
    for j, s in enumerate(rows):
        e, sx, lx, po = render_subject(s, frames)
        ecg_mm[start + j] = e
        sax_mm[start + j] = sx
        lax_mm[start + j] = lx
        pose_mm[start + j] = po
    ecg_mm.flush(), sax_mm.flush(), lax_mm.flush(), pose_mm.flush()
    return len(rows), time.process_time() - cpu0


def _rendered_chunks(out: Path, n: int, chunk: int) -> set[int]:
    """Start rows of chunks whose every subject is already written (ECG and both cines non-zero)."""
    ecg = np.load(out / "ecg_250hz.npy", mmap_mode="r")
    sax = np.load(out / "sax.npy", mmap_mode="r")
    lax = np.load(out / "lax.npy", mmap_mode="r")
    done = set()
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        ok = ((np.abs(np.asarray(ecg[a:b])).reshape(b - a, -1).max(1) > 0)
              & (np.asarray(sax[a:b, 0]).reshape(b - a, -1).max(1) > 0)
              & (np.asarray(lax[a:b, 0]).reshape(b - a, -1).max(1) > 0))
        if ok.all():
            done.add(a)
    return done


def build(n: int, out: Path, seed: int, cine_frames: int = 12, workers: int = 2,
          chunk: int = 100, log=print, resume: bool = False) -> dict:
    t0 = time.time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ready = out / "READY"
    if ready.exists():
        ready.unlink()
    cohort = sample_subjects(n, seed)
    n_samples = ECG_RATE_HZ * ECG_SECONDS
    shapes = (
        ("ecg_250hz.npy", (n, 12, n_samples), np.int16),
        ("sax.npy", (n, cine_frames, VIEW_SIZE["sax"], VIEW_SIZE["sax"]), np.uint8),
        ("lax.npy", (n, cine_frames, VIEW_SIZE["lax"], VIEW_SIZE["lax"]), np.uint8),
        ("pose.npy", (n, 2, 4), np.float32),
    )
    skip: set[int] = set()
    if resume:
        # A build cut off part-way keeps the rows it wrote, but only when it is the same cohort:
        # the same subjects table (n and seed) and arrays of the same shapes.
        csv_now = out / "subjects.csv.resume"
        write_csv(cohort, csv_now)
        same = ((out / "subjects.csv").exists()
                and (out / "subjects.csv").read_bytes() == csv_now.read_bytes()
                and all((out / name).exists() and np.load(out / name, mmap_mode="r").shape == shape
                        and np.load(out / name, mmap_mode="r").dtype == dtype
                        for name, shape, dtype in shapes))
        csv_now.unlink()
        if not same:
            raise SystemExit(f"cohort.build: --resume: {out} holds another cohort (n, seed or "
                             f"frames differ); build it afresh without --resume")
        skip = _rendered_chunks(out, n, chunk)
        log(f"cohort.build: resuming, {len(skip)} of {(n + chunk - 1) // chunk} chunks already written",
            flush=True)
    else:
        write_csv(cohort, out / "subjects.csv")
    for name, shape, dtype in (() if resume else shapes):
        mm = open_memmap(out / name, mode="w+", dtype=dtype, shape=shape)
        del mm
    rows = [{c: (cohort[c][i].item() if hasattr(cohort[c][i], "item") else cohort[c][i])
             for c in COLUMNS} for i in range(n)]
    jobs = [(out, rows[a:a + chunk], a, cine_frames) for a in range(0, n, chunk) if a not in skip]
    done = sum(min(chunk, n - a) for a in skip)
    cpu_s = 0.0
    workers = max(1, min(int(workers), 2))
    if workers == 1:
        results = map(_work, jobs)
        pool = None
    else:
        pool = get_context("fork").Pool(workers)
        results = pool.imap_unordered(_work, jobs)
    try:
        for k, cpu in results:
            done += k
            cpu_s += cpu
            if done % max(chunk * 10, 1) < chunk or done == n:
                el = time.time() - t0
                fresh = done - sum(min(chunk, n - a) for a in skip)
                log(f"cohort.build: {done}/{n} subjects, {el:.0f} s elapsed, "
                    f"~{el / max(fresh, 1) * (n - done):.0f} s to go", flush=True)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    wall = time.time() - t0
    meta = {
        "n": n, "seed": seed, "cine_frames": cine_frames, "ecg_lsb_uV": ECG_LSB_UV,
        "ecg_rate_hz": ECG_RATE_HZ, "ecg_seconds": ECG_SECONDS, "ecg_generated_rate_hz": GEN_RATE_HZ,
        "lead_order": list(LEAD_NAMES), "sax_size": VIEW_SIZE["sax"], "lax_size": VIEW_SIZE["lax"],
        "cine_phases": "k / cine_frames, k = 0 is end-diastole",
        "pose_columns": ["pixel_mm", "angle_rad", "shift_x_px", "shift_y_px"],
        "pose_views": ["sax", "lax"],
        "pose_convention": "stored pixel (i, j) shows heart-frame point u = cos(a)*x + sin(a)*y, "
                           "v = -sin(a)*x + cos(a)*y with x = (j - c - shift_x)*pixel_mm, "
                           "y = -(i - c - shift_y)*pixel_mm, c = (size - 1)/2 (cohort.cmr.pose_grid)",
        "generator_version": GENERATOR_VERSION, "workers": workers,
        "wall_time_s": round(wall, 1), "render_cpu_time_s": round(cpu_s, 1),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(), "synthetic": True,
        "splits": {s: int((cohort["split"] == s).sum()) for s in ("train", "val", "test")},
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    ready.write_text(f"{GENERATOR_VERSION} n={n} seed={seed} wall_time_s={wall:.1f}\n")
    return meta


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m cohort.build", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, required=True, help="number of subjects")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cine-frames", type=int, default=12, help="frames stored per cine")
    p.add_argument("--workers", type=int, default=2, help="processes (at most 2)")
    p.add_argument("--chunk", type=int, default=100, help="subjects per work unit")
    p.add_argument("--resume", action="store_true",
                   help="keep the subjects a cut-off build of the same cohort already wrote")
    a = p.parse_args(argv)
    if a.n < 1 or a.cine_frames < 1:
        p.error("--n and --cine-frames must be ≥ 1")
    meta = build(a.n, a.out, a.seed, a.cine_frames, a.workers, a.chunk, resume=a.resume)
    print(f"cohort.build: wrote {a.n} subjects to {a.out} in {meta['wall_time_s']} s",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    sys.exit(main())
