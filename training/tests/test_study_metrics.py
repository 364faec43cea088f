"""Reader-study statistics: Swift (Sources/ReaderStudy/Metrics.swift) against scikit-learn, scipy
and statsmodels.

The fixture cases (Tests/ReaderStudyTests/Fixtures/metrics-cases.json) and the reference values
computed here with the Python libraries (metrics-reference.json) are committed; the Swift test
`MetricsCrossCheckTests` reads both and must match to 1e-9. This test recomputes the reference with
the installed libraries and fails if the committed file is stale (regenerate with
ECG2CMR_REGEN_FIXTURES=1 python -m pytest training/tests/test_study_metrics.py).

The same file also runs the kill -9 durability script of the reader session (tests/study/kill9.sh)
when the ecg2cmr binary has been built.
"""
import json
import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score, confusion_matrix, roc_auc_score, roc_curve

from ecg2cmr_binary import find_ecg2cmr
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "Tests" / "ReaderStudyTests" / "Fixtures"
CASES = FIXTURES / "metrics-cases.json"
REFERENCE = FIXTURES / "metrics-reference.json"
MASK = (1 << 64) - 1
RESAMPLES = 10_000


class SplitMix64:
    """Replays Sources/ReaderStudy/Metrics.swift `SplitMix64` bit for bit."""

    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)


def make_cases():
    """Deterministic synthetic reads: ratings 1–10 (many ties), model probabilities, two stages."""
    rng = np.random.default_rng(20261123)
    sets = []
    for name, n, prevalence, skill in [("balanced-40", 40, 0.5, 1.2), ("rare-positives-30", 30, 0.2, 0.8),
                                       ("small-12", 12, 0.5, 0.5), ("strong-60", 60, 0.4, 2.5)]:
        truth = rng.random(n) < prevalence
        truth[0], truth[1] = True, False  # both classes always present
        latent1 = truth * skill + rng.normal(size=n)
        latent2 = truth * (skill + 0.6) + rng.normal(size=n)
        # 10-level reader ratings from the latent (binary call + confidence), ties on purpose.
        rating1 = np.clip(np.round(5.5 + 1.6 * latent1), 1, 10)
        rating2 = np.clip(np.round(5.5 + 1.6 * latent2), 1, 10)
        model = 1 / (1 + np.exp(-(truth * 1.5 + rng.normal(size=n))))
        sets.append({
            "name": name,
            "truth": [bool(t) for t in truth],
            "ratingsFirst": [float(r) for r in rating1],
            "ratingsSecond": [float(r) for r in rating2],
            "decisionsFirst": [bool(r >= 6) for r in rating1],
            "decisionsSecond": [bool(r >= 6) for r in rating2],
            "modelScores": [round(float(m), 6) for m in model],
            "seed": int(rng.integers(1, 2**62)),
        })
    return {"resamples": RESAMPLES, "sets": sets}


def wilson(k, n):
    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    return {"successes": int(k), "total": int(n), "value": k / n, "lower": float(lo), "upper": float(hi)}


def bootstrap_auc(scores, truth, seed, resamples):
    scores, truth = np.asarray(scores, dtype=float), np.asarray(truth, dtype=bool)
    n = len(scores)
    rng = SplitMix64(seed)
    idx = np.array([[rng.next() % n for _ in range(n)] for _ in range(resamples)])
    s, t = scores[idx], truth[idx]
    m = t.sum(axis=1)
    valid = (m > 0) & (m < n)
    # Vectorised Mann–Whitney AUC per resample (mid-ranks), spot-checked against roc_auc_score below.
    ranks = stats.rankdata(s, axis=1)
    rank_sum = (ranks * t).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        aucs = (rank_sum - m * (m + 1) / 2) / (m * (n - m))
    for row in np.flatnonzero(valid)[:50]:
        assert math.isclose(aucs[row], roc_auc_score(t[row], s[row]), rel_tol=1e-12)
    lo, hi = np.percentile(aucs[valid], [2.5, 97.5])
    return {"lower": float(lo), "upper": float(hi), "valid": int(valid.sum())}


def delong_fast(first, second, truth):
    """Sun & Xu (2014) mid-rank DeLong — a different algorithm from the Swift pairwise loop."""
    truth = np.asarray(truth, dtype=bool)
    preds = np.vstack([first, second])
    pos, neg = preds[:, truth], preds[:, ~truth]
    m, n = pos.shape[1], neg.shape[1]
    tx = np.array([stats.rankdata(p) for p in pos])
    ty = np.array([stats.rankdata(q) for q in neg])
    tz = np.array([stats.rankdata(r) for r in np.hstack([pos, neg])])
    aucs = tz[:, :m].sum(axis=1) / m / n - (m + 1.0) / 2.0 / n
    v01 = (tz[:, :m] - tx) / n
    v10 = 1.0 - (tz[:, m:] - ty) / m
    s = np.cov(v01) / m + np.cov(v10) / n
    var_diff = s[0, 0] + s[1, 1] - 2 * s[0, 1]
    z = (aucs[0] - aucs[1]) / math.sqrt(var_diff)
    return {"aucFirst": float(aucs[0]), "aucSecond": float(aucs[1]), "varianceFirst": float(s[0, 0]),
            "varianceSecond": float(s[1, 1]), "covariance": float(s[0, 1]), "z": float(z),
            "p": float(2 * stats.norm.sf(abs(z)))}


def reference_for(case_set, resamples):
    truth = np.array(case_set["truth"], dtype=int)
    out = {"name": case_set["name"]}
    for which in ("First", "Second"):
        decisions = np.array(case_set["decisions" + which], dtype=int)
        tn, fp, fn, tp = confusion_matrix(truth, decisions, labels=[0, 1]).ravel()
        out["confusion" + which] = {
            "truePositives": int(tp), "falsePositives": int(fp), "trueNegatives": int(tn), "falseNegatives": int(fn),
            "accuracy": wilson(tp + tn, tp + tn + fp + fn), "sensitivity": wilson(tp, tp + fn),
            "specificity": wilson(tn, tn + fp), "ppv": wilson(tp, tp + fp), "npv": wilson(tn, tn + fn),
        }
        ratings = case_set["ratings" + which]
        out["auc" + which] = float(roc_auc_score(truth, ratings))
        fpr, tpr, _ = roc_curve(truth, ratings, drop_intermediate=False)
        out["roc" + which] = {"fpr": [float(x) for x in fpr], "tpr": [float(x) for x in tpr]}
    out["aucModel"] = float(roc_auc_score(truth, case_set["modelScores"]))
    out["bootstrapFirst"] = bootstrap_auc(case_set["ratingsFirst"], truth, case_set["seed"], resamples)
    out["bootstrapModel"] = bootstrap_auc(case_set["modelScores"], truth, case_set["seed"], resamples)
    correct1 = np.array(case_set["decisionsFirst"]) == truth.astype(bool)
    correct2 = np.array(case_set["decisionsSecond"]) == truth.astype(bool)
    table = [[int(np.sum(correct1 & correct2)), int(np.sum(correct1 & ~correct2))],
             [int(np.sum(~correct1 & correct2)), int(np.sum(~correct1 & ~correct2))]]
    exact = mcnemar(table, exact=True)
    approx = mcnemar(table, exact=False, correction=True)
    out["mcnemar"] = {"b": table[0][1], "c": table[1][0], "exactP": float(exact.pvalue),
                      "chiSquare": float(approx.statistic), "continuityP": float(approx.pvalue)}
    out["delong"] = delong_fast(case_set["ratingsFirst"], case_set["ratingsSecond"], truth)
    d1, d2 = case_set["decisionsFirst"], case_set["decisionsSecond"]
    out["identical"] = float(np.mean(np.array(d1) == np.array(d2)))
    out["kappa"] = float(cohen_kappa_score(d1, d2))
    return out


def compute_reference(cases):
    return {"generator": "training/tests/test_study_metrics.py",
            "sets": [reference_for(s, cases["resamples"]) for s in cases["sets"]]}


def _close(a, b, path=""):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), f"{path}: {a} != {b}"
    else:
        assert a == b, path


def test_committed_fixture_matches_python_libraries():
    cases = make_cases()
    reference = compute_reference(cases)
    if os.environ.get("ECG2CMR_REGEN_FIXTURES") == "1":
        CASES.write_text(json.dumps(cases, indent=1) + "\n")
        REFERENCE.write_text(json.dumps(reference, indent=1) + "\n")
    committed_cases = json.loads(CASES.read_text())
    committed = json.loads(REFERENCE.read_text())
    _close(cases, committed_cases, "cases")
    _close(reference, committed, "reference")


def test_delong_reference_against_pairwise_definition():
    # The fast mid-rank DeLong used for the reference equals the O(m·n) textbook definition.
    cases = make_cases()
    s = cases["sets"][0]
    truth = np.array(s["truth"], dtype=bool)
    fast = delong_fast(s["ratingsFirst"], s["ratingsSecond"], truth)

    def components(x):
        pos, neg = np.asarray(x)[truth], np.asarray(x)[~truth]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        return psi.mean(axis=1), psi.mean(axis=0)

    a10, a01 = components(s["ratingsFirst"])
    b10, b01 = components(s["ratingsSecond"])
    m, n = truth.sum(), (~truth).sum()
    var1 = np.var(a10, ddof=1) / m + np.var(a01, ddof=1) / n
    cov = np.cov(a10, b10)[0, 1] / m + np.cov(a01, b01)[0, 1] / n
    assert math.isclose(fast["varianceFirst"], var1, rel_tol=1e-9)
    assert math.isclose(fast["covariance"], cov, rel_tol=1e-9)


def test_reader_session_survives_kill9():
    binary = find_ecg2cmr()
    if binary is None:
        pytest.skip("ecg2cmr is not built (swift build) — scripts/test builds it first")
    result = subprocess.run([str(ROOT / "tests" / "study" / "kill9.sh"), binary],
                            capture_output=True, text=True, timeout=600)
    print(result.stdout[-4000:])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
