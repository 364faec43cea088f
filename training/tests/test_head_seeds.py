"""A seed ensemble of the heads stage folded into one model (model.fold_head_seeds): the folded
model's logits, phenotype means and log σ are exactly the mean of the K seeds' — so the bundle, the
Swift engine and every later stage read it as one ordinary model with a K × wider wide branch."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ecg2cmr_train.model import BeatECGEncoder, fold_head_seeds  # noqa: E402

HEADS = {"risk": 5, "cm_subtype": 3, "phenotype": 4}


def small(wide: int = 8) -> BeatECGEncoder:
    return BeatECGEncoder(12, 40, 10, 10, 16, 1, 2, 2.0, 8, HEADS, wide_hidden=wide, wide_stride=2,
                          sigma_heads=["phenotype"])


def seeds(k: int):
    torch.manual_seed(0)
    base = small()
    shared = {n: t for n, t in base.state_dict().items() if not n.startswith(("heads.", "sigma.", "wide.fc"))}
    out = []
    for s in range(k):
        torch.manual_seed(100 + s)
        m = small()
        m.load_state_dict({**m.state_dict(), **shared})
        out.append(m.eval())
    return out


def test_folded_model_outputs_the_mean_of_its_seeds():
    models = seeds(4)
    folded = small(wide=4 * 8)
    folded.load_state_dict(fold_head_seeds([m.state_dict() for m in models], width=16))
    folded.eval()
    torch.manual_seed(7)
    x = {"beats": torch.randn(3, 12, 40), "rhythm": torch.randn(3, 10)}
    with torch.no_grad():
        outs = [m(x) for m in models]
        got = folded(x)
    for name in HEADS:
        want = torch.stack([o["heads"][name] for o in outs]).mean(0)
        torch.testing.assert_close(got["heads"][name], want, rtol=1e-5, atol=1e-5)
    want_ls = torch.stack([o["log_sigma"]["phenotype"] for o in outs]).mean(0)
    torch.testing.assert_close(got["log_sigma"]["phenotype"], want_ls, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got["pooled"], outs[0]["pooled"])
    # and it is not simply seed 0 (so the check can fail)
    assert (got["heads"]["risk"] - outs[0]["heads"]["risk"]).abs().max() > 1e-3


def test_fold_refuses_seeds_that_do_not_share_the_encoder():
    models = seeds(2)
    bad = models[1].state_dict()
    bad["pool.query"] = bad["pool.query"] + 1.0
    with pytest.raises(ValueError, match="pool.query"):
        fold_head_seeds([models[0].state_dict(), bad], width=16)
    with pytest.raises(ValueError, match="no states"):
        fold_head_seeds([], width=16)
