"""Benchmark: export of one case with `ecg2cmr export` against a Pillow peer in the same run.

The case: SAX + LAX cines of 50 frames upscaled to 256×256, 50 montages, contact sheet, animated
preview, ECG sheet with Grad-CAM, manifest — every file fsync'd. The peer writes the same image set
(same float frames, bicubic upscaling, PNG encoding at zlib level 6, plus contact sheet and APNG)
with Pillow + numpy, without the ECG sheet and without fsync, so the ratio favours the peer.

    python3 benchmarks/export/bench_export.py --bin .build/release/ecg2cmr \
        --model assets/models/demo-v1 --record tests/records/cinc2021/E07500.hea

Prints a table and writes benchmarks/export/results.json. Best of --repeats runs each.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent


def run_export(binary, model, record, out, extra=()):
    cmd = [binary, "export", record, "--out", out, "--model", model, "--size", "256", *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}")
    stages = {k: float(v) for k, v in re.findall(r"(model|generate|files) ([0-9.]+) s", proc.stdout)}
    return wall, stages


def pillow_peer(sax, lax, out: Path):
    """Same image set as ecg2cmr's frames, montages, contact sheet and preview, written with Pillow."""
    out.mkdir(parents=True, exist_ok=True)
    for d in ("sax", "lax", "montage"):
        (out / d).mkdir(exist_ok=True)

    def to_img(frame, size):
        im = Image.fromarray(np.clip(frame * 255 + 0.5, 0, 255).astype(np.uint8), "L")
        return im.resize((size, size), Image.BICUBIC)

    n = len(sax)
    for k in range(n):
        a, b = to_img(sax[k], 256), to_img(lax[k], 256)
        a.save(out / f"sax/frame_{k:03d}.png", compress_level=6)
        b.save(out / f"lax/frame_{k:03d}.png", compress_level=6)
        m = Image.new("L", (516, 256))
        m.paste(a, (0, 0)); m.paste(b, (260, 0))
        m.save(out / f"montage/frame_{k:03d}.png", compress_level=6)
    sheet = Image.new("RGB", (1036, 1204), (24, 24, 24))
    for i, loop in enumerate((sax, lax)):
        for k in range(n):
            sheet.paste(to_img(loop[k], 96).convert("RGB"), (11 + (k % 10) * 102, 49 + i * 588 + (k // 10) * 114))
    sheet.save(out / "contact-sheet.png", compress_level=6)
    frames = []
    for k in range(n):
        m = Image.new("L", (260, 128))
        m.paste(to_img(sax[k], 128), (0, 0)); m.paste(to_img(lax[k], 128), (132, 0))
        frames.append(m)
    frames[0].save(out / "preview.png", save_all=True, append_images=frames[1:], duration=20, loop=0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--record", required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(HERE / "results.json"))
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-export-"))
    try:
        # Float frames for the peer (same model, seed and record).
        wall, _ = run_export(args.bin, args.model, args.record, str(work / "frames"), ["--save-float-frames"])
        case = next(p for p in (work / "frames").iterdir() if not p.name.startswith("."))
        sax, lax = np.load(case / "sax/frames.npy"), np.load(case / "lax/frames.npy")

        runs = []
        for i in range(args.repeats):
            wall, stages = run_export(args.bin, args.model, args.record, str(work / f"run{i}"))
            runs.append({"wall": wall, **stages})
        peer = []
        for i in range(args.repeats):
            t0 = time.perf_counter()
            pillow_peer(sax, lax, work / f"peer{i}")
            peer.append(time.perf_counter() - t0)

        best = min(runs, key=lambda r: r["wall"])
        result = {
            "case": f"{len(sax)}+{len(lax)} frames, SAX {sax.shape[1]}x{sax.shape[2]}, LAX {lax.shape[1]}x{lax.shape[2]} -> 256x256",
            "model": args.model,
            "record": args.record,
            "repeats": args.repeats,
            "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "unset"),
            "ecg2cmr_wall_seconds": round(best["wall"], 3),
            "ecg2cmr_stage_seconds": {k: round(best[k], 3) for k in ("model", "generate", "files") if k in best},
            "pillow_peer_seconds": round(min(peer), 3),
            "files_stage_vs_pillow": round(best.get("files", float("nan")) / min(peer), 2),
            "budget_seconds": 3.0,
        }
        print(json.dumps(result, indent=2))
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
