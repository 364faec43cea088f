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
from ecg2cmr_train.model import DiffusionSchedule  # noqa: E402
from ecg2cmr_train.nets import clip_loss  # noqa: E402
from ecg2cmr_train.preprocess import preprocess  # noqa: E402


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from cohort.build import build
    from ecg2cmr_train.pipeline import main
    root = tmp_path_factory.mktemp("tiny")
    build(60, root / "cohort", seed=5, cine_frames=6, workers=1, log=lambda *a, **k: None)
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
    for stage in ("ecg", "cmr", "residuals", "mdm", "align", "heads", "baseline", "prior", "calibrate",
                  "validate", "export", "evaluate"):
        assert stage in timings, stage
        assert timings[stage]["seconds"] >= 0
    assert timings["baseline"]["steps"] <= cfg["heads"]["steps"] and timings["heads"]["steps"] <= cfg["heads"]["steps"]
    card = (root / "MODEL_CARD.md").read_text()
    assert "not for clinical use" in card and "synthetic" in card
    assert "| mean disease AUC" in card and "SSIM" in card and "floor" in card
    assert "shuffled" in card and "Label efficiency" in card


def test_bundle_round_trips_with_same_outputs(tiny_run):
    root, cfg = tiny_run
    enc, gen, manifest = load_bundle(root / "bundle")
    assert manifest["synthetic"] is True
    assert manifest["encoder"]["type"] == "beatvit1d" and manifest["generator"]["type"] == "anatomy"
    assert "embeddingThreshold" in manifest["outOfDistribution"]
    assert set(manifest["generator"]["informativeness"]) >= {"efVsTrueEF", "edAreaVsTrueEDV", "efVsModelEF"}
    assert [h["name"] for h in manifest["heads"]] == ["risk", "cm_subtype", "phenotype"]
    assert len(manifest["heads"][0]["outputs"]) == len(D.RISK_OUTPUTS)
    ph = manifest["heads"][2]["outputs"]
    assert all(o["std"] > 0 and o["referenceRange"][0] < o["referenceRange"][1] and "weak" in o for o in ph)
    # Same outputs as the trained checkpoint the pipeline exported.
    from ecg2cmr_train.pipeline import ecg_batch, open_run, trained_model
    run = open_run(cfg)
    trained = trained_model(run, "calibrated")    # the heads model with its risks recalibrated
    x = ecg_batch(run, np.arange(3))
    with torch.no_grad():
        a, b = trained(x), enc(x)
    for k in a["heads"]:
        assert torch.allclose(a["heads"][k], b["heads"][k], atol=1e-6)
    assert torch.allclose(a["log_sigma"]["phenotype"], b["log_sigma"]["phenotype"], atol=1e-6)
    assert manifest["encoder"]["wide"]["inputs"] == enc.wide.inputs
    assert all(o["interval80Scale"] > 0 for o in ph) and "uncertainty" in manifest["heads"][2]
    assert torch.allclose(a["embedding"], b["embedding"], atol=1e-6)
    # Golden vectors agree with the loaded bundle, and beat features with beats.py.
    from safetensors.numpy import load_file
    from ecg2cmr_train.beats import beat_features
    from ecg2cmr_train.model import generate_cine
    g = load_file(str(root / "golden.safetensors"))
    from ecg2cmr_train.bundle import STANDARD_LEADS
    f = beat_features(g["case0.input"], STANDARD_LEADS, 250.0, manifest["encoder"]["beats"])
    np.testing.assert_array_equal(f["peaks"], g["case0.peaks"].astype(int))
    np.testing.assert_allclose(f["median_beat"], g["case0.beats"], atol=1e-6)
    with torch.no_grad():
        out = enc({"beats": torch.from_numpy(g["case0.beats"])[None], "rhythm": torch.from_numpy(g["case0.rhythm"])[None]})
        np.testing.assert_allclose(out["heads"]["risk"][0].numpy(), g["case0.head.risk"], atol=1e-5)
        gm = manifest["generator"]
        sched = DiffusionSchedule(gm["diffusion"]["steps"], gm["diffusion"]["betaStart"], gm["diffusion"]["betaEnd"])
        res = generate_cine(gen, sched, gm["diffusion"]["samplingSteps"], gm["guidance"], out["heads"]["phenotype"][0],
                            out["embedding"][0], int(cfg["export"]["golden_seeds"][0]), torch.from_numpy(g["case0.gen.phases"]),
                            gm["pose"]["rotationDegrees"], gm["pose"]["shiftPixels"])
        np.testing.assert_allclose(res["residual"], g["case0.gen.residual"], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(res["frames"]["sax"], g["case0.gen.sax"], atol=1e-4)
    assert "case0.gradcam.phenotype.lv_ef" in g and "case0.gradcam_rhythm.risk.cad" in g


def test_new_seed_changes_pose_not_anatomy(tiny_run):
    root, _ = tiny_run
    enc, gen, manifest = load_bundle(root / "bundle")
    from ecg2cmr_train.model import generate_cine
    gm = manifest["generator"]
    sched = DiffusionSchedule(gm["diffusion"]["steps"], gm["diffusion"]["betaStart"], gm["diffusion"]["betaEnd"])
    a = torch.zeros(gen.head_size)
    e = torch.zeros(enc.config["proj_dim"])
    ph = torch.arange(4, dtype=torch.float32) / 4
    r1 = generate_cine(gen, sched, 5, 1.0, a, e, 1, ph, 30.0, 4.0)
    r2 = generate_cine(gen, sched, 5, 1.0, a, e, 2, ph, 30.0, 4.0)
    assert not np.allclose(r1["pose"], r2["pose"])
    # the anatomy is the decoder's first K inputs, identical for both seeds
    z1 = gen.view_latent("sax", a, torch.from_numpy(r1["residual"]))
    z2 = gen.view_latent("sax", a, torch.from_numpy(r2["residual"]))
    assert torch.equal(z1[: gen.anatomy], z2[: gen.anatomy])


def test_decoder_reads_only_its_anatomy_outputs(tiny_run):
    """The config's cmr.anatomy_outputs reach the manifest, and the decoder's latent does not move
    when a phenotype output it does not read (here the EF, which follows from EDV and ESV) changes."""
    root, cfg = tiny_run
    enc, gen, manifest = load_bundle(root / "bundle")
    outputs = manifest["generator"]["anatomy"]["outputs"]
    assert outputs == cfg["cmr"]["anatomy_outputs"] and "lv_ef" not in outputs
    assert manifest["generator"]["latentSize"] == len(outputs) + manifest["generator"]["residualSize"]
    ids = [o["id"] for o in next(h for h in manifest["heads"] if h["name"] == "phenotype")["outputs"]]
    a = torch.randn(gen.head_size)
    b = a.clone()
    b[ids.index("lv_ef")] += 3.0
    res = torch.randn(gen.residual * len(gen.view_names))
    assert torch.equal(gen.view_latent("sax", a, res), gen.view_latent("sax", b, res))
    c = a.clone()
    c[ids.index("lv_edv")] += 3.0
    assert not torch.equal(gen.view_latent("sax", a, res), gen.view_latent("sax", c, res))


def test_decoder_anatomy_outputs_are_checked():
    from ecg2cmr_train.pipeline import decoder_anatomy_index
    assert decoder_anatomy_index({"cmr": {}}) == list(range(len(D.PHENOTYPES)))
    assert decoder_anatomy_index({"cmr": {"anatomy_outputs": ["lv_esv", "lv_edv"]}}) == [1, 0]
    for bad in (["lv_edv", "lv_edv"], ["lv_volume"], []):
        with pytest.raises(ValueError, match="anatomy_outputs"):
            decoder_anatomy_index({"cmr": {"anatomy_outputs": bad}})


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


def test_phenotype_group_weights_per_output(tiny_run):
    """heads.phenotype_group_output_weights weights the disease groups more on the outputs it names
    (the chamber volumes the generator draws), the scalar group weight on the others; every output's
    weights average 1 on the training split, and a name that is no phenotype output is refused."""
    from ecg2cmr_train.pipeline import disease_groups, open_run, phenotype_subject_weights
    root, cfg = tiny_run
    run = open_run(cfg)
    ids = [oid for _, oid, _, _ in D.PHENOTYPES]
    w = phenotype_subject_weights(run, run.rows, 3.0, {"lv_edv": 16.0})
    assert w.shape == (len(run.rows), len(ids))
    g = disease_groups(run.cohort, run.rows)
    member = g["dcm"] | g["hcm"] | g["prior_mi"] | g["pulmonary_hypertension"]
    assert member.any() and (~member).any()
    train = np.isin(np.arange(len(run.rows)), run.pos["train"])
    np.testing.assert_allclose(w[train].mean(0), 1.0, rtol=1e-5)
    ratio = w[member].max(0) / w[~member].max(0)
    np.testing.assert_allclose(ratio[ids.index("lv_edv")], 16.0, rtol=1e-5)
    np.testing.assert_allclose(np.delete(ratio, ids.index("lv_edv")), 3.0, rtol=1e-5)
    # Without per-output weights: one weight per subject, as before.
    same = phenotype_subject_weights(run, run.rows, 3.0)
    assert np.allclose(same, same[:, :1])
    with pytest.raises(ValueError, match="not phenotype outputs"):
        phenotype_subject_weights(run, run.rows, 3.0, {"lv_volume": 2.0})
