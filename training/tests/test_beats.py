"""Checks of the beat-feature reference (training/ecg2cmr_train/beats.py).

The fixture Tests/SignalKitTests/Fixtures/beat-features.json (training/make_beat_fixture.py) is
also reproduced by the Swift BeatExtractor (Tests/SignalKitTests/BeatFeaturesTests.swift), so
both implementations are pinned to one file.
"""
import base64
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))
from ecg2cmr_train.beats import (  # noqa: E402
    DEFAULT_SPEC, RHYTHM_FEATURES, batch_beat_features, beat_features, butter_bandpass_sections,
    detect_r_peaks, median_beat, validate_spec,
)
from ecg2cmr_train.preprocess import preprocess  # noqa: E402

FIXTURE = ROOT / "Tests" / "SignalKitTests" / "Fixtures" / "beat-features.json"
OPS = [
    {"op": "resample", "rate": 250},
    {"op": "baselineRemoval", "method": "highpass", "cutoffHz": 0.5, "order": 2},
    {"op": "cropOrPad", "sampleCount": 2500},
    {"op": "normalise", "mode": "scale", "millivolts": 1.0, "clip": 8.0},
]


def load_fixture():
    doc = json.loads(FIXTURE.read_text())
    out = []
    for c in doc["cases"]:
        x = np.frombuffer(base64.b64decode(c["valuesF32Base64"]), dtype="<f4").reshape(len(c["leadNames"]), c["sampleCount"])
        out.append((c, x))
    return doc, out


def test_fixture_reproduced_exactly():
    doc, cases = load_fixture()
    assert doc["spec"] == DEFAULT_SPEC
    assert doc["rhythmFeatureNames"] == list(RHYTHM_FEATURES)
    assert len(cases) >= 8
    for c, x in cases:
        f = beat_features(x, c["leadNames"], doc["samplingRate"], doc["spec"])
        e = c["expected"]
        assert f["peaks"].tolist() == e["rPeakIndices"], c["name"]
        assert f["lead"] == e["detectionLead"], c["name"]
        assert f["beat_count"] == e["beatCount"], c["name"]
        assert f["median_beat"].shape == (len(c["leadNames"]), e["beatLength"])
        np.testing.assert_array_equal(f["median_beat"].ravel(), np.asarray(e["medianBeat"], dtype=np.float32), err_msg=c["name"])
        np.testing.assert_array_equal(f["rhythm"], np.asarray(e["rhythm"], dtype=np.float32), err_msg=c["name"])


def test_fixture_covers_edge_cases():
    _, cases = load_fixture()
    by_name = {c["name"]: c["expected"] for c, _ in cases}
    assert by_name["all-zero"]["detectionLead"] is None
    assert by_name["all-zero"]["rhythm"] == [0] * 8 + [0, 1]
    assert by_name["JS20001-lead-II-zero"]["detectionLead"] == "I"
    assert by_name["mitbih-100"]["detectionLead"] == "V5"
    assert by_name["ptb-s0010-lowercase"]["detectionLead"] == "i"
    assert by_name["synthetic-af"]["rhythm"][4] > 0.15  # cv of an irregular rhythm


def test_band_pass_design_matches_scipy_response():
    from scipy import signal

    secs = butter_bandpass_sections(2, 5.0, 15.0, 250.0)
    sos = np.array([[b0, b1, b2, 1.0, a1, a2] for b0, b1, b2, a1, a2 in secs])
    ref = signal.butter(2, [5.0, 15.0], "bandpass", fs=250.0, output="sos")
    _, h = signal.sosfreqz(sos, worN=512)
    _, h_ref = signal.sosfreqz(ref, worN=512)
    np.testing.assert_allclose(h, h_ref, atol=1e-12)


def test_median_beat_even_count_float32():
    w = np.array([[[1.0, 2.0]], [[2.0, 4.0]], [[1e8, 3.0]], [[-1.0, 1.0]]], dtype=np.float32)
    m = median_beat(w)
    assert m.dtype == np.float32
    np.testing.assert_array_equal(m, np.array([[1.5, 2.5]], dtype=np.float32))
    np.testing.assert_array_equal(median_beat(w[:3]), np.median(w[:3], axis=0))


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        validate_spec({"detectionLeads": [], "preSamples": 64, "postSamples": 136})
    with pytest.raises(ValueError):
        validate_spec({"detectionLeads": ["II"], "preSamples": 0, "postSamples": 136})
    x = np.zeros((2, 500), np.float32)
    x[1, 200] = np.nan
    with pytest.raises(ValueError):
        beat_features(x, ["I", "II"], 250.0)
    with pytest.raises(ValueError):
        beat_features(np.zeros((3, 500), np.float32), ["I", "II"], 250.0)


def sample_record(name):
    wfdb = pytest.importorskip("wfdb")
    rec = wfdb.rdrecord(str(ROOT / "sample-data" / name / "ecg"))
    y, _ = preprocess(rec.p_signal.T, float(rec.fs), OPS)
    return y, [str(s) for s in rec.sig_name]


@pytest.mark.parametrize("name", ["P01-healthy", "P07-pulmonary-hypertension", "P13-lateral-mi-hf"])
def test_sample_data_heart_rate_plausible(name):
    y, names = sample_record(name)
    f = beat_features(y, names, 250.0)
    hr = float(f["rhythm"][0]) * 100
    assert f["lead"] == "II"
    assert 40 <= hr <= 150, hr
    assert f["beat_count"] >= 6
    peaks = detect_r_peaks(y[names.index("II")], 250.0)
    np.testing.assert_array_equal(peaks, f["peaks"])
    rr = np.diff(peaks) / 250.0
    assert rr.min() > 0.3 and rr.max() < 1.6
    # the median beat of lead II peaks at the R peak (window index preSamples, within 20 ms)
    k = int(np.argmax(np.abs(f["median_beat"][names.index("II")])))
    assert abs(k - DEFAULT_SPEC["preSamples"]) <= 5


def test_batch_matches_single():
    y, names = sample_record("P01-healthy")
    xs = np.stack([y, y[:, ::-1].copy(), np.zeros_like(y)])
    b = batch_beat_features(xs, names, 250.0)
    assert b["median_beat"].shape == (3, len(names), 200)
    assert b["rhythm"].shape == (3, len(RHYTHM_FEATURES))
    for i in range(3):
        f = beat_features(xs[i], names, 250.0)
        np.testing.assert_array_equal(b["median_beat"][i], f["median_beat"])
        np.testing.assert_array_equal(b["rhythm"][i], f["rhythm"])
        assert b["beat_count"][i] == f["beat_count"]
