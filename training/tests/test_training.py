"""Tiny end-to-end run of the training pipeline: every stage a few steps on a tiny synthetic
cohort, then the exported bundle must round-trip (load manifest + safetensors → same outputs)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

TRAINING = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TRAINING))

from ecg2cmr_train import data as D  # noqa: E402
from ecg2cmr_train.bundle import load_bundle  # noqa: E402
from ecg2cmr_train.config import load_config  # noqa: E402
from ecg2cmr_train.metrics import auc, blood_pool_ef, psnr, ssim  # noqa: E402
from ecg2cmr_train.model import DiffusionSchedule, ddim_sample  # noqa: E402
from ecg2cmr_train.nets import clip_loss  # noqa: E402
from ecg2cmr_train.preprocess import preprocess  # noqa: E402


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from cohort.build import build
    from ecg2cmr_train.pipeline import main
    root = tmp_path_factory.mktemp("tiny")
    build(48, root / "cohort", seed=5, cine_frames=6, workers=1, log=lambda *a, **k: None)
    over = {"run_dir": str(root / "run"), "cohort": str(root / "cohort"), "bundle_dir": str(root / "bundle"),
            "golden": str(root / "golden.safetensors"), "model_card": str(root / "MODEL_CARD.md")}
    cfg_path = root / "tiny.json"
    cfg = json.loads((TRAINING / "configs" / "tiny.json").read_text())
    cfg.update(over)
    cfg_path.write_text(json.dumps(cfg))
    torch.set_num_threads(1)
    main(["--config", str(cfg_path)])
    return root, load_config(cfg_path)


def test_every_stage_ran_and_logged_wall_time(tiny_run):
    root, cfg = tiny_run
    timings = json.loads((root / "run" / "timings.json").read_text())
    for stage in ("preprocess", "cmr", "latents", "mdm", "align", "heads", "baseline", "prior", "validate",
                  "export", "evaluate"):
        assert stage in timings, stage
        assert timings[stage]["seconds"] >= 0
    assert timings["baseline"]["steps"] == timings["heads"]["steps"] == cfg["heads"]["steps"]
    card = (root / "MODEL_CARD.md").read_text()
    assert "not for clinical use" in card and "synthetic" in card
    assert "| mean disease AUC" in card and "SSIM" in card


def test_bundle_round_trips_with_same_outputs(tiny_run):
    root, cfg = tiny_run
    enc, gen, manifest = load_bundle(root / "bundle")
    assert manifest["synthetic"] is True
    assert [h["name"] for h in manifest["heads"]] == ["risk", "cm_subtype", "phenotype"]
    assert len(manifest["heads"][0]["outputs"]) == len(D.RISK_OUTPUTS)
    ph = manifest["heads"][2]["outputs"]
    assert all(o["std"] > 0 and o["referenceRange"][0] < o["referenceRange"][1] for o in ph)
    # Same outputs as the trained checkpoint the pipeline exported.
    from ecg2cmr_train.pipeline import Pipeline
    p = Pipeline(cfg)
    trained = p.trained_model("heads")
    x = torch.from_numpy(np.stack([preprocess(p.cohort.ecg_mv([r])[0], 250, cfg["preprocessing"])[0]
                                   for r in p.rows[:3]]))
    with torch.no_grad():
        a, b = trained(x), enc(x)
    for k in a["heads"]:
        assert torch.allclose(a["heads"][k], b["heads"][k], atol=1e-6)
    assert torch.allclose(a["embedding"], b["embedding"], atol=1e-6)
    # Golden vectors agree with the loaded bundle.
    from safetensors.numpy import load_file
    g = load_file(str(root / "golden.safetensors"))
    with torch.no_grad():
        out = enc(torch.from_numpy(g["case0.input"]).unsqueeze(0))
        np.testing.assert_allclose(out["heads"]["risk"][0].numpy(), g["case0.head.risk"], atol=1e-5)
        sched = DiffusionSchedule(manifest["generator"]["diffusion"]["steps"],
                                  manifest["generator"]["diffusion"]["betaStart"],
                                  manifest["generator"]["diffusion"]["betaEnd"])
        z = gen.destandardise(ddim_sample(gen.prior, sched, out["embedding"],
                                          torch.from_numpy(g["case0.gen.noise"]).unsqueeze(0),
                                          manifest["generator"]["diffusion"]["samplingSteps"]))
        np.testing.assert_allclose(z[0].numpy(), g["case0.gen.latent"], rtol=1e-4, atol=1e-4)
    assert "case0.gradcam.phenotype.lv_ef" in g


def test_fast_preprocessing_matches_reference():
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.standard_normal((2, 12, 2500)), -1) * 0.01 + np.round(rng.standard_normal((2, 12, 2500)) * 200) / 200
    ops = load_config(None)["preprocessing"]
    fast = D.fast_preprocess(x, 250.0, ops)
    ref = np.stack([preprocess(x[i], 250.0, ops)[0] for i in range(2)])
    np.testing.assert_allclose(fast, ref, atol=1e-6)


def test_clip_loss_prefers_matching_pairs():
    torch.manual_seed(0)
    c = torch.randn(16, 8)
    matched = clip_loss(c + 0.01 * torch.randn(16, 8), c)
    shuffled = clip_loss(c[torch.randperm(16)], c)
    assert matched < shuffled
    wm = clip_loss(c + 0.01 * torch.randn(16, 8), c, weighted=True)
    assert torch.isfinite(wm) and wm < shuffled


def test_metrics_on_known_cases():
    y = np.array([0, 0, 1, 1])
    assert auc(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert auc(y, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    img = np.random.default_rng(1).random((32, 32))
    assert ssim(img, img) == pytest.approx(1.0)
    assert psnr(img, np.clip(img + 0.1, 0, 1)) < 25
    # A bright disc shrinking to half its area → area EF 50 %.
    yy, xx = np.mgrid[0:40, 0:40]
    r2 = (yy - 19.5) ** 2 + (xx - 19.5) ** 2
    frames = np.stack([(r2 <= 100).astype(float), (r2 <= 50).astype(float)])
    assert blood_pool_ef(frames) == pytest.approx(50.0, abs=3.0)
