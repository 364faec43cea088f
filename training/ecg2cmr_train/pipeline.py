"""End-to-end training of the demo bundle, model v2 (every stage restartable, wall time logged).

    cd training && python -m ecg2cmr_train.pipeline --config configs/demo.json

Each stage is a function with explicit inputs and outputs: it reads the files earlier stages wrote
in the run folder and writes its own, so `--only STAGE` reruns exactly that stage, and stages
that do not depend on each other can run in parallel processes (`cmr` beside `mdm`/`align`/…).

  ecg        ECGs → the bundle's preprocessing → beat features (median beat per lead + RR
             statistics, beats.py = SignalKit.BeatExtractor)               → cache/beats_*.npz
  cmr        CMR conditional autoencoder on pose-normalised cines: frame decoder (anatomy, residual,
             phase) → frame, residual encoder (small VAE)                   → cmr.pt
  residuals  frozen residual encoder → per-subject residual [2R], standardised → cmr_residuals.npz
  mdm        masked modelling of the median-beat tokens (MMCL's MDM, mask ratio 0.8) → mdm.pt
  align      InfoNCE, ECG projection ↔ CMR representation (true anatomy + residual) → align.pt
  heads      fine-tune encoder + risk / subtype / phenotype heads (alignment kept as auxiliary)
  baseline   the same model from random initialisation on ECG alone, same budget and batches
  floors     the simple models to beat (CV linear, gradient-boosted trees with measurements, a
             plain 1-D CNN), fitted on the training split               → floors.npz (floors.py)
  prior      ECG-conditioned DDPM over the standardised residuals, condition dropout (CFG)
  calibrate  Platt scaling of the risks, split-conformal 80 % interval scales (validation split)
  validate   validation metrics, weak flags, bands, out-of-distribution calibration, generator
             informativeness                                                → validation.json
  export     assets/models/<id>/ + golden vectors
  evaluate   held-out test split → docs/MODEL_CARD.md (evaluate.py)
"""
from __future__ import annotations

import argparse
import json
import math
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import data as D
from . import loop
from .config import load_config, resolve
from .distributed import Parallel, StepModule
from .loop import EarlyStopping, Timings, atomic_save, log, train_stage
from .model import AnatomyCMRGenerator, BeatECGEncoder, DiffusionSchedule, LatentPrior, fold_head_seeds
from .nets import CineEncoder, MDMDecoder, clip_loss, mdm_loss_beats

STAGES = ["ecg", "cmr", "residuals", "mdm", "align", "heads", "baseline", "floors", "prior", "calibrate",
          "validate", "export", "evaluate"]


def stream_seed(seed: int, name: str) -> int:
    """Named seed streams: one integer per (run seed, purpose), instead of magic offsets."""
    return (int(seed) * 1_000_003 + zlib.crc32(name.encode())) % (2 ** 31 - 1)


@dataclass
class Run:
    """What every stage shares: the config, the run folder, the cohort and the subject selection."""
    cfg: dict
    run_dir: Path
    cohort: D.Cohort
    targets: D.Targets
    splits: dict
    rows: np.ndarray
    pos: dict
    ph_mean: np.ndarray
    ph_std: np.ndarray
    cohort_complete: bool
    timings: Timings
    cache: dict = field(default_factory=dict)
    par: Parallel | None = None

    def __post_init__(self):
        if self.par is None:
            self.par = Parallel("cpu")

    @property
    def seed(self) -> int:
        return int(self.cfg["seed"])

    def rng(self, name: str, step: int = 0) -> np.random.Generator:
        return np.random.default_rng([stream_seed(self.seed, name), step])

    def torch_seed(self, name: str) -> None:
        torch.manual_seed(stream_seed(self.seed, name))

    def batch_pos(self, name: str, step: int, split: str, size: int) -> np.ndarray:
        pool = self.pos[split]
        return self.rng(name, step).choice(pool, size=min(size, len(pool)), replace=False)

    def load_done(self, name: str) -> dict:
        path = self.run_dir / f"{name}.pt"
        if not path.exists():
            raise FileNotFoundError(f"stage {name} has not finished ({path} missing)")
        return torch.load(path, weights_only=False, map_location="cpu")

    @property
    def beat_spec(self) -> dict:
        return self.cfg["beats"]

    @property
    def beat_samples(self) -> int:
        return int(self.beat_spec["preSamples"]) + int(self.beat_spec["postSamples"])

    @property
    def samples(self) -> int:
        return int(next(op["sampleCount"] for op in self.cfg["preprocessing"] if op["op"] == "cropOrPad"))

    @property
    def rate(self) -> float:
        return float(next((op["rate"] for op in self.cfg["preprocessing"] if op["op"] == "resample"), self.cohort.rate))


def open_run(cfg: dict, par: Parallel | None = None) -> Run:
    run_dir = resolve(cfg["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    cohort = D.Cohort(resolve(cfg["cohort"]))
    targets = D.Targets(cohort)
    # The subject selection is fixed at the first start of a run, so a restart keeps matching the
    # caches and checkpoints.
    sel_path = run_dir / "selection.npz"
    if par is not None and not par.main:
        par.barrier()                       # rank 0 writes the selection first
    if sel_path.exists():
        z = np.load(sel_path)
        splits = {s: z[s] for s in ("train", "val", "test")}
        if int(z["cohort_n"]) != cohort.n:
            raise RuntimeError(f"{sel_path} was made for a cohort of {int(z['cohort_n'])} subjects, "
                               f"{cohort.path} has {cohort.n}; use a new run_dir")
        complete = bool(z["complete"])
    else:
        splits = cohort.select(cfg["max_subjects"])
        complete = cohort.ready
        np.savez(sel_path, cohort_n=cohort.n, complete=complete, **splits)
    if par is not None and par.main:
        par.barrier()
    rows = np.concatenate([splits[s] for s in ("train", "val", "test")])
    a, b = len(splits["train"]), len(splits["train"]) + len(splits["val"])
    pos = {"train": np.arange(0, a), "val": np.arange(a, b), "test": np.arange(b, len(rows))}
    ph_mean, ph_std = targets.phenotype_stats(splits["train"])
    log(f"cohort {cohort.path}: {cohort.n} subjects, using train {a}, val {b - a}, test {len(rows) - b}; "
        f"cine frames {cohort.frames}")
    return Run(cfg, run_dir, cohort, targets, splits, rows, pos, ph_mean, ph_std, complete, Timings(run_dir), par=par)


# ----------------------------------------------------------------------------------------------
# inputs of the ECG side


def ecg_inputs(run: Run) -> dict:
    """Beat features of every selected row (stage `ecg`'s output), as tensors in RAM."""
    if "beats" not in run.cache:
        z = D.build_beat_cache(run.cohort, run.rows, run.cfg["preprocessing"], run.beat_spec,
                               run.run_dir / "cache", int(run.cfg["preprocess_workers"]), log=log)
        run.cache["beats"] = torch.from_numpy(np.asarray(z["beats"]))          # float16
        run.cache["rhythm"] = torch.from_numpy(np.asarray(z["rhythm"], dtype=np.float32))
        run.cache["beat_count"] = np.asarray(z["beat_count"])
    return run.cache


def ecg_batch(run: Run, pos) -> dict:
    c = ecg_inputs(run)
    t = torch.as_tensor(np.asarray(pos))
    return {"beats": c["beats"][t].float(), "rhythm": c["rhythm"][t]}


def new_encoder(run: Run, head_sizes=None, wide_hidden: int | None = None) -> BeatECGEncoder:
    """The encoder alone (mdm, align), or with `head_sizes` the fine-tuned model: heads, the wide
    branch beside the pooled vector and the phenotype head's log-σ layer (config `encoder.wide_*`;
    `wide_hidden` overrides the width, as a folded seed ensemble has K × it)."""
    e = run.cfg["encoder"]
    if not head_sizes:
        return BeatECGEncoder(12, run.beat_samples, e["patch"], len(D.RHYTHM_FEATURES), e["width"], e["depth"],
                              e["heads"], e["mlp_ratio"], e["proj_dim"], {})
    return BeatECGEncoder(12, run.beat_samples, e["patch"], len(D.RHYTHM_FEATURES), e["width"], e["depth"],
                          e["heads"], e["mlp_ratio"], e["proj_dim"], head_sizes,
                          wide_hidden=int(e["wide_hidden"] if wide_hidden is None else wide_hidden),
                          wide_stride=int(e["wide_stride"]), sigma_heads=["phenotype"])


HEAD_SIZES = {"risk": len(D.RISK_OUTPUTS), "cm_subtype": len(D.SUBTYPES), "phenotype": len(D.PHENOTYPES)}


def trained_model(run: Run, name: str) -> BeatECGEncoder:
    """A fine-tuned model by stage name: "heads", "baseline", or "calibrated" (the heads model with
    its risk logits recalibrated on validation — the one that is exported and evaluated)."""
    state = run.load_done(name)["modules"]["model"]
    fc1 = state.get("wide.fc1.weight")
    m = new_encoder(run, HEAD_SIZES, None if fc1 is None else int(fc1.shape[0]))   # the state's own width
    m.load_state_dict(state)
    return m.eval()


@torch.no_grad()
def predict(run: Run, model: BeatECGEncoder, pos, batch: int = 512) -> dict:
    model.eval()
    dev = next(model.parameters()).device
    outs = {"embedding": [], "pooled": []}
    heads = {k: [] for k in model.heads}
    sig = {k: [] for k in getattr(model, "sigma", {})}
    for i in range(0, len(pos), batch):
        o = model({k: v.to(dev) for k, v in ecg_batch(run, pos[i:i + batch]).items()})
        outs["embedding"].append(o["embedding"].float().cpu().numpy())
        outs["pooled"].append(o["pooled"].float().cpu().numpy())
        for k, v in o["heads"].items():
            heads[k].append(v.float().cpu().numpy())
        for k, v in o.get("log_sigma", {}).items():
            sig[k].append(v.float().cpu().numpy())
    res = {k: np.concatenate(v) for k, v in outs.items()}
    res["heads"] = {k: np.concatenate(v) for k, v in heads.items()}
    res["log_sigma"] = {k: np.concatenate(v) for k, v in sig.items()}
    return res


def set_wide_statistics(run: Run, model: BeatECGEncoder) -> None:
    """Fix the wide branch's input standardisation to training-split statistics (a sample of
    at most 4000 subjects, a named seed stream)."""
    if model.wide is None:
        return
    from .model import wide_input
    pos = run.pos["train"]
    pos = np.sort(run.rng("wide-statistics").choice(pos, size=min(4000, len(pos)), replace=False))
    b = ecg_batch(run, pos)
    v = wide_input(b["beats"], b["rhythm"], model.wide_stride)
    model.wide.mean.copy_(v.mean(0))
    model.wide.std.copy_(v.std(0) + 1e-3)


def phenotype_subject_weights(run: Run, rows: np.ndarray, group_weight: float,
                              output_group_weights: dict | None = None) -> np.ndarray:
    """Per-subject, per-output weight of the phenotype loss [n, outputs]: the output's group weight
    (`output_group_weights[output]`, else `group_weight`) for subjects in a disease group whose
    anatomy differs most from the cohort (dilated / hypertrophic cardiomyopathy, prior MI,
    pulmonary hypertension), 1 otherwise, each output normalised to mean 1 on the training split.
    The groups are a few percent of the cohort, so an unweighted loss lets the head regress them
    towards the cohort mean — the generator would then draw a DCM heart with a normal EF. The
    chamber volumes the generator draws the heart from can be weighted more than the rest."""
    g = disease_groups(run.cohort, rows)
    member = np.zeros(len(rows), dtype=bool)
    for k in ("dcm", "hcm", "prior_mi", "pulmonary_hypertension"):
        member |= g[k]
    per = output_group_weights or {}
    unknown = sorted(set(per) - {oid for _, oid, _, _ in D.PHENOTYPES})
    if unknown:
        raise ValueError(f"heads.phenotype_group_output_weights: {unknown} are not phenotype outputs")
    gw = np.array([float(per.get(oid, group_weight)) for _, oid, _, _ in D.PHENOTYPES])
    w = np.where(member[:, None], gw[None, :], 1.0)
    tr = np.isin(np.arange(len(rows)), run.pos["train"])
    return (w / w[tr].mean(0, keepdims=True)).astype(np.float32)


def disease_groups(cohort: D.Cohort, rows) -> dict:
    """Boolean masks of the disease groups the model card reports within (DCM, HCM, prior MI,
    pulmonary hypertension), from the cohort's own columns."""
    rows = np.asarray(rows)
    sub = cohort.strings("cm_subtype")[rows]
    return {"dcm": sub == "dcm", "hcm": sub == "hcm",
            "prior_mi": cohort.numeric("prior_mi")[rows] > 0.5,
            "pulmonary_hypertension": cohort.numeric("pulmonary_hypertension")[rows] > 0.5}


# ----------------------------------------------------------------------------------------------
# inputs of the CMR side


def anatomy(run: Run, rows) -> torch.Tensor:
    """True standardised phenotypes [n, K]: what the decoder is conditioned on during training and
    what the phenotype head predicts at inference (the same standardisation)."""
    a = (run.targets.phenotype[rows] - run.ph_mean) / run.ph_std
    return torch.from_numpy(np.clip(a, -6, 6).astype(np.float32))


def decoder_anatomy_index(cfg: dict) -> list:
    """Columns of PHENOTYPES the frame decoder is conditioned on (`cmr.anatomy_outputs`, default all).
    The shipped config lists the values the simulator draws the heart from (volumes, atria, segmental
    wall thickness) and leaves out what follows from them (SV, EF, CO, mass, mean thickness): with
    those redundant inputs, a predicted anatomy whose parts disagree (a shrunken SV beside an EDV)
    moved the drawn heart away from the EDV printed beside it."""
    ids = cfg["cmr"].get("anatomy_outputs")
    if ids is None:
        return list(range(len(D.PHENOTYPES)))
    known = [oid for _, oid, _, _ in D.PHENOTYPES]
    bad = [i for i in ids if i not in known]
    if bad or not ids or len(set(ids)) != len(ids):
        raise ValueError(f"cmr.anatomy_outputs must list distinct phenotype outputs of {known}, not {ids}")
    return [known.index(i) for i in ids]


def canonical_grid(pose: np.ndarray, size: int, pixel_mm: float) -> torch.Tensor:
    """grid_sample grid [n, S, S, 2] that reads each stored frame at the canonical pose (pixel size
    `pixel_mm`, no rotation, no shift). pose [n, 4] = (pixel_mm, angle_rad, shift_x, shift_y) as
    cohort.cmr._pose draws them (docs/synthetic-cohort.md, pose.npy)."""
    c = (size - 1) / 2.0
    jj, ii = np.meshgrid(np.arange(size), np.arange(size))
    u = (jj - c) * pixel_mm                 # heart frame, mm (u lateral, v anterior)
    v = -(ii - c) * pixel_mm
    px, ang, sx, sy = (pose[:, k].reshape(-1, 1, 1).astype(np.float64) for k in range(4))
    x = np.cos(ang) * u - np.sin(ang) * v   # invert u = cos·x + sin·y, v = −sin·x + cos·y
    y = np.sin(ang) * u + np.cos(ang) * v
    j = x / px + c + sx
    i = -y / px + c + sy
    g = np.stack([j / (size - 1) * 2 - 1, i / (size - 1) * 2 - 1], axis=-1)
    return torch.from_numpy(g.astype(np.float32))


def to_canonical(x: torch.Tensor, pose: np.ndarray, pixel_mm: float) -> torch.Tensor:
    """Cines [n, F, S, S] of one view warped to the canonical pose, given the cohort's pose rows
    [n, 3] of that view."""
    grid = canonical_grid(pose, x.shape[-1], pixel_mm)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)


def canonical_cines(run: Run, pos) -> dict:
    """Pose-normalised cines of rows `pos` in [0, 1], {view: [n, F, S, S]}."""
    r = run.rows[np.asarray(pos)]
    out = {}
    pose = run.cohort.pose[r] if run.cohort.pose is not None else None
    for vi, (v, arr) in enumerate((("sax", run.cohort.sax), ("lax", run.cohort.lax))):
        x = torch.from_numpy(np.asarray(arr[r], dtype=np.float32) / 255.0)
        if pose is not None:
            x = to_canonical(x, pose[:, vi], float(run.cfg["cmr"]["views"][v]["pixel_mm"]))
        out[v] = x
    return out


def heart_weight(size: int) -> torch.Tensor:
    """Loss weight that favours the heart (centre of the pose-normalised frame) over the chest."""
    c = (size - 1) / 2.0
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    r2 = ((yy - c) ** 2 + (xx - c) ** 2).float()
    return 1.0 + 4.0 * torch.exp(-r2 / (2 * (size / 6.0) ** 2))


class ResidualAutoencoder(torch.nn.Module):
    """Per view: CineEncoder → (μ, log σ²) of the residual; the bundle's FrameDecoder (inside
    AnatomyCMRGenerator) renders (anatomy, residual, phase)."""

    def __init__(self, run: Run):
        super().__init__()
        c = run.cfg["cmr"]
        self.residual = int(c["residual"])
        idx = decoder_anatomy_index(run.cfg)
        self.gen = AnatomyCMRGenerator(len(idx), self.residual, run.cfg["encoder"]["proj_dim"],
                                       {v: {k: s[k] for k in ("size", "base", "channels")} for v, s in c["views"].items()},
                                       run.cfg["prior"]["hidden"], run.cfg["prior"]["layers"], run.cfg["prior"]["temb"],
                                       anatomy_index=idx, head_size=len(D.PHENOTYPES))
        self.encoders = torch.nn.ModuleDict({v: CineEncoder(run.cohort.frames, s["size"], c["encoder_channels"],
                                                            2 * self.residual) for v, s in c["views"].items()})

    def encode(self, cines: dict) -> dict:
        out = {}
        for v, enc in self.encoders.items():
            h = enc(cines[v])
            out[v] = (h[:, :self.residual], h[:, self.residual:].clamp(-8, 4))
        return out


def trained_autoencoder(run: Run) -> ResidualAutoencoder:
    run.torch_seed("cmr-init")
    ae = ResidualAutoencoder(run)
    ae.load_state_dict(run.load_done("cmr")["modules"]["ae"])
    return ae.eval()


# ----------------------------------------------------------------------------------------------
# stages


def stage_ecg(run: Run):
    t0 = time.time()
    if run.par.main:                    # rank 0 builds the cache, the others then read it
        ecg_inputs(run)
    run.par.barrier()
    ecg_inputs(run)
    if run.par.main and "ecg" not in run.timings.data:
        run.timings.set("ecg", seconds=round(time.time() - t0, 1), ecgs=len(run.rows))


def stage_cmr(run: Run):
    c, par = run.cfg["cmr"], run.par
    run.torch_seed("cmr-init")
    ae = ResidualAutoencoder(run)
    fr, per = run.cohort.frames, int(c["phases_per_subject"])
    weights = {v: par.to(heart_weight(s["size"])) for v, s in c["views"].items()}

    def forward(cines, a, phases, sub, kk, keep, noise):
        enc = ae.encode(cines)
        loss = 0.0
        for v in ae.gen.view_names:
            mu, lv = enc[v]
            r = (mu + torch.exp(0.5 * lv) * noise[v]) * keep
            kl = 0.5 * (mu ** 2 + lv.exp() - lv - 1).sum(1).mean()
            z = torch.cat([ae.gen.select_anatomy(a), r], 1).repeat_interleave(per, 0)
            pred = ae.gen.decoder(v)(z, phases)
            loss = loss + (weights[v] * (pred - cines[v][sub, kk]) ** 2).mean() + c["kl_weight"] * kl
        return loss

    net = par.wrap(StepModule({"ae": ae}, forward))
    opt = torch.optim.AdamW(ae.parameters(), lr=c["lr"], weight_decay=1e-4)

    def step(i, _progress):
        # Every random draw is made for the global batch, then this rank takes its rows.
        pos = run.batch_pos("cmr-batches", i, "train", c["batch"])
        sl = par.local(len(pos))
        k = run.rng("cmr-phases", i).integers(0, fr, size=(len(pos), per))
        g = torch.Generator().manual_seed(stream_seed(run.seed, "cmr-noise") + i)
        keep = (torch.rand(len(pos), 1, generator=g) >= c["residual_dropout"]).float()
        noise = {v: torch.randn(len(pos), ae.residual, generator=g) for v in ae.gen.view_names}
        pos, k = pos[sl], k[sl]
        n = len(pos)
        phases = torch.from_numpy(k.reshape(-1) / fr).float()
        sub = torch.arange(n).repeat_interleave(per)
        kk = torch.from_numpy(k.reshape(-1))
        with par.autocast():
            loss = net(par.to(canonical_cines(run, pos)), par.to(anatomy(run, run.rows[pos])), par.to(phases),
                       par.to(sub), par.to(kk), par.to(keep[sl]), par.to({v: t[sl] for v, t in noise.items()}))
        par.step(loss, opt, ae.parameters())
        return loss.item()

    train_stage(run.run_dir, "cmr", {"ae": ae}, opt, step, c["steps"], c["minutes"], run.cfg["checkpoint_seconds"],
                run.timings, par=par)


def load_residuals(run: Run) -> dict:
    z = np.load(run.run_dir / "cmr_residuals.npz")
    return {k: z[k] for k in z.files}


def stage_residuals(run: Run):
    path = run.run_dir / "cmr_residuals.npz"
    if path.exists():
        return
    if not run.par.main:                # rank 0 writes the residuals; the others read them later
        run.par.barrier()
        return
    t0 = time.time()
    ae = trained_autoencoder(run)
    out = []
    with torch.no_grad():
        for i in range(0, len(run.rows), 128):
            pos = np.arange(i, min(i + 128, len(run.rows)))
            enc = ae.encode(canonical_cines(run, pos))
            out.append(torch.cat([enc[v][0] for v in ae.gen.view_names], 1).numpy())
    raw = np.concatenate(out).astype(np.float32)
    tr = raw[run.pos["train"]]
    mean, std = tr.mean(0), tr.std(0) + 1e-6
    np.savez(path, raw=raw, standardised=((raw - mean) / std).astype(np.float32), mean=mean.astype(np.float32),
             std=std.astype(np.float32))
    run.timings.set("residuals", seconds=round(time.time() - t0, 1))
    run.par.barrier()


def cmr_representation(run: Run) -> torch.Tensor:
    """The CMR side of the alignment for every selected row: the CMR-measured anatomy (the
    standardised phenotypes, as a CMR analysis reports them), optionally with the autoencoder's
    standardised residual (`align.cmr_representation = "anatomy+residual"`). "anatomy" alone keeps
    what an ECG can explain and lets the ECG stages run beside the CMR autoencoder."""
    kind = run.cfg["align"].get("cmr_representation", "anatomy")
    a = anatomy(run, run.rows)
    if kind == "anatomy":
        return a
    if kind == "anatomy+residual":
        return torch.cat([a, torch.from_numpy(load_residuals(run)["standardised"])], 1)
    raise ValueError(f"align.cmr_representation must be anatomy or anatomy+residual, not {kind!r}")


def stage_mdm(run: Run):
    m, e, par = run.cfg["mdm"], run.cfg["encoder"], run.par
    run.torch_seed("mdm-init")
    enc = new_encoder(run)
    dec = MDMDecoder(enc.encoder.beat_tokens, e["width"], e["patch"], m["decoder_width"], m["decoder_depth"],
                     m["decoder_heads"])
    net = par.wrap(StepModule({"enc": enc, "dec": dec},
                              lambda x, noise: mdm_loss_beats(enc, dec, x, m["mask_ratio"], noise=noise)))
    params = list(enc.encoder.parameters()) + list(dec.parameters())
    opt = torch.optim.AdamW(params, lr=m["lr"], weight_decay=0.05, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(stream_seed(run.seed, "mdm-masks"))

    def step(i, _p):
        pos = run.batch_pos("mdm-batches", i, "train", m["batch"])
        sl = par.local(len(pos))
        noise = torch.rand(len(pos), enc.encoder.beat_tokens, generator=gen)     # masks of the global batch
        with par.autocast():
            loss = net(par.to(ecg_batch(run, pos[sl])), par.to(noise[sl]))
        par.step(loss, opt, params)
        return loss.item()

    train_stage(run.run_dir, "mdm", {"enc": enc, "dec": dec}, opt, step, m["steps"], m["minutes"],
                run.cfg["checkpoint_seconds"], run.timings, par=par)


def make_cmr_projection(run: Run, d: int) -> torch.nn.Module:
    run.torch_seed("align-cmr-projection")
    return torch.nn.Linear(d, run.cfg["encoder"]["proj_dim"])


def stage_align(run: Run):
    a, par = run.cfg["align"], run.par
    run.torch_seed("align-init")
    enc = new_encoder(run)
    if (run.run_dir / "mdm.pt").exists():
        enc.load_state_dict(run.load_done("mdm")["modules"]["enc"])
    cmr = cmr_representation(run)
    cproj = make_cmr_projection(run, cmr.shape[1])
    net = par.wrap(StepModule({"enc": enc, "cmr_proj": cproj}, lambda x, c: (enc.embed(enc.pooled(x)), cproj(c))))
    params = list(enc.parameters()) + list(cproj.parameters())
    opt = torch.optim.AdamW(params, lr=a["lr"], weight_decay=0.05)

    def step(i, _p):
        pos = run.batch_pos("align-batches", i, "train", a["batch"])
        sl = par.local(len(pos))
        with par.autocast():
            e, c = net(par.to(ecg_batch(run, pos[sl])), par.to(cmr[pos[sl]]))
            # Negatives from every rank, with gradients (distributed.py explains the scaling).
            loss = clip_loss(par.gather(e).float(), par.gather(c).float(), a["temperature"], a["lambda"],
                             a["weighted"], a["weight_floor"])
        par.step(loss, opt, params)
        return loss.item()

    train_stage(run.run_dir, "align", {"enc": enc, "cmr_proj": cproj}, opt, step, a["steps"], a["minutes"],
                run.cfg["checkpoint_seconds"], run.timings, par=par)


def frozen_pooled(run: Run, model: BeatECGEncoder, name: str) -> torch.Tensor:
    """The frozen encoder's pooled vector of every subject of the run, computed once per stage
    (and once for all the seeds of a heads ensemble, which share the encoder)."""
    t0 = time.time()
    model.eval()
    with torch.no_grad():
        pooled = torch.cat([model.pooled(ecg_batch(run, np.arange(i, min(i + 256, len(run.rows)))))
                            for i in range(0, len(run.rows), 256)])
    log(f"{name}: encoder frozen; pooled vectors of {len(pooled)} subjects in {time.time() - t0:.0f} s")
    return pooled


def finetune(run: Run, name: str, init: dict | None, steps: int, minutes, lr: float, enc_scale: float,
             align_weight: float, label_fraction: float = 1.0, seed_index: int = 0,
             pooled: torch.Tensor | None = None) -> BeatECGEncoder:
    h, a, par = run.cfg["heads"], run.cfg["align"], run.par
    # Seed 0 keeps the streams a single model always had; seed k of an ensemble has its own.
    tag = "" if seed_index == 0 else f"-seed{seed_index}"
    run.torch_seed("heads-init" + tag)                 # same initial heads for both models
    model = new_encoder(run, HEAD_SIZES)
    freeze = bool(h["freeze_encoder"])
    if freeze:
        if par.world > 1:
            raise RuntimeError("heads.freeze_encoder is for one process (the pooled vectors are cached per process)")
        align_weight = 0.0                              # a frozen embedding cannot move towards the CMR one
    if init is not None:
        missing, unexpected = model.load_state_dict(init, strict=False)
        if unexpected or any(not k.startswith(("heads.", "wide.", "sigma.")) for k in missing):
            raise RuntimeError(f"{name}: initial weights do not fit ({missing}, {unexpected})")
    set_wide_statistics(run, model)
    pooled_cache = None
    if freeze:
        # The encoder stays as pre-trained (aligned, or random for the baseline): its pooled vector
        # of every subject is computed once and the wide branch and heads train on it — many more
        # epochs in the same wall time on a busy CPU than fine-tuning the transformer.
        for q in model.parameters():
            q.requires_grad_(False)
        for n_, q in model.named_parameters():
            if n_.startswith(("heads.", "wide.", "sigma.")):
                q.requires_grad_(True)
        model.eval()
        pooled_cache = frozen_pooled(run, model, name) if pooled is None else pooled

    def run_model(x, pos):
        return model.from_pooled(x, pooled_cache[torch.as_tensor(np.asarray(pos))]) if freeze else model(x)
    net = par.wrap(StepModule({"model": model}, lambda x: model(x)))
    # The wide branch and σ layers are new at this stage: they learn at the heads' rate.
    fresh = ("heads.", "wide.", "sigma.")
    enc_params = [p for n, p in model.named_parameters() if not n.startswith(fresh)]
    head_params = [p for n, p in model.named_parameters() if n.startswith(fresh)]
    opt = torch.optim.AdamW([{"params": enc_params, "lr": lr * enc_scale},
                             {"params": head_params, "lr": lr}], weight_decay=0.01)
    rows = run.rows
    risk = par.to(run.targets.risk[rows])
    sub = par.to(run.targets.subtype[rows])
    ph = par.to(((run.targets.phenotype[rows] - run.ph_mean) / run.ph_std).astype(np.float32))
    pos_weight = par.to(np.clip((1 - run.targets.risk[rows].mean(0)) / np.maximum(
        run.targets.risk[rows].mean(0), 1e-3), 1, float(h["max_pos_weight"])).astype(np.float32))
    risk_w = par.to(np.array([float(h["risk_output_weights"].get(oid, 1.0)) for _, oid, _ in D.RISK_OUTPUTS],
                             dtype=np.float32))
    ph_w = par.to(np.array([float(h["phenotype_output_weights"].get(oid, 1.0)) for _, oid, _, _ in D.PHENOTYPES],
                           dtype=np.float32))
    subj_w = par.to(phenotype_subject_weights(run, rows, float(h["phenotype_group_weight"]),
                                              h.get("phenotype_group_output_weights")))
    cmr = None
    if align_weight > 0:
        rep = cmr_representation(run)
        cproj = make_cmr_projection(run, rep.shape[1])
        cproj.load_state_dict(run.load_done("align")["modules"]["cmr_proj"])
        with torch.no_grad():
            cmr = par.to(cproj(rep))
    pool = run.pos["train"]
    if label_fraction < 1.0:
        pool = run.rng(f"label-fraction-{label_fraction}").choice(pool, max(8, int(len(pool) * label_fraction)),
                                                                 replace=False)
    params = enc_params + head_params

    def losses(out, t, t_global=None, with_align=True):
        """Loss of this rank's rows t (global batch t_global; None: t is the whole batch)."""
        t_global = t if t_global is None else t_global
        world = len(t_global) // len(t)
        bce = F.binary_cross_entropy_with_logits(out["heads"]["risk"].float(), risk[t], pos_weight=pos_weight,
                                                 reduction="none")
        loss = (bce * risk_w).mean()
        s = sub[t]
        n_sub = int((sub[t_global] >= 0).sum())
        if n_sub:
            # A mean over the global batch's cardiomyopathy cases, however they fall on the ranks.
            ce = F.cross_entropy(out["heads"]["cm_subtype"][s >= 0].float(), s[s >= 0], reduction="sum")
            loss = loss + h["subtype_weight"] * ce * (world / n_sub)
        # Phenotypes: weighted squared error for the mean (per output, per disease group), and a
        # Gaussian NLL for log σ with the mean detached, so the variance head cannot buy a lower
        # loss by down-weighting the subjects the mean gets wrong (they are the disease groups).
        mu = out["heads"]["phenotype"].float()
        err = (mu - ph[t]) ** 2
        w = subj_w[t] * ph_w
        loss = loss + h["phenotype_weight"] * (w * err).mean()
        ls = out["log_sigma"]["phenotype"].float().clamp(-7, 4)
        nll = 0.5 * err.detach() * torch.exp(-2 * ls) + ls
        loss = loss + h["sigma_weight"] * nll.mean()
        if with_align and align_weight > 0:
            loss = loss + align_weight * clip_loss(par.gather(out["embedding"]).float(), cmr[t_global], a["temperature"],
                                                   a["lambda"], a["weighted"], a["weight_floor"])
        return loss

    val_pos = run.pos["val"][: int(h["early_stopping"]["subjects"])]

    def val_loss():
        # the supervised loss only, so that the aligned model and the baseline stop on the same criterion
        return losses(run_model(par.to(ecg_batch(run, val_pos)), val_pos), par.to(val_pos), with_align=False)

    es = h["early_stopping"]
    early = EarlyStopping(model, val_loss, int(es["every"]), int(es["patience"]))

    def step(i, _p):
        pos = run.rng("heads-batches" + tag, i).choice(pool, size=min(h["batch"], len(pool)), replace=False)
        sl = par.local(len(pos))
        with par.autocast():
            x = par.to(ecg_batch(run, pos[sl]))
            loss = losses(run_model(x, pos[sl]) if freeze else net(x), par.to(pos[sl]), par.to(pos))
        par.step(loss, opt, [q for q in params if q.requires_grad])
        return loss.item()

    train_stage(run.run_dir, name, {"model": model}, opt, step, steps, minutes, run.cfg["checkpoint_seconds"],
                run.timings, early=early, par=par)
    return model.eval()


def stage_heads(run: Run):
    h = run.cfg["heads"]
    init = run.load_done("align")["modules"]["enc"]
    seeds = int(h["seeds"])
    if seeds <= 1:
        finetune(run, "heads", init, h["steps"], h["minutes"], h["lr"], h["encoder_lr_scale"], h["align_weight"])
        return
    # A seed ensemble of the heads on the frozen encoder: each seed is its own restartable stage
    # (heads-seedK.pt), then the seeds fold exactly into one wider model (model.fold_head_seeds)
    # written as heads.pt, which every later stage reads as before.
    if not bool(h["freeze_encoder"]):
        raise RuntimeError("heads.seeds > 1 needs heads.freeze_encoder (the seeds must share one encoder)")
    encoder = new_encoder(run, HEAD_SIZES)
    encoder.load_state_dict(init, strict=False)
    pooled = frozen_pooled(run, encoder, "heads ensemble")
    states = []
    for k in range(seeds):
        m = finetune(run, f"heads-seed{k}", init, h["steps"], h["minutes"], h["lr"], h["encoder_lr_scale"],
                     h["align_weight"], seed_index=k, pooled=pooled)
        states.append({n: t.detach().clone() for n, t in m.state_dict().items()})
    folded = fold_head_seeds(states, int(run.cfg["encoder"]["width"]))
    if run.par is None or run.par.main:
        seed_info = [run.load_done(f"heads-seed{k}")["info"] for k in range(seeds)]
        info = {"steps": sum(i["steps"] for i in seed_info), "seconds": sum(i["seconds"] for i in seed_info),
                "seeds": seeds}
        atomic_save({"modules": {"model": folded}, "info": info}, run.run_dir / "heads.pt")
        # One line for the whole ensemble beside the per-seed ones: steps is the longest seed's
        # (each seed has the stage's step cap), seconds the sum.
        run.timings.set("heads", seconds=round(info["seconds"], 1), seeds=seeds,
                        steps=max(i["steps"] for i in seed_info))
    log(f"heads: {seeds} seeds folded into one model (wide branch {folded['wide.fc1.weight'].shape[0]} wide)")


def stage_baseline(run: Run):
    # The same budget as `heads` (step cap, wall-time cap, early stopping on the same validation
    # loss) and the same batches, so it can run beside `heads` in a second process.
    h, b = run.cfg["heads"], run.cfg["baseline"]
    finetune(run, "baseline", None, h["steps"], h["minutes"], b["lr"], b["encoder_lr_scale"], 0.0)


def make_prior(run: Run, state: int) -> LatentPrior:
    p = run.cfg["prior"]
    run.torch_seed("prior-init")
    return LatentPrior(state, run.cfg["encoder"]["proj_dim"], p["hidden"], p["layers"], p["temb"])


def stage_prior(run: Run):
    p, par = run.cfg["prior"], run.par
    res = load_residuals(run)["standardised"]
    prior = make_prior(run, res.shape[1])
    cond_path = run.run_dir / "prior_cond.npz"
    if par.main and not cond_path.exists():
        pos = run.pos["train"][: int(p["max_subjects"])]
        np.savez(cond_path, pos=pos, cond=predict(run, trained_model(run, "heads"), pos)["embedding"])
    par.barrier()
    z = np.load(cond_path)
    pos, cond = z["pos"], z["cond"]
    cond_t = torch.from_numpy(cond.astype(np.float32))
    x0_all = torch.from_numpy(res[pos])
    sched = DiffusionSchedule(p["diffusion_steps"], p["beta_start"], p["beta_end"])
    net = par.wrap(StepModule({"prior": prior}, lambda xt, c, t: prior(xt, c, t)))
    opt = torch.optim.AdamW(prior.parameters(), lr=p["lr"], weight_decay=0.0)

    def step(i, _p):
        idx = torch.from_numpy(run.rng("prior-batches", i).choice(len(pos), size=min(p["batch"], len(pos)),
                                                                  replace=False))
        g = torch.Generator().manual_seed(stream_seed(run.seed, "prior-noise") + i)
        t = torch.randint(0, sched.steps, (len(idx),), generator=g)
        noise = torch.randn(len(idx), x0_all.shape[1], generator=g)
        drop = (torch.rand(len(idx), 1, generator=g) < p["cond_dropout"]).float()
        sl = par.local(len(idx))
        xt = sched.q_sample(x0_all[idx], t, noise)
        c = cond_t[idx] * (1 - drop)                    # the unconditional branch of CFG: zero condition
        with par.autocast():
            loss = F.mse_loss(net(par.to(xt[sl]), par.to(c[sl]), par.to(t[sl])).float(), par.to(noise[sl]))
        par.step(loss, opt, prior.parameters(), clip=None)
        return loss.item()

    train_stage(run.run_dir, "prior", {"prior": prior}, opt, step, p["steps"], p["minutes"],
                run.cfg["checkpoint_seconds"], run.timings, par=par)


def trained_prior(run: Run) -> LatentPrior:
    prior = make_prior(run, 2 * int(run.cfg["cmr"]["residual"]))
    prior.load_state_dict(run.load_done("prior")["modules"]["prior"])
    return prior.eval()


def stage_floors(run: Run):
    if not run.par.main:                # rank 0 alone writes files; the others wait for it
        run.par.barrier()
        return
    if (run.run_dir / "floors.npz").exists():
        return
    import os
    lock = run.run_dir / "floors.lock"
    if lock.exists():
        # Another process (started beside the time-capped stages) is fitting them: wait for it.
        pid = int(lock.read_text() or 0)
        while not (run.run_dir / "floors.npz").exists() and pid and os.path.exists(f"/proc/{pid}"):
            time.sleep(10)
        if (run.run_dir / "floors.npz").exists():
            run.par.barrier()
            return
    lock.write_text(str(os.getpid()))
    from .floors import stage_floors as fit_floors
    try:
        fit_floors(run)
    finally:
        lock.unlink(missing_ok=True)
    run.par.barrier()


def _newer(path, *inputs) -> bool:
    """True when `path` exists and was written after every input (a finished stage's output)."""
    return path.exists() and all(path.stat().st_mtime > p.stat().st_mtime for p in inputs if p.exists())


def _rank0_stage(run: Run, name: str, work, finished: bool = False):
    """A stage that only rank 0 runs (it writes the run's files; the others would only race it):
    every rank meets at one barrier afterwards, also when the stage had already finished."""
    if run.par.main and not finished:
        t0 = time.time()
        work(run)
        run.timings.set(name, seconds=round(time.time() - t0, 1))
    run.par.barrier()


def stage_calibrate(run: Run):
    from .validate import calibrate
    d = run.run_dir
    _rank0_stage(run, "calibrate", calibrate,
                 finished=_newer(d / "calibration.json", d / "heads.pt") and (d / "calibrated.pt").exists())


def stage_validate(run: Run):
    from .validate import validate
    d = run.run_dir
    _rank0_stage(run, "validate", validate,
                 finished=_newer(d / "validation.json", d / "calibrated.pt", d / "baseline.pt", d / "prior.pt",
                                 d / "cmr_residuals.npz"))


def stage_export(run: Run):
    from .export import export_bundle
    _rank0_stage(run, "export", export_bundle)


def stage_evaluate(run: Run):
    from .evaluate import evaluate
    _rank0_stage(run, "evaluate", evaluate)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/demo.json")
    ap.add_argument("--cohort", default=None, help="override the config's cohort folder")
    ap.add_argument("--threads", type=int, default=None, help="override the config's torch threads")
    ap.add_argument("--stop-after", choices=STAGES, default=None)
    ap.add_argument("--only", choices=STAGES, nargs="*", default=None,
                    help="run just these stages (their inputs must exist in the run folder)")
    ap.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto",
                    help="where to train (auto: CUDA when PyTorch sees a GPU); under torchrun each "
                         "process takes the GPU of its LOCAL_RANK")
    ap.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                    help="auto: bf16 autocast on GPUs that support it, else fp16 with a GradScaler; "
                         "fp32 on the CPU")
    args = ap.parse_args(argv)
    over = {"cohort": args.cohort} if args.cohort else None
    cfg = load_config(args.config, over)
    torch.set_num_threads(int(args.threads or cfg["threads"]))
    par = Parallel(args.device, args.precision)
    loop.QUIET = not par.main
    log(f"device {par.device}, {par.world} process(es), precision {par.precision}")
    t_all = time.time()
    run = open_run(cfg, par)
    if par.main:
        (run.run_dir / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    for stage in STAGES:
        if args.only is not None and stage not in args.only:
            continue
        log(f"=== stage {stage}")
        t0 = time.time()
        globals()[f"stage_{stage}"](run)
        log(f"=== stage {stage} finished in {time.time() - t0:.0f} s")
        if stage == args.stop_after:
            break
    log(f"pipeline finished in {time.time() - t_all:.0f} s")
    par.close()


if __name__ == "__main__":
    main()
