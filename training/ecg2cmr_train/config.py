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


def merge(base: dict, over: dict) -> dict:
    """`base` with `over` laid on top, objects merged key by key (neither is modified)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


# Settings a config may add although the demo config does not set them (real-data bundles).
OPTIONAL = {"config_file": str, "disclaimer": str, "synthetic": bool}


class ConfigError(ValueError):
    """A config setting that does not exist or has the wrong type (names the file and the key)."""


def _kind(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    return {str: "string", list: "list", dict: "object"}.get(type(v), type(v).__name__)


def check_config(over: dict, base: dict = None, where: str = "", source: str = "config", optional: dict = None) -> None:
    """The config's schema is the demo config: every key of `over` must exist there (or in
    OPTIONAL at the top level) with the same JSON kind — a misspelt setting is an error, never a
    silently ignored one. `null` in the defaults means "unset": a number or a string may take
    its place. Lists (the preprocessing ops, lead names) are taken as they are."""
    import difflib
    base = DEFAULTS if base is None else base
    optional = OPTIONAL if optional is None else optional
    for key, value in over.items():
        path = f"{where}.{key}" if where else key
        if key not in base:
            if not where and key in optional:
                if value is not None and not isinstance(value, optional[key]):
                    raise ConfigError(f"{source}: {path} must be a {optional[key].__name__}, not {_kind(value)}")
                continue
            near = difflib.get_close_matches(key, list(base.keys()), n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise ConfigError(f"{source}: {path} is not a setting{hint}; known here: {', '.join(sorted(base))}")
        want, got = _kind(base[key]), _kind(value)
        if want == "null" and got in ("null", "number", "string"):
            continue
        if got != want:
            article = "an" if want[0] in "aeiou" else "a"
            raise ConfigError(f"{source}: {path} must be {article} {want} (as in training/configs/demo.json), not {got}")
        if want == "object":
            check_config(value, base[key], path, source, optional)


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
        try:
            user = json.loads(p.read_text())
        except json.JSONDecodeError as e:
            raise ConfigError(f"{p}: not JSON ({e})") from None
        if not isinstance(user, dict):
            raise ConfigError(f"{p}: a config is a JSON object of settings")
        check_config(user, source=str(p))
        cfg = merge(cfg, user)
        cfg["config_file"] = str(p)
    if overrides:
        check_config(overrides, source="overrides")
        cfg = merge(cfg, overrides)
    return cfg
