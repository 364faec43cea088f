"""Training on a real paired ECG–CMR dataset from the cache `ecg2cmr prepare` writes.

    ecg2cmr prepare dataset.csv --model assets/models/demo-v2 --out cache      # Swift readers + bundle ops
    cd training && python -m ecg2cmr_train.realdata --cache ../cache --out ../assets/models/my-model \\
        --config configs/real.json [--device cuda] [--steps 2000]

The ECG side is exactly what inference sees: the cache holds each ECG after the engine's own
readers and the bundle's preprocessing (`ecg/<subject>.npy`, float32 [leads, samples]; sha256 in
`index.json`, checked here); the beat features are computed by beats.py (= SignalKit.BeatExtractor,
tested equal). The CMR side is read here: a DICOM series folder (pydicom), a NIfTI file (nibabel)
or a `.npy` array, the mid-ventricular slice of a stack, cropped around the heart (the region that
moves over the cardiac cycle) and resampled to the config's size and frame count.

Model: the project's beat-aware ECG encoder (model.BeatECGEncoder) with a `risk` sigmoid head over
the dataset's `label:` columns and a `phenotype` regression head over its `phenotype:` columns
(missing values are masked out of the loss), trained jointly with InfoNCE alignment to a cine
encoder per view (nets.CineEncoder, discarded after training); one process or N under torchrun
(DistributedDataParallel, as pipeline.py: the same weights as one process). The bundle (no generator) is
written with bundle.write_bundle; heads carry validation AUC / r and the phenotype mean / std.
docs/training-on-real-data.md walks through UK Biobank and MIMIC-IV-ECG.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .beats import RHYTHM_FEATURES, beat_features
from .bundle import WEAK_AUC, file_sha256, write_bundle
from .config import check_config, merge
from .distributed import Parallel, StepModule
from . import loop
from .loop import log
from .metrics import auc
from .model import BeatECGEncoder
from .nets import CineEncoder, clip_loss

DEFAULTS = {
    "beats": {"detectionLeads": ["II", "I", "V5", "V2"], "preSamples": 64, "postSamples": 136},
    "encoder": {"patch": 25, "width": 64, "depth": 2, "heads": 4, "mlp_ratio": 2, "proj_dim": 32},
    "cmr": {"size": 64, "frames": 12, "crop_fraction": 0.55, "encoder_channels": [8, 16, 16, 16]},
    "train": {"steps": 2000, "batch": 32, "lr": 5e-4, "temperature": 0.1, "lambda": 0.75, "align_weight": 1.0,
              "label_weight": 1.0, "phenotype_weight": 1.0, "seed": 0},
}


class CacheError(ValueError):
    pass


# ----------------------------------------------------------------------------------------------
# CMR


def read_cine(path: str | Path) -> tuple[np.ndarray, str]:
    """A cine as float32 [frames, rows, cols] and the sha256 of what was read (files in name order
    for a DICOM folder). Stacks (several slice positions) give their middle slice."""
    p = Path(path)
    if p.is_dir():
        import pydicom
        files = sorted(f for f in p.iterdir() if f.is_file())
        if not files:
            raise CacheError(f"{p}: empty DICOM series folder")
        h = hashlib.sha256()
        frames = []
        for f in files:
            h.update(f.read_bytes())
            ds = pydicom.dcmread(str(f))
            pos = float(getattr(ds, "SliceLocation", 0.0) or 0.0)
            t = float(getattr(ds, "TriggerTime", 0.0) or 0.0)
            frames.append((pos, t, int(getattr(ds, "InstanceNumber", 0) or 0), ds.pixel_array.astype(np.float32)))
        positions = sorted({f[0] for f in frames})
        mid = positions[len(positions) // 2]
        chosen = sorted((f for f in frames if f[0] == mid), key=lambda f: (f[1], f[2]))
        shapes = {c[3].shape for c in chosen}
        if len(shapes) != 1:
            raise CacheError(f"{p}: frames of different sizes {sorted(shapes)}")
        return np.stack([c[3] for c in chosen]), h.hexdigest()
    name = p.name.lower()
    if name.endswith(".nii") or name.endswith(".nii.gz"):
        import nibabel as nib
        a = np.asarray(nib.load(str(p)).dataobj, dtype=np.float32)
        if a.ndim == 4:                     # x, y, slice, time
            a = a[:, :, a.shape[2] // 2, :]
        if a.ndim != 3:
            raise CacheError(f"{p}: NIfTI cine must be 3-D (x, y, t) or 4-D (x, y, z, t), got {a.shape}")
        return np.transpose(a, (2, 1, 0)), file_sha256(p)
    if name.endswith(".npy"):
        a = np.load(p, allow_pickle=False).astype(np.float32)
        if a.ndim != 3:
            raise CacheError(f"{p}: .npy cine must be [frames, rows, cols], got {a.shape}")
        return a, file_sha256(p)
    raise CacheError(f"{p}: not a DICOM series folder, .nii, .nii.gz or .npy")


def heart_crop(cine: np.ndarray, size: int, frames: int, fraction: float) -> np.ndarray:
    """uint8 [frames, size, size]: a square of `fraction` × the shorter image side centred on the
    heart, found as the centroid of the strongest temporal variation (the blood pool and walls move
    over the cycle, chest wall and liver barely do), intensities to [0, 255] by the 1st–99th
    percentile, frames resampled by nearest phase."""
    from scipy.ndimage import gaussian_filter
    f, h, w = cine.shape
    if f < 2 or h < 8 or w < 8:
        raise CacheError(f"cine of shape {cine.shape} is too small (needs ≥ 2 frames of ≥ 8×8)")
    motion = gaussian_filter(cine.std(axis=0), sigma=max(1.0, 0.03 * min(h, w)))
    top = motion >= np.quantile(motion, 0.98)
    yy, xx = np.nonzero(top)
    cy, cx = float(yy.mean()), float(xx.mean())
    side = max(8, int(round(fraction * min(h, w))))
    y0 = int(np.clip(round(cy - side / 2), 0, h - side))
    x0 = int(np.clip(round(cx - side / 2), 0, w - side))
    box = cine[:, y0:y0 + side, x0:x0 + side]
    lo, hi = np.percentile(box, 1), np.percentile(box, 99)
    box = np.clip((box - lo) / max(hi - lo, 1e-6), 0, 1)
    idx = np.minimum((np.arange(frames) * f / frames).astype(int), f - 1)
    t = torch.from_numpy(box[idx][:, None].astype(np.float32))
    out = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)[:, 0]
    return (out.numpy() * 255 + 0.5).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# the prepared cache


class PreparedDataset:
    """index.json + ecg/*.npy of `ecg2cmr prepare`, checked against their sha256, with beat
    features, cropped cines, labels and phenotypes as arrays (NaN = missing)."""

    def __init__(self, cache: str | Path, cfg: dict):
        self.cache = Path(cache)
        index_path = self.cache / "index.json"
        if not index_path.exists():
            raise CacheError(f"{index_path}: missing (run `ecg2cmr prepare DATASET --out {self.cache}`)")
        self.index = json.loads(index_path.read_text())
        if self.index.get("formatVersion") != 1:
            raise CacheError(f"{index_path}: formatVersion {self.index.get('formatVersion')} is not 1")
        self.input = self.index["input"]
        self.leads = list(self.input["leads"])
        self.rate = float(self.input["samplingRate"])
        self.label_ids = list(self.index["labels"])
        self.phenotype_ids = list(self.index["phenotypes"])
        subjects = self.index["subjects"]
        if not subjects:
            raise CacheError(f"{index_path}: no prepared subjects")
        self.subjects = [s["subject"] for s in subjects]
        self.split = np.array([s["split"] for s in subjects])
        c = cfg["cmr"]
        beats, rhythm, self.cmr_sha256, self.has_cmr = [], [], [], []
        cines = {"sax": [], "lax": []}
        for s in subjects:
            npy = self.cache / s["ecg"]["npy"]
            if file_sha256(npy) != s["ecg"]["npySHA256"]:
                raise CacheError(f"{npy}: sha256 differs from index.json (cache changed after prepare)")
            x = np.load(npy, allow_pickle=False)
            if x.shape != (len(self.leads), int(self.input["sampleCount"])):
                raise CacheError(f"{npy}: shape {x.shape}, index.json says {len(self.leads)} × {self.input['sampleCount']}")
            f = beat_features(x, self.leads, self.rate, cfg["beats"])
            beats.append(f["median_beat"])
            rhythm.append(f["rhythm"])
            digests = {}
            # ECG-only subjects (MIMIC-IV-ECG, or no CMR visit) train the heads but not the alignment.
            has = s.get("sax") is not None and s.get("lax") is not None
            for v in ("sax", "lax"):
                if has:
                    cine, digests[v] = read_cine(s[v])
                    cines[v].append(heart_crop(cine, int(c["size"]), int(c["frames"]), float(c["crop_fraction"])))
                else:
                    cines[v].append(np.zeros((int(c["frames"]), int(c["size"]), int(c["size"])), dtype=np.uint8))
            self.has_cmr.append(has)
            self.cmr_sha256.append(digests)
        self.beats = torch.from_numpy(np.stack(beats).astype(np.float32))
        self.rhythm = torch.from_numpy(np.stack(rhythm).astype(np.float32))
        self.cines = {v: torch.from_numpy(np.stack(a)) for v, a in cines.items()}
        self.has_cmr = torch.tensor(self.has_cmr)

        def table(key, ids):
            return np.array([[np.nan if s[key].get(i) is None else float(s[key][i]) for i in ids] for s in subjects],
                            dtype=np.float32).reshape(len(subjects), len(ids))
        self.labels = table("labels", self.label_ids)
        self.phenotypes = table("phenotypes", self.phenotype_ids)
        train = self.split == "train"
        if not train.any():
            raise CacheError(f"{index_path}: no subject in the train split")
        self.ph_mean = np.nan_to_num(np.nanmean(np.where(train[:, None], self.phenotypes, np.nan), axis=0))
        sd = np.nanstd(np.where(train[:, None], self.phenotypes, np.nan), axis=0)
        self.ph_std = np.where(np.isfinite(sd) & (sd > 1e-6), sd, 1.0)

    def rows(self, split: str) -> np.ndarray:
        return np.nonzero(self.split == split)[0]


# ----------------------------------------------------------------------------------------------
# training


class CMRSide(torch.nn.Module):
    """One CineEncoder per view, concatenated and projected into the ECG embedding space."""

    def __init__(self, frames: int, size: int, channels, dim: int):
        super().__init__()
        self.views = torch.nn.ModuleDict({v: CineEncoder(frames, size, channels, dim) for v in ("sax", "lax")})
        self.proj = torch.nn.Linear(2 * dim, dim)

    def forward(self, cines: dict) -> torch.Tensor:
        return self.proj(torch.cat([self.views[v](cines[v].float() / 255.0) for v in ("sax", "lax")], 1))


# Bundle identity settings a real-data config may give (written into the manifest).
OPTIONAL_SETTINGS = {"bundle_id": str, "display_name": str, "synthetic": bool, "disclaimer": str}


def train(cache, out, cfg: dict | None = None, device: str = "auto", precision: str = "auto") -> dict:
    # The schema is DEFAULTS: a misspelt or mistyped setting is refused, not ignored.
    check_config(cfg or {}, base=DEFAULTS, source="real-data config", optional=OPTIONAL_SETTINGS)
    cfg = merge(DEFAULTS, cfg or {})
    par = Parallel(device, precision)
    t = cfg["train"]
    torch.manual_seed(int(t["seed"]))
    rng = np.random.default_rng(int(t["seed"]))
    ds = PreparedDataset(cache, cfg)
    e, c = cfg["encoder"], cfg["cmr"]
    beat = int(cfg["beats"]["preSamples"]) + int(cfg["beats"]["postSamples"])
    heads = {}
    if ds.label_ids:
        heads["risk"] = len(ds.label_ids)
    if ds.phenotype_ids:
        heads["phenotype"] = len(ds.phenotype_ids)
    model = BeatECGEncoder(len(ds.leads), beat, e["patch"], len(RHYTHM_FEATURES), e["width"], e["depth"], e["heads"],
                           e["mlp_ratio"], e["proj_dim"], heads).to(par.device)
    cmr = CMRSide(int(c["frames"]), int(c["size"]), c["encoder_channels"], int(e["proj_dim"])).to(par.device)
    params = list(model.parameters()) + list(cmr.parameters())
    opt = torch.optim.AdamW(params, lr=float(t["lr"]), weight_decay=0.01)
    labels = par.to(ds.labels)
    ph = par.to(((ds.phenotypes - ds.ph_mean) / ds.ph_std).astype(np.float32))
    train_rows = ds.rows("train")
    batch = min(int(t["batch"]), len(train_rows))
    loop.QUIET = not par.main
    log(f"real data: {len(ds.subjects)} subjects ({len(train_rows)} train, {int(ds.has_cmr.sum())} with CMR), "
        f"labels {ds.label_ids}, "
        f"phenotypes {ds.phenotype_ids}, device {par.device}")

    # Under torchrun each rank computes its slice of the global batch (distributed.py): the
    # alignment over the whole batch from gathered projections, masked means over the global
    # count of known values (× world size, which the DDP average divides out).
    net = par.wrap(StepModule({"model": model, "cmr": cmr}, lambda x, cines: (model(x), cmr(cines))))

    def loss_of(pos):
        sl = par.local(len(pos))
        p = pos[sl]
        x = {"beats": par.to(ds.beats[p]), "rhythm": par.to(ds.rhythm[p])}
        with par.autocast():
            o, c = net(x, {v: par.to(ds.cines[v][p]) for v in ds.cines})
            loss = torch.zeros((), device=par.device)
            paired = ds.has_cmr[pos]
            if int(paired.sum()) >= 2 and float(t["align_weight"]) > 0:
                k = par.to(paired)
                loss = loss + float(t["align_weight"]) * clip_loss(
                    par.gather(o["embedding"].float())[k], par.gather(c.float())[k],
                    float(t["temperature"]), float(t["lambda"]))
            for name, target, weight, fn in (("risk", labels, "label_weight", F.binary_cross_entropy_with_logits),
                                             ("phenotype", ph, "phenotype_weight", F.mse_loss)):
                if name not in heads:
                    continue
                n = int(torch.isfinite(target[par.to(pos)]).sum())
                y = target[par.to(p)]
                known = torch.isfinite(y)
                if n and known.any():
                    loss = loss + float(t[weight]) * fn(o["heads"][name].float()[known], y[known],
                                                        reduction="sum") * (par.world / n)
        return loss

    model.train()
    cmr.train()
    steps = int(t["steps"])
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = float(t["lr"]) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / max(steps, 1))))
        pos = torch.from_numpy(rng.choice(train_rows, size=batch, replace=False))
        loss = loss_of(pos)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()} at step {step}")
        par.step(loss, opt, params)
        if step % 50 == 0 or step == steps - 1:
            log(f"  step {step + 1}/{steps} loss {loss.item():.4f}")
    model.eval()
    manifest = export(ds, model.cpu(), out, cfg) if par.main else None
    par.barrier()
    par.close()
    return manifest


@torch.no_grad()
def _validation(ds: PreparedDataset, model: BeatECGEncoder) -> dict:
    rows = ds.rows("val")
    if len(rows) == 0:
        return {}
    o = model({"beats": ds.beats[rows], "rhythm": ds.rhythm[rows]})
    out = {}
    if "risk" in o["heads"]:
        p = torch.sigmoid(o["heads"]["risk"]).numpy()
        for j, lid in enumerate(ds.label_ids):
            y = ds.labels[rows, j]
            k = np.isfinite(y)
            out[("risk", lid)] = auc(y[k], p[k, j]) if k.sum() > 1 and 0 < y[k].sum() < k.sum() else float("nan")
    if "phenotype" in o["heads"]:
        v = o["heads"]["phenotype"].numpy()
        for j, pid in enumerate(ds.phenotype_ids):
            y = ds.phenotypes[rows, j]
            k = np.isfinite(y)
            out[("phenotype", pid)] = float(np.corrcoef(y[k], v[k, j])[0, 1]) if k.sum() > 2 and np.std(y[k]) > 0 \
                else float("nan")
    return out


def export(ds: PreparedDataset, model: BeatECGEncoder, out, cfg: dict) -> dict:
    val = _validation(ds, model)

    def num(x):
        return round(float(x), 4) if x is not None and np.isfinite(x) else None
    heads = []
    if ds.label_ids:
        heads.append({"name": "risk", "kind": "sigmoid", "outputs": [
            {"id": lid, "label": lid, "validationAUC": num(val.get(("risk", lid))),
             "weak": bool(not np.isfinite(val.get(("risk", lid), float("nan"))) or val[("risk", lid)] < WEAK_AUC)}
            for lid in ds.label_ids]})
    if ds.phenotype_ids:
        heads.append({"name": "phenotype", "kind": "regression", "outputs": [
            {"id": pid, "label": pid, "mean": round(float(ds.ph_mean[j]), 6), "std": round(float(ds.ph_std[j]), 6),
             "validationR": num(val.get(("phenotype", pid))),
             "weak": bool(not np.isfinite(val.get(("phenotype", pid), float("nan"))) or val[("phenotype", pid)] < 0.5)}
            for j, pid in enumerate(ds.phenotype_ids)]})
    synthetic = bool(cfg.get("synthetic", False))
    fields = {
        "id": cfg.get("bundle_id", Path(out).name),
        "displayName": cfg.get("display_name", Path(out).name),
        "synthetic": synthetic,
        "disclaimer": cfg.get("disclaimer", "Research model trained on the dataset named in training.dataset; "
                                            "not validated for clinical use."),
        "input": {"leads": ds.leads, "samplingRate": ds.input["samplingRate"], "sampleCount": ds.input["sampleCount"],
                  "preprocessing": ds.input["preprocessing"]},
        "encoder": {"beats": dict(cfg["beats"])},
        "heads": heads,
        "training": {"pipeline": "training/ecg2cmr_train/realdata.py", "dataset": ds.index["dataset"],
                     "preparedWith": ds.index["model"], "subjects": len(ds.subjects),
                     "withCMR": int(ds.has_cmr.sum()),
                     "train": int(len(ds.rows("train"))), "val": int(len(ds.rows("val"))),
                     "test": int(len(ds.rows("test")))},
    }
    manifest = write_bundle(out, model, manifest_fields=fields)
    log(f"bundle {out}: heads {[h['name'] for h in heads]}")
    return manifest


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", required=True, help="folder written by `ecg2cmr prepare`")
    ap.add_argument("--out", required=True, help="bundle folder to write")
    ap.add_argument("--config", default=None, help="JSON overriding realdata.DEFAULTS")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    ap.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto")
    a = ap.parse_args(argv)
    cfg = json.loads(Path(a.config).read_text()) if a.config else {}
    if a.steps is not None:
        cfg = merge(cfg, {"train": {"steps": a.steps}})
    train(a.cache, a.out, cfg, a.device, a.precision)


if __name__ == "__main__":
    main()
