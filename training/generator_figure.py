"""docs/img/generated-vs-true.png: true and generated SAX / LAX (end-diastole and end-systole) for
a normal, a DCM and an HCM subject of a held-out synthetic cohort, from the bundle's PyTorch
reference (the same numbers as the Swift engine, tested by the golden-vector parity tests).

    python training/generator_figure.py --bundle assets/models/demo-v2 --out docs/img/generated-vs-true.png
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cohort import LEAD_NAMES  # noqa: E402
from cohort.cmr import render_cine  # noqa: E402
from cohort.ecg import render_ecg  # noqa: E402
from cohort.figure import _font  # noqa: E402
from cohort.state import sample_subjects, subject_row  # noqa: E402
from ecg2cmr_train.beats import beat_features  # noqa: E402
from ecg2cmr_train.bundle import load_bundle  # noqa: E402
from ecg2cmr_train.metrics import cine_function  # noqa: E402
from ecg2cmr_train.model import DiffusionSchedule, generate_cine  # noqa: E402
from ecg2cmr_train.preprocess import preprocess  # noqa: E402

FRAMES = 20


def pick(cohort: dict) -> list:
    n = len(cohort["subject_id"])
    def first(cond):
        idx = [i for i in range(n) if cond(i)]
        return idx[0] if idx else None
    normal = first(lambda i: cohort["cad"][i] == 0 and cohort["heart_failure"][i] == 0 and cohort["cm_subtype"][i] == "none"
                   and cohort["atrial_fibrillation"][i] == 0 and cohort["pulmonary_hypertension"][i] == 0)
    dcm = first(lambda i: cohort["cm_subtype"][i] == "dcm")
    hcm = first(lambda i: cohort["cm_subtype"][i] == "hcm")
    return [(k, i) for k, i in (("normal", normal), ("DCM", dcm), ("HCM", hcm)) if i is not None]


def true_cines(s: dict) -> dict:
    rng = np.random.default_rng(int(s["seed"]))
    ecg = render_ecg(s, rng, fs=500, seconds=10.0)
    sax = render_cine(s, "sax", FRAMES, rng, as_float=True)
    lax = render_cine(s, "lax", FRAMES, rng, as_float=True)
    return {"ecg": ecg, "sax": sax, "lax": lax}


def generated(enc, gen, manifest, ecg_mv: np.ndarray, seed: int) -> tuple:
    x = preprocess(ecg_mv, 500.0, manifest["input"]["preprocessing"])[0].astype(np.float32)
    f = beat_features(x, list(LEAD_NAMES), float(manifest["input"]["samplingRate"]), manifest["encoder"]["beats"])
    with torch.no_grad():
        out = enc({"beats": torch.from_numpy(f["median_beat"])[None], "rhythm": torch.from_numpy(f["rhythm"])[None]})
    g = manifest["generator"]
    sched = DiffusionSchedule(g["diffusion"]["steps"], g["diffusion"]["betaStart"], g["diffusion"]["betaEnd"])
    res = generate_cine(gen, sched, g["diffusion"]["samplingSteps"], float(g["guidance"]),
                        out["heads"][g["anatomy"]["head"]][0], out["embedding"][0], seed,
                        torch.arange(FRAMES, dtype=torch.float32) / FRAMES,
                        g["pose"]["rotationDegrees"], g["pose"]["shiftPixels"])
    ph = next(h for h in manifest["heads"] if h["name"] == "phenotype")
    j = [o["id"] for o in ph["outputs"]].index("lv_ef")
    ef_head = float(out["heads"]["phenotype"][0, j]) * ph["outputs"][j]["std"] + ph["outputs"][j]["mean"]
    return res["frames"], ef_head


def tile(frame: np.ndarray, size: int) -> Image.Image:
    im = Image.fromarray((np.clip(frame, 0, 1) * 255).astype(np.uint8), "L")
    return im.resize((size, size), Image.BICUBIC).convert("RGB")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default=str(HERE.parent / "assets/models/demo-v2"))
    ap.add_argument("--out", default=str(HERE.parent / "docs/img/generated-vs-true.png"))
    ap.add_argument("--seed", type=int, default=4242, help="held-out cohort seed (not the training seed 0)")
    ap.add_argument("--n", type=int, default=400)
    a = ap.parse_args(argv)
    enc, gen, manifest = load_bundle(a.bundle)
    cohort = sample_subjects(a.n, a.seed)
    cell, pad, label_w, head_h = 120, 6, 150, 40
    cols = ["true SAX ED", "true SAX ES", "generated SAX ED", "generated SAX ES",
            "true LAX ED", "true LAX ES", "generated LAX ED", "generated LAX ES"]
    rows = pick(cohort)
    W = label_w + len(cols) * (cell + pad)
    H = head_h + len(rows) * (cell + pad + 16) + 30
    img = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(img)
    font, small = _font(12), _font(10)
    for c, name in enumerate(cols):
        d.text((label_w + c * (cell + pad), 14), name, fill=(0, 0, 0), font=small)
    for r, (kind, i) in enumerate(rows):
        s = subject_row(cohort, i)
        t = true_cines(s)
        g, ef_head = generated(enc, gen, manifest, t["ecg"], seed=1)
        y = head_h + r * (cell + pad + 16)
        ft, fg = cine_function(t["sax"]), cine_function(g["sax"])
        d.text((4, y + 10), kind, fill=(0, 0, 0), font=font)
        d.text((4, y + 30), f"true EF {s['lv_ef_pct']:.0f} %", fill=(0, 0, 0), font=small)
        d.text((4, y + 44), f"EF head {ef_head:.0f} %", fill=(0, 0, 0), font=small)
        d.text((4, y + 58), f"area EF true {ft['ef']:.0f} %", fill=(60, 60, 60), font=small)
        d.text((4, y + 72), f"area EF gen {fg['ef']:.0f} %", fill=(60, 60, 60), font=small)
        es = {v: int(np.argmin([(f > 0.5).sum() for f in t[v]])) for v in ("sax", "lax")}
        es_g = {v: int(np.argmin([(f > 0.5).sum() for f in g[v]])) for v in ("sax", "lax")}
        frames = [t["sax"][0], t["sax"][es["sax"]], g["sax"][0], g["sax"][es_g["sax"]],
                  t["lax"][0], t["lax"][es["lax"]], g["lax"][0], g["lax"][es_g["lax"]]]
        for c, fr in enumerate(frames):
            img.paste(tile(fr, cell), (label_w + c * (cell + pad), y))
    d.text((4, H - 22), f"{manifest['id']}: generated from the ECG alone (synthetic data, not acquired MRI); "
           f"held-out cohort seed {a.seed}; generator seed 1", fill=(120, 0, 0), font=small)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    img.save(a.out)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
