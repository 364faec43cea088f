#!/usr/bin/env python3
"""Batch-screening throughput: `ecg2cmr screen` on 1,000 sample ECGs, with a Python peer in the same run.

The folder holds copies of every sample-data ECG (all six formats) in 1,000 sub-folders. The Swift
binary screens all of them (read, quality checks, R-peaks, preprocessing, encoder + every head,
one durable JSON line each). The peer is the same work in Python for the WFDB files it can read:
wfdb-python `rdrecord` + the reference preprocessing + the PyTorch encoder with the same weights,
one ECG at a time, on the same thread count. Both rates are ECGs per second.

    python3 benchmarks/screening/run.py [--files 1000] [--threads 2]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))


def make_folder(dst: Path, count: int) -> int:
    sources = sorted(p for p in (ROOT / "sample-data").glob("*/ecg*") if p.suffix != ".dat")
    for i in range(count):
        src = sources[i % len(sources)]
        d = dst / f"{i:04d}"
        d.mkdir(parents=True)
        shutil.copy(src, d / src.name)
        if src.suffix == ".hea":
            shutil.copy(src.with_suffix(".dat"), d / (src.stem + ".dat"))
    return count


def python_peer(folder: Path, model: Path, threads: int, limit: int) -> tuple[int, float]:
    import numpy as np, torch, wfdb
    from ecg2cmr_train.bundle import load_bundle
    from ecg2cmr_train.preprocess import preprocess
    torch.set_num_threads(threads)
    encoder, _, manifest = load_bundle(model)
    ops, leads = manifest["input"]["preprocessing"], manifest["input"]["leads"]
    headers = sorted(folder.glob("*/*.hea"))[:limit]
    start = time.perf_counter()
    for h in headers:
        rec = wfdb.rdrecord(str(h.with_suffix("")))
        names = [n.upper() for n in rec.sig_name]
        x = np.stack([rec.p_signal[:, names.index(l.upper())] for l in leads]).astype(np.float32)
        y, _ = preprocess(x, rec.fs, ops)
        with torch.no_grad():
            encoder(torch.from_numpy(np.ascontiguousarray(y))[None])
    return len(headers), time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default=str(ROOT / "assets/models/demo-v1"))
    ap.add_argument("--bin", default=str(ROOT / ".build/release/ecg2cmr"))
    a = ap.parse_args()
    if not Path(a.bin).exists():
        subprocess.run(["swift", "build", "-c", "release", "--product", "ecg2cmr"], cwd=ROOT, check=True)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ecgs"
        n = make_folder(folder, a.files)
        out = Path(tmp) / "results.jsonl"
        t0 = time.perf_counter()
        subprocess.run([a.bin, "screen", str(folder), "--out", str(out), "--model", a.model,
                        "--jobs", str(a.threads), "--plain"], env=env, check=True, stderr=subprocess.DEVNULL)
        swift_s = time.perf_counter() - t0
        rows = [json.loads(l) for l in out.read_text().splitlines()]
        ok = sum(r["status"] == "ok" for r in rows)
        peer_n, peer_s = python_peer(folder, Path(a.model), a.threads, limit=200)
        # Like for like: the same WFDB records through `ecg2cmr screen` (which also does quality
        # flags, R-peaks and a durable JSON line per file, which the peer does not).
        wfdb_dir = Path(tmp) / "wfdb-only"
        for h in sorted(folder.glob("*/*.hea"))[:peer_n]:
            d = wfdb_dir / h.parent.name
            d.mkdir(parents=True)
            for f in (h, h.with_suffix(".dat")):
                shutil.copy(f, d / f.name)
        t0 = time.perf_counter()
        subprocess.run([a.bin, "screen", str(wfdb_dir), "--out", str(Path(tmp) / "wfdb.jsonl"), "--model", a.model,
                        "--jobs", str(a.threads), "--plain"], env=env, check=True, stderr=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL)
        swift_wfdb_s = time.perf_counter() - t0
        # Per format: `ecg2cmr screen` on the sub-folders holding each format (where time goes).
        per_format = {}
        for pattern in ("*.hea", "*.csv", "*-aecg.xml", "*.dcm", "*-muse.xml", "*-ukb.xml"):
            files = sorted(folder.glob("*/" + pattern))
            fdir = Path(tmp) / ("format-" + pattern.strip("*.-").replace(".", "-"))
            for f in files:
                shutil.copytree(f.parent, fdir / f.parent.name)
            t0 = time.perf_counter()
            subprocess.run([a.bin, "screen", str(fdir), "--out", str(fdir) + ".jsonl", "--model", a.model,
                            "--jobs", str(a.threads), "--plain"], env=env, check=True, stderr=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL)
            per_format[pattern] = (len(files), time.perf_counter() - t0)
    swift_rate, peer_rate, wfdb_rate = n / swift_s, peer_n / peer_s, peer_n / swift_wfdb_s
    print(f"files: {n} ({ok} ok), threads: {a.threads}")
    print(f"ecg2cmr screen, all six formats: {swift_s:.2f} s wall incl. start-up and model load -> {swift_rate:.1f} ECG/s (target >= 40)")
    print(f"ecg2cmr screen, the peer's {peer_n} WFDB files: {swift_wfdb_s:.2f} s -> {wfdb_rate:.1f} ECG/s")
    print(f"python peer (wfdb + preprocess + PyTorch encoder, same {peer_n} WFDB files): {peer_rate:.1f} ECG/s")
    print(f"ratio swift/python on the same WFDB files: {wfdb_rate / peer_rate:.1f}x")
    for pattern, (count, seconds) in per_format.items():
        print(f"ecg2cmr screen, {pattern} only: {count} files in {seconds:.2f} s -> {count / seconds:.1f} ECG/s")


if __name__ == "__main__":
    main()
