"""Out-of-distribution calibration (ecg2cmr_train/ood.py): the signal features against the
fixture the Swift test reads, the one-percentile union rule, and the atomic bundle rewrite."""
import base64
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from ecg2cmr_train import ood  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "Tests" / "CardiacModelsTests" / "Fixtures" / "ood-signal-features.json"


def _f32(s):
    return np.frombuffer(base64.b64decode(s), dtype="<f4")


def test_signal_features_reproduce_the_swift_fixture():
    doc = json.loads(FIXTURE.read_text())
    assert doc["featureSet"] == ood.SIGNAL_FEATURE_SET and doc["featureNames"] == list(ood.SIGNAL_FEATURES)
    for c in doc["cases"]:
        n = len(c["leads"])
        x = _f32(c["values"]).reshape(n, c["sampleCount"])
        m = _f32(c["medianBeat"]).reshape(n, doc["preSamples"] + doc["postSamples"])
        got = ood.signal_features(x, c["peaks"], m, doc["preSamples"], doc["postSamples"], doc["samplingRate"])
        np.testing.assert_allclose(got, c["features"], rtol=0, atol=1e-9, err_msg=c["name"])


def test_features_separate_noise_free_from_noisy_render():
    doc = json.loads(FIXTURE.read_text())
    k = len(ood.SIGNAL_FEATURES)
    noisy = next(c for c in doc["cases"] if c["name"] == "cohort render, noise")["features"]
    clean = next(c for c in doc["cases"] if c["name"] == "cohort render, no noise")["features"]
    assert all(clean[l * k] < noisy[l * k] - 0.5 for l in range(len(noisy) // k))


LEAD_FIXTURE = ROOT / "Tests" / "CardiacModelsTests" / "Fixtures" / "ood-lead-features.json"


def test_lead_features_reproduce_the_swift_fixture():
    doc = json.loads(LEAD_FIXTURE.read_text())
    assert doc["featureSet"] == ood.LEAD_FEATURE_SET and doc["featureNames"] == list(ood.LEAD_FEATURES)
    np.testing.assert_array_equal(np.asarray(doc["heartVectorBasis"]), ood.DOWER)
    beat = doc["preSamples"] + doc["postSamples"]
    for c in doc["cases"]:
        x = _f32(c["values"]).reshape(12, c["sampleCount"])
        m = _f32(c["medianBeat"]).reshape(12, beat)
        got = ood.lead_features(x, c["peaks"], m, doc["preSamples"], doc["samplingRate"])
        np.testing.assert_allclose(got, c["features"], rtol=1e-9, atol=1e-12, err_msg=c["name"])


def test_dower_misfit_is_noise_level_for_every_simulated_rhythm_and_sees_a_non_dipolar_qrs():
    """The simulator's beats lie in its heart-vector subspace whatever the rhythm or noise, so the
    misfit SNR stays near its noise-only value (~2); one lead read at another gain (what a body
    does to the standard torso) lifts it far above the shipped limit (11.5)."""
    sys.path.insert(0, str(ROOT / "training"))
    from cohort.ecg import DOWER, render_ecg
    from cohort.state import sample_subjects, subject_row
    from ecg2cmr_train.beats import DEFAULT_SPEC, beat_features
    from ecg2cmr_train.bundle import STANDARD_LEADS
    from make_beat_fixture import prepared
    assert ood.DOWER is DOWER                                  # one home: the simulator's matrix
    subjects = sample_subjects(12, 4242)
    for k in range(12):
        s = subject_row(subjects, k)
        if k % 3 == 0:
            s["rhythm"] = "af"
        x = render_ecg(s, np.random.default_rng(int(s["seed"])), 500.0, 10.0, noise=True).astype(np.float64)
        y = prepared(x, 500.0)
        f = beat_features(y, STANDARD_LEADS, 250.0, DEFAULT_SPEC)
        snr, frac = ood.dower_misfit(y, f["peaks"], f["median_beat"], DEFAULT_SPEC["preSamples"], 250.0, DOWER)
        assert snr < 8.0, (k, s["rhythm"], snr)
        y2 = y.copy()
        y2[8] *= 1.8                                            # V3 at 1.8 × its gain
        f2 = beat_features(y2, STANDARD_LEADS, 250.0, DEFAULT_SPEC)
        snr2, frac2 = ood.dower_misfit(y2, f2["peaks"], f2["median_beat"], DEFAULT_SPEC["preSamples"], 250.0, DOWER)
        assert snr2 > 15.0 and frac2 > 5 * frac, (k, snr, snr2, frac, frac2)


def test_common_thresholds_flag_the_target_share():
    rng = np.random.default_rng(0)
    d = rng.gamma(3.0, 1.0, (4000, 3))
    d[:, 2] = d[:, 0] * 0.5 + rng.gamma(2.0, 1.0, 4000)    # correlated distances
    q, t, frac = ood.common_thresholds(d, 0.025)
    assert frac <= 0.025 and frac > 0.02
    assert np.allclose(t, np.percentile(d, q, axis=0))
    assert ((d > t).any(1).mean()) == pytest.approx(frac)
    # One percentile for all: each distance alone flags the same share.
    assert np.allclose((d > t).mean(0), (d > t).mean(0)[0], atol=1e-3)


def test_fit_gaussian_is_robust_to_a_few_outliers():
    rng = np.random.default_rng(1)
    f = rng.standard_normal((2000, 6))
    f[:20] += 50.0                                           # lead-off / empty records
    mean, prec = ood.fit_gaussian(f)
    assert np.abs(mean).max() < 0.1
    d = ood.mahalanobis(rng.standard_normal((2000, 6)), mean, prec)
    assert 4.5 < d.mean() < 7.5                              # ≈ chi² with 6 degrees of freedom


def _tiny_bundle(tmp_path):
    src = ROOT / "Tests" / "CMRExportTests" / "Fixtures" / "bundle-tiny"
    dst = tmp_path / "bundle"
    shutil.copytree(src, dst)
    return dst


def test_rewrite_bundle_replaces_ood_tensors_and_block(tmp_path):
    from safetensors.numpy import load_file
    from ecg2cmr_train.bundle import file_sha256
    d = _tiny_bundle(tmp_path)
    manifest = json.loads((d / "manifest.json").read_text())
    before = load_file(str(d / manifest["weights"][0]["file"]))
    tensors = {"signal_mean": np.zeros(96, np.float32), "signal_precision": np.eye(96, dtype=np.float32)}
    summary = {"embeddingThreshold": 1.5, "inputThreshold": 2.5, "beatStride": 4, "components": 0,
               "signal": {"featureSet": ood.SIGNAL_FEATURE_SET, "features": 96, "threshold": 3.5}}
    out = ood.rewrite_bundle(d, tensors, summary)
    after = load_file(str(d / manifest["weights"][0]["file"]))
    assert {k for k in after if not k.startswith("ood.")} == {k for k in before if not k.startswith("ood.")}
    assert after["ood.signal_precision"].shape == (96, 96)
    m = json.loads((d / "manifest.json").read_text())
    assert m == out and m["outOfDistribution"]["signal"]["threshold"] == 3.5
    w = m["weights"][0]
    if "sha256" in w:
        assert w["sha256"] == file_sha256(d / w["file"])
    assert not list(d.glob("*.tmp"))
