"""Held-out synthetic subjects through `ecg2cmr info --json`: the shared part of
training/beat_check.py and training/measurement_check.py.

Each subject is rendered from its own seed (500 Hz, 10 s, with noise), written as WFDB into a
temporary folder and read back by the real binary, `jobs` at a time."""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np

from .ecg import render_ecg
from .state import sample_subjects, subject_row
from .writers import write_wfdb


def info_on_heldout(binary: str, n: int, seed: int, jobs: int,
                    describe: Callable[[dict, np.random.Generator, int], dict], fs: int = 500) -> list[dict]:
    """One row per subject: what `describe(subject, rng, fs)` says of it (called before the ECG is
    rendered from the same stream, so truths drawn from it match the rendering), plus `info`: the
    binary's JSON, or {"error": stderr} when it exited non-zero."""
    cohort = sample_subjects(n, seed)
    rows, stems = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            s = subject_row(cohort, i)
            rng = np.random.default_rng(int(s["seed"]))
            row = describe(s, rng, fs)
            ecg = render_ecg(s, rng, fs=fs)
            stem = Path(tmp) / f"s{i:05d}"
            write_wfdb(stem, ecg, fs, [f"subject {s['subject_id']}"])
            stems.append(stem)
            rows.append(row)

        def info(stem: Path) -> dict:
            out = subprocess.run([binary, "info", str(stem.with_suffix(".hea")), "--json"],
                                 capture_output=True, text=True, check=False)
            if out.returncode != 0:
                return {"error": out.stderr.strip()}
            return json.loads(out.stdout)

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for row, got in zip(rows, pool.map(info, stems)):
                row["info"] = got
    return rows


def check_main(description: str, n: int, seed: int, json_help: str, run, report, argv=None) -> int:
    """The command line both checks share: --bin, --n, --seed (a seed nothing was tuned on),
    --jobs, --json; `run(bin, n, seed, jobs)` gives the rows and `report(rows)` the printed text."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--bin", required=True, help="path of the built ecg2cmr executable")
    ap.add_argument("--n", type=int, default=n)
    ap.add_argument("--seed", type=int, default=seed)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", help=json_help)
    a = ap.parse_args(argv)
    rows = run(a.bin, a.n, a.seed, a.jobs)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    print(f"{a.n} synthetic subjects (sample_subjects(n={a.n}, seed={a.seed})), 500 Hz, 10 s, with noise\n")
    print(report(rows))
    return 0
