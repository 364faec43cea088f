"""oracle_bound.py on a tiny built cohort: the oracle features have the documented shape and are
deterministic, --verify re-renders subjects to 0 counts and catches a stored ECG that differs,
and the whole command runs end to end."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binom

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import oracle_bound as O  # noqa: E402
from cohort.state import read_csv  # noqa: E402
from ecg2cmr_train import data as D  # noqa: E402


@pytest.fixture(scope="module")
def tiny_cohort(tmp_path_factory):
    from cohort.build import build
    root = tmp_path_factory.mktemp("oracle") / "cohort"
    build(40, root, seed=5, cine_frames=6, workers=1, log=lambda *a, **k: None)
    return root


def test_features_shape_and_determinism(tiny_cohort):
    states = read_csv(tiny_cohort / "subjects.csv")
    X, keep = O.feature_matrix(states)
    assert X.shape == (40, len(O.feature_names())) == (40, 105)
    assert np.array_equal(keep, np.arange(40))
    assert np.isfinite(X).all()
    X2, _ = O.feature_matrix(read_csv(tiny_cohort / "subjects.csv"))
    assert np.array_equal(X, X2)
    names = O.feature_names()
    # the bbb one-hot agrees with the csv, and the QRS is q/R/S, or R1/R2 (notched R) in LBBB
    bbb = X[:, [names.index(f"bbb_{b}") for b in O.BBB]]
    assert (bbb.sum(1) == 1).all()
    assert np.array_equal(np.array(O.BBB)[bbb.argmax(1)], states["bbb"])
    lbbb = states["bbb"] == "lbbb"
    assert lbbb.any() and (~lbbb).any()
    assert np.array_equal(X[:, names.index("R1_present")], lbbb.astype(float))
    assert np.array_equal(X[:, names.index("R_present")], (~lbbb).astype(float))


def test_verify_matches_and_catches_a_changed_ecg(tiny_cohort, tmp_path):
    states = read_csv(tiny_cohort / "subjects.csv")
    res = O.verify(D.Cohort(tiny_cohort), states, 3)
    assert len(res) == 3 and all(r["ecg_max_abs_diff_counts"] == 0 for r in res)
    bad = tmp_path / "cohort"
    shutil.copytree(tiny_cohort, bad)
    ecg = np.load(bad / "ecg_250hz.npy", mmap_mode="r+")
    ecg[0, 3, 100] += 1  # one count in one lead of row 0, which verify checks first
    ecg.flush()
    del ecg
    with pytest.raises(O.OracleError, match="does not re-render"):
        O.verify(D.Cohort(bad), states, 1)


def test_binomial_chance():
    # P(30 ≤ k ≤ 34) for k ~ Bin(40, 0.8): 75 % and 85 % of 40 are whole numbers here
    assert O.p_in_band(40) == pytest.approx(binom.cdf(34, 40, 0.8) - binom.cdf(29, 40, 0.8), abs=1e-12)
    b = O.binomial_chance({"all": 1500, "dcm": 40, "hcm": 30, "prior_mi": 140, "pulmonary_hypertension": 55})
    p = b["p_cell_in_band"]
    assert b["all_16_group_cells_independent"] == pytest.approx(
        (p["dcm"] * p["hcm"] * p["prior_mi"] * p["pulmonary_hypertension"]) ** 4)
    assert O.binomial_chance({"all": 10, "dcm": 0, "hcm": 1, "prior_mi": 1,
                              "pulmonary_hypertension": 1})["all_16_group_cells_independent"] is None


def test_command_end_to_end(tiny_cohort, tmp_path, capsys):
    R = O.main(["--cohort", str(tiny_cohort), "--out", str(tmp_path / "out"), "--verify", "2"])
    saved = json.loads((tmp_path / "out" / "oracle_bound.json").read_text())
    assert saved["sizes"] == R["sizes"] and sum(R["sizes"].values()) == 40
    assert set(saved["test"]["mean"]) == set(O.OUTPUTS)
    assert saved["binomial"]["heldout"]["group_n"]["all"] == 1500
    assert "DCM LV EDV" in capsys.readouterr().out


def test_missing_cohort_is_a_typed_error(tmp_path):
    with pytest.raises(D.CohortError, match="subjects.csv"):
        O.main(["--cohort", str(tmp_path / "nothing"), "--out", str(tmp_path / "out")])
