"""End-to-end training of the demo bundle (every stage restartable, wall time logged).

    cd training && python -m ecg2cmr_train.pipeline --config configs/demo.json

Stages (checkpoints and results in the config's run_dir):
  preprocess  ECGs → bundle preprocessing (the manifest's ops) → float16 cache
  cmr         CMR autoencoder on SAX + LAX cines (self-supervised; decoder = the generator's)
  latents     frozen CMR encoder → per-subject latent [2Z], standardised on the training split
  mdm         ECG encoder masked-data-modelling pre-training (MMCL)
  align       CLIP-style InfoNCE, ECG projection ↔ frozen CMR representation (τ, λ of MMCL;
              optional CardioNets weighting)
  heads       fine-tune the aligned encoder with attention pooling + risk / subtype / phenotype heads
  baseline    the same encoder and heads from scratch on ECG alone, as many steps as `heads`
  prior       ECG-conditioned DDPM prior over the standardised CMR latent
  validate    validation-split metrics → manifest (validationAUC / validationR, weak flags, bands)
  export      assets/models/<id>/ (manifest.json + model.safetensors) and golden vectors
  evaluate    held-out test split → docs/MODEL_CARD.md (evaluate.py)
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import data as D
from .config import load_config, resolve
from .loop import Timings, log, train_stage
from .model import DiffusionSchedule, ECGEncoder, LatentPrior
from .nets import CMRAutoencoder, MDMDecoder, clip_loss, mdm_loss

STAGES = ["preprocess", "cmr", "latents", "mdm", "align", "heads", "baseline", "prior", "validate",
          "export", "evaluate"]


class Pipeline:
    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.seed = int(cfg["seed"])
        self.run_dir = resolve(cfg["run_dir"])
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.timings = Timings(self.run_dir)
        self.cohort = D.Cohort(resolve(cfg["cohort"]))
        self.targets = D.Targets(self.cohort)
        # The subject selection is fixed at the first start of a run, so a restart (perhaps after
        # the cohort build wrote more rows) keeps matching the cached latents and checkpoints.
        sel_path = self.run_dir / "selection.npz"
        if sel_path.exists():
            z = np.load(sel_path)
            self.splits = {s: z[s] for s in ("train", "val", "test")}
            if int(z["cohort_n"]) != self.cohort.n:
                raise RuntimeError(f"{sel_path} was made for a cohort of {int(z['cohort_n'])} subjects, "
                                   f"{self.cohort.path} has {self.cohort.n}; use a new run_dir")
        else:
            self.splits = self.cohort.select(cfg["max_subjects"])
            np.savez(sel_path, cohort_n=self.cohort.n, complete=self.cohort.ready, **self.splits)
        self.cohort_complete = bool(np.load(sel_path)["complete"])
        # `rows` are cohort rows in the order train, val, test; "positions" index into `rows`.
        self.rows = np.concatenate([self.splits[s] for s in ("train", "val", "test")])
        a = len(self.splits["train"])
        b = a + len(self.splits["val"])
        self.pos = {"train": np.arange(0, a), "val": np.arange(a, b), "test": np.arange(b, len(self.rows))}
        self.ph_mean, self.ph_std = self.targets.phenotype_stats(self.splits["train"])
        e = cfg["encoder"]
        self.samples = int(next(op["sampleCount"] for op in cfg["preprocessing"] if op["op"] == "cropOrPad"))
        self.rate = float(next((op["rate"] for op in cfg["preprocessing"] if op["op"] == "resample"), self.cohort.rate))
        self.head_sizes = {"risk": len(D.RISK_OUTPUTS), "cm_subtype": len(D.SUBTYPES), "phenotype": len(D.PHENOTYPES)}
        self.ecg = None
        self.latents = None
        log(f"cohort {self.cohort.path}: {self.cohort.n} subjects, using train {a}, val {b - a}, "
            f"test {len(self.rows) - b}; cine frames {self.cohort.frames}")

    # -- helpers ---------------------------------------------------------------------------
    def new_encoder(self, head_sizes=None) -> ECGEncoder:
        e = self.cfg["encoder"]
        return ECGEncoder(12, self.samples, e["patch"], e["width"], e["depth"], e["heads"], e["mlp_ratio"],
                          e["proj_dim"], head_sizes or {})

    def batch_pos(self, stage_id: int, step: int, split: str, size: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, stage_id, step])
        pool = self.pos[split]
        return rng.choice(pool, size=min(size, len(pool)), replace=False)

    def ecg_batch(self, pos) -> torch.Tensor:
        return self.ecg[torch.as_tensor(pos)].float()

    def cine_batch(self, pos) -> dict:
        r = self.rows[pos]
        return {"sax": torch.from_numpy(np.asarray(self.cohort.sax[r], dtype=np.float32) / 255.0),
                "lax": torch.from_numpy(np.asarray(self.cohort.lax[r], dtype=np.float32) / 255.0)}

    @torch.no_grad()
    def predict(self, model: ECGEncoder, pos, batch: int = 256) -> dict:
        model.eval()
        outs = {"embedding": [], "pooled": []}
        heads = {k: [] for k in model.heads}
        for i in range(0, len(pos), batch):
            o = model(self.ecg_batch(pos[i:i + batch]))
            outs["embedding"].append(o["embedding"].numpy())
            outs["pooled"].append(o["pooled"].numpy())
            for k, v in o["heads"].items():
                heads[k].append(v.numpy())
        res = {k: np.concatenate(v) for k, v in outs.items()}
        res["heads"] = {k: np.concatenate(v) for k, v in heads.items()}
        return res

    def load_done(self, name: str) -> dict:
        path = self.run_dir / f"{name}.pt"
        if not path.exists():
            raise FileNotFoundError(f"stage {name} has not finished ({path} missing)")
        return torch.load(path, weights_only=False)

    # -- stages ----------------------------------------------------------------------------
    def stage_preprocess(self):
        t0 = time.time()
        arr = D.build_ecg_cache(self.cohort, self.rows, self.cfg["preprocessing"], self.run_dir / "cache",
                                int(self.cfg["preprocess_workers"]), log=log)
        self.ecg = torch.from_numpy(np.array(arr))          # whole cache in RAM (float16)
        if "preprocess" not in self.timings.data:
            self.timings.set("preprocess", seconds=round(time.time() - t0, 1), ecgs=len(self.rows))

    def make_autoencoder(self) -> CMRAutoencoder:
        c = self.cfg["cmr"]
        torch.manual_seed(self.seed + 1)
        return CMRAutoencoder(self.cohort.frames, c["latent"], c["views"], c["encoder_channels"])

    def stage_cmr(self):
        c = self.cfg["cmr"]
        ae = self.make_autoencoder()
        for d in ae.decoders.values():
            d.to(memory_format=torch.channels_last)      # ~2× faster small-channel convs on CPU
        opt = torch.optim.AdamW(ae.parameters(), lr=c["lr"], weight_decay=1e-4)
        fr, per = self.cohort.frames, int(c["phases_per_subject"])

        def step(i, _progress):
            pos = self.batch_pos(1, i, "train", c["batch"])
            cines = self.cine_batch(pos)
            z = ae.encode(cines)
            rng = np.random.default_rng([self.seed, 101, i])
            k = rng.integers(0, fr, size=(len(pos), per))
            phases = torch.from_numpy(k.reshape(-1) / fr).float()
            sub = torch.arange(len(pos)).repeat_interleave(per)
            kk = torch.from_numpy(k.reshape(-1))
            loss = c["latent_l2"] * sum((zv ** 2).mean() for zv in z.values())
            for v in ae.views:
                pred = ae.decoders[v](z[v].repeat_interleave(per, 0), phases)
                loss = loss + F.mse_loss(pred, cines[v][sub, kk])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss.item()

        train_stage(self.run_dir, "cmr", {"ae": ae}, opt, step, c["steps"], c["minutes"],
                    self.cfg["checkpoint_seconds"], self.timings)
        return ae

    def trained_autoencoder(self) -> CMRAutoencoder:
        ae = self.make_autoencoder()
        ae.load_state_dict(self.load_done("cmr")["modules"]["ae"])
        for d in ae.decoders.values():
            d.to(memory_format=torch.contiguous_format)
        return ae.eval()

    def stage_latents(self):
        path = self.run_dir / "cmr_latents.npz"
        if path.exists():
            z = np.load(path)
            self.latents, self.lat_mean, self.lat_std = z["standardised"], z["mean"], z["std"]
            return
        t0 = time.time()
        ae = self.trained_autoencoder()
        out = []
        with torch.no_grad():
            for i in range(0, len(self.rows), 128):
                pos = np.arange(i, min(i + 128, len(self.rows)))
                z = ae.encode(self.cine_batch(pos))
                out.append(torch.cat([z[v] for v in ae.views], 1).numpy())
        raw = np.concatenate(out).astype(np.float32)
        tr = raw[self.pos["train"]]
        mean, std = tr.mean(0), tr.std(0) + 1e-6
        self.latents = ((raw - mean) / std).astype(np.float32)
        self.lat_mean, self.lat_std = mean.astype(np.float32), std.astype(np.float32)
        np.savez(path, raw=raw, standardised=self.latents, mean=self.lat_mean, std=self.lat_std)
        self.timings.set("latents", seconds=round(time.time() - t0, 1))
        log(f"latents: {raw.shape} in {time.time() - t0:.0f} s")

    def stage_mdm(self):
        m, e = self.cfg["mdm"], self.cfg["encoder"]
        torch.manual_seed(self.seed + 2)
        enc = self.new_encoder()
        dec = MDMDecoder(enc.encoder.tokens, e["width"], e["patch"], m["decoder_width"], m["decoder_depth"],
                         m["decoder_heads"])
        params = list(enc.encoder.parameters()) + list(dec.parameters())
        opt = torch.optim.AdamW(params, lr=m["lr"], weight_decay=0.05, betas=(0.9, 0.95))
        gen = torch.Generator().manual_seed(self.seed + 3)

        def step(i, _p):
            x = self.ecg_batch(self.batch_pos(2, i, "train", m["batch"]))
            loss = mdm_loss(enc, dec, x, m["mask_ratio"], gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            return loss.item()

        train_stage(self.run_dir, "mdm", {"enc": enc, "dec": dec}, opt, step, m["steps"], m["minutes"],
                    self.cfg["checkpoint_seconds"], self.timings)

    def stage_align(self):
        a = self.cfg["align"]
        torch.manual_seed(self.seed + 4)
        enc = self.new_encoder()
        mdm = self.run_dir / "mdm.pt"
        if mdm.exists():
            enc.load_state_dict(self.load_done("mdm")["modules"]["enc"])
        cmr = torch.from_numpy(self.latents)
        cproj = self.make_cmr_projection()
        params = list(enc.parameters()) + list(cproj.parameters())
        opt = torch.optim.AdamW(params, lr=a["lr"], weight_decay=0.05)

        def step(i, _p):
            pos = self.batch_pos(3, i, "train", a["batch"])
            e = enc.embed(enc.pooled(self.ecg_batch(pos)))
            loss = clip_loss(e, cproj(cmr[pos]), a["temperature"], a["lambda"], a["weighted"], a["weight_floor"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            return loss.item()

        train_stage(self.run_dir, "align", {"enc": enc, "cmr_proj": cproj}, opt, step, a["steps"], a["minutes"],
                    self.cfg["checkpoint_seconds"], self.timings)

    def make_cmr_projection(self) -> torch.nn.Module:
        """CMR side of the CLIP space on the frozen CMR latent: identity (the standardised latent
        itself) or a linear projection head trained during alignment (CLIP's image projection),
        which lets the alignment pick the part of the CMR latent an ECG can explain (size,
        function, wall thickness) over what it cannot (pose, coil shading)."""
        kind = self.cfg["align"].get("cmr_projection", "identity")
        d = self.latents.shape[1]
        if kind == "identity":
            return torch.nn.Identity()
        if kind == "linear":
            torch.manual_seed(self.seed + 8)
            return torch.nn.Linear(d, self.cfg["encoder"]["proj_dim"])
        raise ValueError(f"align.cmr_projection must be identity or linear, not {kind!r}")

    def trained_cmr_projection(self) -> torch.nn.Module:
        cproj = self.make_cmr_projection()
        state = self.load_done("align")["modules"].get("cmr_proj")
        if state:
            cproj.load_state_dict(state)
        for q in cproj.parameters():
            q.requires_grad_(False)
        return cproj.eval()

    def finetune(self, name: str, init: dict | None, steps: int, minutes, lr: float, enc_scale: float,
                 align_weight: float) -> ECGEncoder:
        h, a = self.cfg["heads"], self.cfg["align"]
        torch.manual_seed(self.seed + 5)                  # same initial heads for both models
        model = self.new_encoder(self.head_sizes)
        if init is not None:
            missing, unexpected = model.load_state_dict(init, strict=False)
            if unexpected or any(not k.startswith("heads.") for k in missing):
                raise RuntimeError(f"{name}: initial weights do not fit ({missing}, {unexpected})")
        enc_params = [p for n, p in model.named_parameters() if not n.startswith("heads.")]
        head_params = list(model.heads.parameters())
        opt = torch.optim.AdamW([{"params": enc_params, "lr": lr * enc_scale},
                                 {"params": head_params, "lr": lr}], weight_decay=0.01)
        risk = torch.from_numpy(self.targets.risk[self.rows])
        sub = torch.from_numpy(self.targets.subtype[self.rows])
        ph = torch.from_numpy(((self.targets.phenotype[self.rows] - self.ph_mean) / self.ph_std).astype(np.float32))
        cmr = None
        if align_weight > 0:
            with torch.no_grad():
                cmr = self.trained_cmr_projection()(torch.from_numpy(self.latents))
        params = enc_params + head_params

        def step(i, _p):
            pos = self.batch_pos(4, i, "train", h["batch"])       # same batches for both models
            t = torch.as_tensor(pos)
            out = model(self.ecg_batch(pos))
            loss = F.binary_cross_entropy_with_logits(out["heads"]["risk"], risk[t])
            s = sub[t]
            if (s >= 0).any():
                loss = loss + h["subtype_weight"] * F.cross_entropy(out["heads"]["cm_subtype"][s >= 0], s[s >= 0])
            loss = loss + h["phenotype_weight"] * F.mse_loss(out["heads"]["phenotype"], ph[t])
            if align_weight > 0:
                loss = loss + align_weight * clip_loss(out["embedding"], cmr[t], a["temperature"], a["lambda"],
                                                       a["weighted"], a["weight_floor"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            return loss.item()

        train_stage(self.run_dir, name, {"model": model}, opt, step, steps, minutes,
                    self.cfg["checkpoint_seconds"], self.timings)
        return model.eval()

    def stage_heads(self):
        h = self.cfg["heads"]
        init = self.load_done("align")["modules"]["enc"]
        self.finetune("heads", init, h["steps"], h["minutes"], h["lr"], h["encoder_lr_scale"], h["align_weight"])

    def stage_baseline(self):
        steps = int(self.load_done("heads")["info"]["steps"])
        b = self.cfg["baseline"]
        self.finetune("baseline", None, steps, None, b["lr"], b["encoder_lr_scale"], 0.0)

    def trained_model(self, name: str) -> ECGEncoder:
        m = self.new_encoder(self.head_sizes)
        m.load_state_dict(self.load_done(name)["modules"]["model"])
        return m.eval()

    def make_prior(self) -> LatentPrior:
        p = self.cfg["prior"]
        torch.manual_seed(self.seed + 6)
        return LatentPrior(self.latents.shape[1], self.cfg["encoder"]["proj_dim"], p["hidden"], p["layers"], p["temb"])

    def stage_prior(self):
        p = self.cfg["prior"]
        prior = self.make_prior()
        cond_path = self.run_dir / "prior_cond.npz"
        if cond_path.exists():
            z = np.load(cond_path)
            pos, cond = z["pos"], z["cond"]
        else:
            t0 = time.time()
            pos = self.pos["train"][: int(p["max_subjects"])]
            cond = self.predict(self.trained_model("heads"), pos)["embedding"]
            np.savez(cond_path, pos=pos, cond=cond)
            self.timings.set("prior_embeddings", seconds=round(time.time() - t0, 1))
        cond_t = torch.from_numpy(cond.astype(np.float32))
        x0_all = torch.from_numpy(self.latents[pos])
        sched = DiffusionSchedule(p["diffusion_steps"], p["beta_start"], p["beta_end"])
        opt = torch.optim.AdamW(prior.parameters(), lr=p["lr"], weight_decay=0.0)

        def step(i, _p):
            rng = np.random.default_rng([self.seed, 7, i])
            idx = torch.from_numpy(rng.choice(len(pos), size=min(p["batch"], len(pos)), replace=False))
            g = torch.Generator().manual_seed(self.seed * 1000003 + i)
            t = torch.randint(0, sched.steps, (len(idx),), generator=g)
            noise = torch.randn(len(idx), x0_all.shape[1], generator=g)
            xt = sched.q_sample(x0_all[idx], t, noise)
            loss = F.mse_loss(prior(xt, cond_t[idx], t), noise)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss.item()

        train_stage(self.run_dir, "prior", {"prior": prior}, opt, step, p["steps"], p["minutes"],
                    self.cfg["checkpoint_seconds"], self.timings)

    def trained_prior(self) -> LatentPrior:
        prior = self.make_prior()
        prior.load_state_dict(self.load_done("prior")["modules"]["prior"])
        return prior.eval()

    def stage_validate(self):
        from .metrics import auc, pearson, specificity_threshold, youden_threshold
        t0 = time.time()
        res = {}
        pos = self.pos["val"]
        rows = self.rows[pos]
        for name in ("heads", "baseline"):
            o = self.predict(self.trained_model(name), pos)["heads"]
            prob = 1 / (1 + np.exp(-o["risk"]))
            risk = {}
            for j, (_, oid, _) in enumerate(D.RISK_OUTPUTS):
                y = self.targets.risk[rows, j]
                risk[oid] = {"auc": auc(y, prob[:, j]), "threshold": youden_threshold(y, prob[:, j]),
                             "spec90": specificity_threshold(y, prob[:, j], 0.9), "positives": int(y.sum())}
            sub = self.targets.subtype[rows]
            cm = sub >= 0
            logits = o["cm_subtype"][cm]
            sp = np.exp(logits - logits.max(1, keepdims=True))
            sp /= sp.sum(1, keepdims=True)
            subtype = {sid: {"auc": auc(sub[cm] == k, sp[:, k]), "cases": int((sub[cm] == k).sum())}
                       for k, (sid, _) in enumerate(D.SUBTYPES)}
            truth = self.targets.phenotype[rows]
            pred = o["phenotype"] * self.ph_std + self.ph_mean
            pheno = {oid: {"r": pearson(truth[:, j], pred[:, j])} for j, (_, oid, _, _) in enumerate(D.PHENOTYPES)}
            res[name] = {"risk": risk, "cm_subtype": subtype, "phenotype": pheno,
                         "mean_auc": float(np.nanmean([v["auc"] for v in risk.values()])),
                         "mean_r": float(np.nanmean([v["r"] for v in pheno.values()]))}
            log(f"validate {name}: mean AUC {res[name]['mean_auc']:.3f}, mean phenotype r {res[name]['mean_r']:.3f}")
        (self.run_dir / "validation.json").write_text(json.dumps(res, indent=2) + "\n")
        self.timings.set("validate", seconds=round(time.time() - t0, 1))

    def stage_export(self):
        from .export import export_bundle
        t0 = time.time()
        export_bundle(self)
        self.timings.set("export", seconds=round(time.time() - t0, 1))

    def stage_evaluate(self):
        from .evaluate import evaluate
        t0 = time.time()
        evaluate(self)
        self.timings.set("evaluate", seconds=round(time.time() - t0, 1))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/demo.json")
    ap.add_argument("--cohort", default=None, help="override the config's cohort folder")
    ap.add_argument("--stop-after", choices=STAGES, default=None)
    ap.add_argument("--only", choices=STAGES, nargs="*", default=None,
                    help="run just these stages (their inputs must exist)")
    args = ap.parse_args(argv)
    over = {"cohort": args.cohort} if args.cohort else None
    cfg = load_config(args.config, over)
    torch.set_num_threads(int(cfg["threads"]))
    t_all = time.time()
    p = Pipeline(cfg)
    (p.run_dir / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    for stage in STAGES:
        if args.only is not None and stage not in args.only and stage not in ("preprocess", "latents"):
            continue
        log(f"=== stage {stage}")
        t0 = time.time()
        getattr(p, f"stage_{stage}")()
        log(f"=== stage {stage} finished in {time.time() - t0:.0f} s")
        if stage == args.stop_after:
            break
    log(f"pipeline finished in {time.time() - t_all:.0f} s")


if __name__ == "__main__":
    main()
