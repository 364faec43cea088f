"""Two-rank teardown check: start `--runs` short 2-rank gloo jobs under torchrun (DDP steps, the
contrastive gather, then `Parallel.close()`), optionally with every core kept busy, and count the
runs that did not exit cleanly. A rank that aborts at exit ("terminate called without an active
exception", exit −6) fails a multi-rank training job after all its work is done, so a Slurm job or
CI run goes red at random. Not part of CI (minutes, and a rare event needs many runs):

    python training/teardown_stress.py --runs 30 --load

`--load` keeps every core busy with spinning processes, the condition under which the old teardown
(a gloo barrier then destroy_process_group) aborted in 4 of 39 runs on a 2-core machine.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

WORKER = """
import torch
from ecg2cmr_train.distributed import Parallel
par = Parallel("cpu", "fp32")
m = par.wrap(torch.nn.Linear(64, 64))
opt = torch.optim.SGD(m.parameters(), 0.01)
for _ in range(20):
    par.step(m(torch.randn(32, 64)).pow(2).mean(), opt, m.parameters())
    par.gather(torch.randn(4, 8))
par.close()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--load", action="store_true", help="keep every core busy while the runs go")
    ap.add_argument("--timeout", type=float, default=120, help="seconds before one run counts as hung")
    a = ap.parse_args(argv)
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)] \
        if a.load else []
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE)}
    failed = []
    t0 = time.time()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            worker = Path(tmp) / "worker.py"
            worker.write_text(WORKER)
            for i in range(a.runs):
                cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc-per-node=2",
                       f"--rdzv-id=teardown{i}", "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{free_port()}",
                       str(worker)]
                try:
                    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=a.timeout)
                    ok, why = p.returncode == 0, f"exit {p.returncode}"
                    tail = [ln for ln in p.stderr.splitlines() if "terminate" in ln or "exitcode" in ln]
                except subprocess.TimeoutExpired:
                    ok, why, tail = False, f"hung > {a.timeout:.0f} s", []
                if not ok:
                    failed.append(i)
                    print(f"run {i}: {why} {' | '.join(tail[:3])}", flush=True)
    finally:
        for s in spinners:
            s.kill()
    print(f"{a.runs - len(failed)} of {a.runs} two-rank runs exited cleanly"
          f"{' with every core busy' if a.load else ''} ({time.time() - t0:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
