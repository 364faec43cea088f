"""Cross-check: `ecg2cmr convert --to wfdb` output read back by wfdb-python equals the source within 1 µV.

Needs a built ecg2cmr (set ECG2CMR_BIN, or it looks in .build*/debug and .build*/release); skipped otherwise.
"""
import os
import subprocess

import numpy as np
import pytest
import wfdb

from ecg2cmr_binary import find_ecg2cmr

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RECORDS = os.path.join(ROOT, "tests", "records")  # real records committed with their licences


BIN = find_ecg2cmr()
BIN = str(BIN) if BIN else None
pytestmark = pytest.mark.skipif(BIN is None, reason="ecg2cmr binary not available")


@pytest.mark.parametrize("record", ["cinc2021/E07500", "cinc2021/JS20003", "100"])
def test_wfdb_to_wfdb_round_trip(tmp_path, record):
    out = tmp_path / "copy"
    subprocess.run([BIN, "convert", os.path.join(RECORDS, record + ".hea"), "--to", "wfdb", "--out", str(out)],
                   check=True, capture_output=True)
    src = wfdb.rdrecord(os.path.join(RECORDS, record))
    back = wfdb.rdrecord(str(out))
    assert back.fs == src.fs
    assert back.sig_name == src.sig_name
    assert np.nanmax(np.abs(back.p_signal - src.p_signal)) <= 0.001


def test_muse_to_wfdb_matches_base64_decoding(tmp_path):
    import base64
    import re
    text = open(os.path.join(RECORDS, "example-muse.xml"), encoding="latin-1").read()
    rhythm = [w for w in re.findall(r"<Waveform>(.*?)</Waveform>", text, re.S) if "Rhythm" in w][0]
    leads = {}
    for lead in re.findall(r"<LeadData>(.*?)</LeadData>", rhythm, re.S):
        name = re.search(r"<LeadID>(.*?)</LeadID>", lead).group(1)
        raw = base64.b64decode(re.search(r"<WaveFormData>(.*?)</WaveFormData>", lead, re.S).group(1))
        leads[name] = np.frombuffer(raw, dtype="<i2") * 4.88 / 1000.0
    out = tmp_path / "muse"
    subprocess.run([BIN, "convert", os.path.join(RECORDS, "example-muse.xml"), "--to", "wfdb", "--out", str(out)],
                   check=True, capture_output=True)
    back = wfdb.rdrecord(str(out))
    assert back.sig_name == list(leads)  # the 8 stored leads, file order, none derived
    for k, name in enumerate(back.sig_name):
        assert np.max(np.abs(back.p_signal[:, k] - leads[name])) <= 0.001


def test_csv_has_header_row_then_millivolts(tmp_path):
    res = subprocess.run([BIN, "convert", os.path.join(RECORDS, "cinc2021", "E07501.hea"), "--to", "csv"],
                         check=True, capture_output=True, text=True)
    lines = res.stdout.splitlines()
    src = wfdb.rdrecord(os.path.join(RECORDS, "cinc2021", "E07501"))
    assert lines[0].split(",") == src.sig_name
    values = np.array([[float(x) for x in line.split(",")] for line in lines[1:]])
    assert values.shape == src.p_signal.shape
    assert np.max(np.abs(values - src.p_signal)) <= 0.001
