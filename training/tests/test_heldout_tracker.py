"""The held-out check's cine tracker (heldout_eval.py): it reads generated exports, so it must undo
the export's pose exactly and read RV size from a real simulated cine."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

TRAINING = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TRAINING))

import heldout_eval as H  # noqa: E402
from ecg2cmr_train.model import apply_pose, seeded_pose, unpose  # noqa: E402


def test_unpose_inverts_the_export_pose():
    rng = np.random.default_rng(3)
    frames = np.stack([gaussian_filter(f, 3) for f in rng.random((3, 80, 80))]).astype(np.float32)
    for seed in (1, 7, 12345):
        angle, dx, dy = seeded_pose(seed, 2, 30.0, 4.0)[0]
        back = unpose(apply_pose(frames, angle, dx, dy), angle, dx, dy)
        inner = (slice(None), slice(14, 66), slice(14, 66))      # corners leave the frame when rotated
        assert np.abs(back - frames)[inner].max() < 0.01
        assert np.abs(apply_pose(frames, angle, dx, dy) - frames)[inner].max() > 0.05   # the pose did move it


def _canonical_sax(subject: dict) -> np.ndarray:
    """A simulated SAX cine rendered directly in the canonical pose the tracker is fitted in."""
    from cohort.cmr import canonical_pose, render_cine
    return render_cine(subject, "sax", 12, np.random.default_rng(0), as_float=True, pose=canonical_pose("sax"))


def test_rv_reading_grows_with_rv_volume_and_ignores_rotation():
    from cohort.state import sample_subjects, subject_row
    h = sample_subjects(1, 11)
    base = subject_row(h, 0)
    base.update(pulmonary_hypertension=0, effusion=0, rhythm="sinus")
    widths = []
    for rv_edv in (110.0, 160.0, 230.0):
        s = dict(base, rv_edv_ml=rv_edv, rv_esv_ml=0.45 * rv_edv)
        frames = _canonical_sax(s)
        ef, lv_area, reading = H.ed_areas(frames)
        widths.append(reading[2])
        posed = apply_pose(frames, 1.2, 2.5, -3.0)    # beyond the ±30° a seed draws, so reading it raw would fail
        assert abs(H.ed_areas(posed)[2][2] - reading[2]) > 3.0
        assert abs(H.ed_areas(unpose(posed, 1.2, 2.5, -3.0))[2][2] - reading[2]) <= 1.0
    assert widths[0] < widths[1] < widths[2], widths


def test_whole_groups_export_every_member_and_the_others_their_first_members():
    from cohort.state import sample_subjects
    h = sample_subjects(3000, 99)
    picked = H.pick_generator_subjects(h, 10, whole=("dcm",))
    dcm = np.flatnonzero(h["cm_subtype"] == "dcm")
    assert len(dcm) > 10 and np.array_equal(picked["dcm"], dcm)
    assert np.array_equal(picked["hcm"], np.flatnonzero(h["cm_subtype"] == "hcm")[:10])
    assert all(len(v) == 10 for k, v in picked.items() if k != "dcm")
