"""cohort.timings.true_timings: derived from render_ecg's own parameters without touching the ECG
or the caller's random stream."""
import hashlib
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cohort.ecg import render_ecg  # noqa: E402
from cohort.state import sample_subjects, subject_row  # noqa: E402
from cohort.timings import true_timings  # noqa: E402

# sha256 of render_ecg(subject_row(sample_subjects(20, 123), 3), default_rng(42)) before timings.py existed
GOLDEN = "e5be29afb2c425841a52b3067d2be4375186d9180a265a7e544a687dcc07878a"


def test_render_unchanged_and_stream_not_advanced():
    s = subject_row(sample_subjects(20, 123), 3)
    plain = render_ecg(s, np.random.default_rng(42))
    assert hashlib.sha256(plain.tobytes()).hexdigest() == GOLDEN
    rng = np.random.default_rng(42)
    t = true_timings(s, rng)
    assert np.array_equal(render_ecg(s, rng), plain)
    assert t["pr_ms"] is not None and 110 <= t["pr_ms"] <= 260
    assert 70 <= t["qrs_ms"] <= 200 and 250 <= t["qt_ms"] <= 650
    assert -180 <= t["qrs_axis_deg"] <= 180


def test_af_has_no_pr():
    c = sample_subjects(400, 5)
    rows = [subject_row(c, i) for i in range(400)]
    af = [s for s in rows if s["rhythm"] == "af"]
    assert af
    t = true_timings(af[0], np.random.default_rng(1))
    assert t["pr_ms"] is None and t["p_axis_deg"] is None
