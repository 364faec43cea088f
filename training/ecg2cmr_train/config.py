"""Training configuration: JSON files in training/configs/ over the defaults below.

Paths in a config are relative to the repository root (the parent of training/) unless absolute.
Every stage has a step count and a wall-time cap (`minutes`); a stage stops at whichever comes
first, so a run on a busy 2-core machine still finishes in its budget. The baseline always runs
exactly as many steps as the aligned fine-tuning actually ran.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

DEFAULTS = {
    "name": "demo",
    "bundle_id": "demo-v1",
    "display_name": "ecg2cmr demo model v1",
    "run_dir": "training/runs/demo",
    "cohort": "data/cohort",
    "bundle_dir": "assets/models/demo-v1",
    "golden": "Tests/CardiacModelsTests/Fixtures/golden-demo-v1.safetensors",
    "model_card": "docs/MODEL_CARD.md",
    "seed": 0,
    "threads": 2,
    # Subjects used per split (null = all of that split). Preprocessing and every stage scale with
    # the number of subjects; the caps keep the run inside its budget on 2 cores.
    "max_subjects": {"train": None, "val": None, "test": None},
    "preprocess_workers": 2,
    "preprocessing": [
        {"op": "resample", "rate": 250},
        {"op": "baselineRemoval", "method": "median", "windowsSeconds": [0.2, 0.6]},
        {"op": "cropOrPad", "sampleCount": 2500},
        {"op": "normalise", "mode": "scale", "millivolts": 1.0, "clip": 8.0},
    ],
    "encoder": {"patch": 125, "width": 128, "depth": 3, "heads": 4, "mlp_ratio": 4, "proj_dim": 128},
    "mdm": {"steps": 3000, "minutes": 4.0, "batch": 64, "lr": 1e-3, "mask_ratio": 0.8,
            "decoder_width": 64, "decoder_depth": 1, "decoder_heads": 4},
    "cmr": {"steps": 2000, "minutes": 6.0, "batch": 32, "phases_per_subject": 3, "lr": 2e-3,
            "latent": 64, "encoder_channels": [32, 64, 96, 128], "latent_l2": 1e-3,
            "views": {"sax": {"size": 80, "base": 5, "channels": [64, 48, 32, 16, 8]},
                      "lax": {"size": 96, "base": 6, "channels": [64, 48, 32, 16, 8]}}},
    "align": {"steps": 3000, "minutes": 6.0, "batch": 128, "lr": 5e-4, "temperature": 0.1,
              "lambda": 0.75, "weighted": False, "weight_floor": 0.05},
    "heads": {"steps": 2000, "minutes": 4.5, "batch": 64, "lr": 1e-3, "encoder_lr_scale": 0.3,
              "align_weight": 0.5, "subtype_weight": 0.5, "phenotype_weight": 1.0},
    "baseline": {"lr": 1e-3, "encoder_lr_scale": 1.0},
    "prior": {"steps": 4000, "minutes": 2.0, "batch": 256, "lr": 1e-3, "hidden": 512, "layers": 4,
              "temb": 64, "diffusion_steps": 1000, "beta_start": 1e-4, "beta_end": 0.02,
              "sampling_steps": 50, "cond_dropout": 0.0, "max_subjects": 6000},
    "export": {"frames": 50, "golden_cases": 3, "golden_seeds": [101, 102, 103]},
    "evaluate": {"bootstrap": 1000, "generator_subjects": 100, "generator_seed_base": 5000},
    "checkpoint_seconds": 60,
}


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def resolve(path: str | Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else REPO_ROOT / p


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> dict:
    cfg = copy.deepcopy(DEFAULTS)
    if path is not None:
        p = Path(path)
        if not p.exists():
            alt = REPO_ROOT / "training" / p
            if alt.exists():
                p = alt
        if not p.exists():
            raise FileNotFoundError(f"config {path}: no such file")
        cfg = _merge(cfg, json.loads(p.read_text()))
        cfg["config_file"] = str(p)
    if overrides:
        cfg = _merge(cfg, overrides)
    return cfg
