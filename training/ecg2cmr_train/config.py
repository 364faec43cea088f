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

# The shipped demo config is the default: every other config (tiny, a user's) overrides it, so
# each setting has one home.
DEFAULTS = json.loads((REPO_ROOT / "training" / "configs" / "demo.json").read_text())


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
