"""docs/img/cohort.png: example ECGs and cine frames per condition, drawn with Pillow.

    python -m cohort.figure --out docs/img/cohort.png
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from . import LEAD_NAMES

GRID_MINOR = (250, 222, 222)
GRID_MAJOR = (240, 175, 175)
TRACE = (20, 20, 20)


def _font(size=12):
    for name in ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default()


def draw_ecg(ecg_mv: np.ndarray, fs: float, leads=("I", "II", "V1", "V5"), seconds=4.0,
             px_per_s=100, px_per_mV=40, title="") -> Image.Image:
    """Paper-style strips (25 mm/s-like grid) of selected leads."""
    n = int(seconds * fs)
    w = int(seconds * px_per_s) + 40
    row_h = int(3.0 * px_per_mV)
    h = row_h * len(leads) + (18 if title else 4)
    img = Image.new("RGB", (w, h), (255, 255, 255))
    d = ImageDraw.Draw(img)
    top = 18 if title else 4
    minor = px_per_s * 0.04
    x = 40.0
    k = 0
    while x < w:
        d.line([(x, top), (x, h)], fill=GRID_MAJOR if k % 5 == 0 else GRID_MINOR)
        x += minor
        k += 1
    y, k = float(top), 0
    while y < h:
        d.line([(40, y), (w, y)], fill=GRID_MAJOR if k % 5 == 0 else GRID_MINOR)
        y += px_per_mV * 0.1
        k += 1
    f = _font(11)
    if title:
        d.text((4, 2), title, fill=(0, 0, 0), font=f)
    for r, name in enumerate(leads):
        sig = ecg_mv[LEAD_NAMES.index(name), :n]
        y0 = top + r * row_h + row_h / 2
        xs = 40 + np.arange(sig.size) / fs * px_per_s
        ys = y0 - np.clip(sig, -1.45, 1.45) * px_per_mV
        d.line(list(zip(xs.tolist(), ys.tolist())), fill=TRACE, width=1)
        d.text((4, y0 - 7), name, fill=(0, 0, 0), font=f)
    return img


def condition_examples(cohort: dict, rng_seed: int = 0):
    """(label, row index) of one clear example per condition."""
    from .state import subject_row
    n = len(cohort["subject_id"])
    rows = [subject_row(cohort, i) for i in range(n)]

    def first(label, pred):
        for i, s in enumerate(rows):
            if pred(s):
                return (label, i)
        return None

    plain = lambda s: (s["bbb"] == "none" and s["rhythm"] == "sinus" and not s["effusion"]  # noqa
                       and not s["pulmonary_hypertension"])
    picks = [
        first("healthy", lambda s: plain(s) and not any(
            s[k] for k in ("cad", "heart_failure", "cardiomyopathy", "pericarditis", "lge"))),
        first("prior MI (LAD)", lambda s: plain(s) and s["mi_territory"] == "lad"
              and s["lv_ef_pct"] < 45 and s["cm_subtype"] == "none"),
        first("prior MI (RCA)", lambda s: plain(s) and s["mi_territory"] == "rca"
              and s["lv_ef_pct"] < 50 and s["cm_subtype"] == "none"),
        first("DCM + HF", lambda s: s["cm_subtype"] == "dcm" and s["heart_failure"]
              and s["rhythm"] == "sinus"),
        first("HCM", lambda s: plain(s) and s["cm_subtype"] == "hcm"),
        first("RCM", lambda s: s["cm_subtype"] == "rcm" and s["rhythm"] == "sinus"),
        first("pre-capillary PH", lambda s: s["ph_group"] == "precap" and s["ph_severity"] > 0.5
              and s["rhythm"] == "sinus" and s["cm_subtype"] == "none" and not s["effusion"]),
        first("acute pericarditis + effusion", lambda s: s["pericarditis_acute"] and s["effusion"]
              and s["rhythm"] == "sinus" and s["bbb"] == "none"),
        first("atrial fibrillation", lambda s: s["rhythm"] == "af" and s["bbb"] == "none"
              and s["cm_subtype"] == "none"),
        first("LBBB", lambda s: s["bbb"] == "lbbb" and s["rhythm"] == "sinus"),
        first("RBBB", lambda s: s["bbb"] == "rbbb" and s["rhythm"] == "sinus"),
    ]
    return [p for p in picks if p is not None]


def make_figure(n_pool: int = 4000, seed: int = 7) -> Image.Image:
    from .cmr import render_cine, volume_curve
    from .ecg import render_ecg
    from .state import sample_subjects, subject_row
    cohort = sample_subjects(n_pool, seed)
    examples = condition_examples(cohort)
    tiles = []
    f = _font(12)
    for label, i in examples:
        s = subject_row(cohort, i)
        for attempt in range(5):   # a detached electrode is realistic, but not what we show here
            rng = np.random.default_rng(int(s["seed"]) + attempt)
            ecg = render_ecg(s, rng)
            if np.all(np.ptp(ecg, axis=1) > 0.05):
                break
        sax = render_cine(s, "sax", 25, rng)
        lax = render_cine(s, "lax", 25, rng)
        phases = np.arange(25) / 25.0
        es = int(np.argmin(volume_curve(phases, s["heart_rate_bpm"], s["rhythm"] == "af")))
        strip = draw_ecg(ecg, 500, leads=("II", "V1", "V5"), px_per_mV=30, title=f"{label} — {s['subject_id']}, EF {s['lv_ef_pct']:.0f} %, "
                         f"LV mass {s['lv_mass_g']:.0f} g, HR {s['heart_rate_bpm']:.0f}/min")
        ims = [Image.fromarray(v[k]).resize((120, 120), Image.BICUBIC)
               for v in (sax, lax) for k in (0, es)]
        row_h = max(strip.height, 142)
        row = Image.new("RGB", (strip.width + 4 * 124 + 8, row_h), (255, 255, 255))
        row.paste(strip, (0, 0))
        d = ImageDraw.Draw(row)
        for k, im in enumerate(ims):
            x = strip.width + 8 + k * 124
            row.paste(im.convert("RGB"), (x, 16))
            d.text((x, 1), ("SAX ED", "SAX ES", "4CH ED", "4CH ES")[k], fill=(0, 0, 0), font=f)
        tiles.append(row)
    w = max(t.width for t in tiles)
    header = 30
    out = Image.new("RGB", (w, header + sum(t.height + 6 for t in tiles)), (255, 255, 255))
    d = ImageDraw.Draw(out)
    d.text((6, 6), "Synthetic cohort (python -m cohort.figure): ECG leads II, V1, V5 (4 s; small squares 0.04 s × 0.1 mV) "
           "and cine frames per condition — SYNTHETIC DATA", fill=(0, 0, 0), font=_font(14))
    y = header
    for t in tiles:
        out.paste(t, (0, y))
        y += t.height + 6
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m cohort.figure")
    p.add_argument("--out", type=Path, default=Path("docs/img/cohort.png"))
    a = p.parse_args(argv)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    make_figure().save(a.out, optimize=True)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
