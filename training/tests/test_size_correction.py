"""The generator's size correction (manifest generator.anatomy.sizeCorrection): the fit recovers a
decoder that draws large hearts smaller than asked, the correction keeps the asked EF, a bad
manifest is refused, and the shipped golden frames are the ones the shipped manifest draws."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))
from ecg2cmr_train.bundle import size_correction  # noqa: E402
from ecg2cmr_train.drawsize import fit_correction  # noqa: E402
from ecg2cmr_train.model import SizeCorrection  # noqa: E402

BUNDLE = ROOT / "assets/models/demo-v2"
GOLDEN = ROOT / "Tests/CardiacModelsTests/Fixtures/golden-demo-v2.safetensors"


def shrink(v):
    """A decoder that draws hearts above 180 mL up to ~8 % smaller (at 350 mL)."""
    return v * (1 - 0.00045 * np.maximum(v - 180, 0))


def test_fit_recovers_the_shrink_and_ignores_tracker_failures():
    rng = np.random.default_rng(0)
    asked = np.concatenate([rng.normal(145, 20, 600), rng.uniform(200, 360, 600)])
    drawn = shrink(asked) * rng.normal(1, 0.02, len(asked))
    drawn[::40] *= 2.5                 # the tracker merged the LV with the RV on these cines
    fit = fit_correction(asked, drawn)
    knots, factors = np.array(fit["knotsMl"]), np.array(fit["factors"])
    assert knots[0] < 130 and knots[-1] > 320
    # Asking x·factor(x) draws x again, within the noise, over the whole range.
    x = np.linspace(knots[0], knots[-1], 50)
    again = shrink(x * np.interp(x, knots, factors))
    assert np.abs(shrink(x) / x - 1).max() > 0.06           # uncorrected: up to 7 % smaller
    assert np.abs(again / x - 1).max() < 0.015
    assert factors[knots > 300].min() > 1.05 and abs(factors[knots < 170] - 1).max() < 0.01


def test_correction_scales_both_volumes_alike():
    # anatomy [lv_edv, lv_esv, wt] standardised with these means / stds
    c = SizeCorrection(0, [0, 1], [150.0, 60.0, 9.0], [40.0, 25.0, 1.5], [100.0, 200.0, 300.0], [1.0, 1.02, 1.06])
    a = torch.tensor([[(250 - 150) / 40, (175 - 60) / 25, 0.5], [(140 - 150) / 40, (56 - 60) / 25, -1.0]],
                     dtype=torch.float32)
    b = c.apply(a).double()
    edv, esv = b[:, 0] * 40 + 150, b[:, 1] * 25 + 60
    assert torch.allclose(edv, torch.tensor([250 * 1.04, 140 * 1.008], dtype=torch.float64), atol=1e-4)
    assert torch.allclose(1 - esv / edv, torch.tensor([0.3, 0.6], dtype=torch.float64), atol=1e-5)
    assert torch.equal(b[:, 2].float(), a[:, 2])
    with pytest.raises(ValueError):
        SizeCorrection(0, [0], [0.0], [1.0], [200.0, 100.0], [1.0, 1.0])
    with pytest.raises(ValueError):
        SizeCorrection(0, [0], [0.0], [1.0], [100.0, 200.0], [1.0, 0.0])


def test_manifest_names_must_be_anatomy_outputs():
    m = json.loads((BUNDLE / "manifest.json").read_text())
    m["generator"]["anatomy"]["sizeCorrection"] = {"by": "lv_mass", "scale": ["lv_edv"], "knotsMl": [1, 2],
                                                  "factors": [1, 1]}
    with pytest.raises(ValueError, match="lv_mass"):
        size_correction(m)
    m["generator"]["anatomy"].pop("sizeCorrection")
    assert size_correction(m) is None


@pytest.mark.skipif(not GOLDEN.exists(), reason="no golden file")
def test_the_shipped_golden_frames_are_drawn_through_the_shipped_manifest(tmp_path):
    """A manifest edited by a tool (intervals, drawsize) without refreshing the golden file would
    leave the Swift parity test comparing against frames the bundle no longer draws."""
    from safetensors.numpy import load_file
    from ecg2cmr_train.bundle import refresh_golden_v2
    copy = tmp_path / GOLDEN.name
    copy.write_bytes(GOLDEN.read_bytes())
    refresh_golden_v2(copy, BUNDLE)
    a, b = load_file(str(copy)), load_file(str(GOLDEN))
    assert set(a) == set(b)
    for k in a:
        if ".gen." in k:
            assert np.abs(a[k].astype(np.float64) - b[k]).max() < 1e-4, k
