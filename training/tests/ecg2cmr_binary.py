"""Where the tests find the built `ecg2cmr` (one rule for every test that drives the binary)."""
import glob
import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def find_ecg2cmr():
    """$ECG2CMR_BIN as given (scripts/test sets it; a wrong path then fails loudly), else the newest
    executable `.build*/{debug,release}/ecg2cmr`, else `ecg2cmr` on PATH, else None."""
    env = os.environ.get("ECG2CMR_BIN")
    if env:
        return Path(env)
    found = [Path(p) for p in glob.glob(str(REPO / ".build*/*/ecg2cmr")) if os.access(p, os.X_OK)]
    if found:
        return max(found, key=lambda p: p.stat().st_mtime)
    on_path = shutil.which("ecg2cmr")
    return Path(on_path) if on_path else None
