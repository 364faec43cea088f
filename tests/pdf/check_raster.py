"""Checks one rendered report page (a PPM from `pdftoppm -r DPI`) and its uncompressed PDF (qpdf --qdf).

usage: check_raster.py PAGE.ppm PAGE.qdf.pdf DPI a4|letter

Geometry (docs/export.md, ECGReportLayout): landscape page; the ECG grid is 260 x 100 mm with its
top-left corner at (round((W - 260) / 2), 33) mm; calibration pulses in the first 10 mm; traces from
+10 mm at 25 mm/s (2.5 s = 62.5 mm per column of the 3x4 layout); rows of 25 mm, baseline at 60 %.
"""
import re
import sys

import numpy as np

ppm_path, pdf_path, dpi, paper = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
# Optional 5th argument: "no-tint" for a page drawn without a Grad-CAM (checks that none is drawn).
tint = sys.argv[5] if len(sys.argv) > 5 else "tint"
page_mm = {"a4": (297.0, 210.0), "letter": (279.4, 215.9)}[paper]
grid_left_mm = float(round((page_mm[0] - 260) / 2 + 1e-9)) if paper == "letter" else 19.0
grid_top_mm = 33.0
px_per_mm = dpi / 25.4
failures = []


def check(ok, msg):
    print(("  ok   " if ok else "  FAIL ") + msg)
    if not ok:
        failures.append(msg)


def read_ppm(path):
    data = open(path, "rb").read()
    parts = data.split(maxsplit=4)
    assert parts[0] == b"P6", "not a binary PPM"
    w, h, maxval = int(parts[1]), int(parts[2]), int(parts[3])
    assert maxval == 255
    pixels = np.frombuffer(parts[4][: w * h * 3], dtype=np.uint8).reshape(h, w, 3)
    return pixels.astype(np.int32)


img = read_ppm(ppm_path)
h, w, _ = img.shape
print(f"{paper}: {w}x{h} px at {dpi:g} dpi")
check(abs(w - page_mm[0] * px_per_mm) <= 1.5 and abs(h - page_mm[1] * px_per_mm) <= 1.5,
      f"page is {page_mm[0]} x {page_mm[1]} mm ({w}x{h} px)")
r, g, b = img[..., 0], img[..., 1], img[..., 2]

# Grid colour: paper pink (minor 250,205,205 / major 232,140,140, anti-aliased towards white).
# g = b on the grid (also anti-aliased towards white); the Grad-CAM tint is orange (g > b), so it is not grid.
pink = (r - g > 15) & (np.abs(g - b) < 8) & (r > 200)
check(pink.sum() > 100_000, f"grid colour present ({pink.sum()} pink pixels)")
x0 = int(round(grid_left_mm * px_per_mm)); x1 = int(round((grid_left_mm + 260) * px_per_mm))
y0 = int(round(grid_top_mm * px_per_mm)); y1 = int(round((grid_top_mm + 100) * px_per_mm))
# Outside the grid box: the side margins and the strip above the grid carry no text, so no pink
# there (elsewhere anti-aliased red text would look pink).
m = 3
outside = np.zeros_like(pink)
outside[:, :max(0, x0 - m)] = True; outside[:, x1 + m:] = True
outside[int((grid_top_mm - 6) * px_per_mm):max(0, y0 - m), :] = True
outside[y1 + m:int((grid_top_mm + 100 + 1.5) * px_per_mm), :] = True
check((pink & outside).sum() == 0, f"no grid colour outside the grid box ({(pink & outside).sum()} px)")


def line_centres(profile, n_expected, origin_px, label):
    """Centroids of the grid lines from a 1-D profile of pinkness; returns (index, centre_px) pairs."""
    found = []
    for k in range(n_expected):
        guess = origin_px + k * px_per_mm
        lo, hi = int(np.floor(guess - 0.4 * px_per_mm)), int(np.ceil(guess + 0.4 * px_per_mm))
        lo, hi = max(lo, 0), min(hi, len(profile) - 1)
        seg = profile[lo:hi + 1].astype(float)
        if seg.max() <= 0:
            continue
        seg = np.clip(seg - 0.5 * seg.max(), 0, None)          # keep the peak, drop the shoulders
        if seg.sum() <= 0:
            continue
        found.append((k, lo + (np.arange(len(seg)) * seg).sum() / seg.sum()))
    return found


def fit_spacing(found, label, n_expected):
    k = np.array([f[0] for f in found], float); c = np.array([f[1] for f in found], float)
    slope, intercept = np.polyfit(k, c, 1)
    resid = c - (slope * k + intercept)
    spacing_mm = slope / px_per_mm
    check(len(found) >= 0.95 * n_expected, f"{label}: {len(found)} of {n_expected} grid lines found")
    check(abs(spacing_mm - 1) <= 0.01, f"{label}: grid spacing {spacing_mm:.5f} mm (1 mm +- 1 %)")
    check(abs(intercept / px_per_mm - (grid_left_mm if label == 'vertical lines' else grid_top_mm)) <= 0.15,
          f"{label}: first line at {intercept / px_per_mm:.3f} mm from the page edge")
    check(np.abs(resid).max() / px_per_mm <= 0.08, f"{label}: every line within {np.abs(resid).max() / px_per_mm:.3f} mm of the fit")
    return spacing_mm


# Pinkness weighted by depth (major lines are darker); tint-free where the Grad-CAM is absent.
depth = np.where(pink, r - g, 0)
col_profile = depth[y0:y1, :].sum(axis=0)
row_profile = depth[:, x0:x1].sum(axis=1)
sx = fit_spacing(line_centres(col_profile, 261, grid_left_mm * px_per_mm, "vertical lines"), "vertical lines", 261)
sy = fit_spacing(line_centres(row_profile, 101, grid_top_mm * px_per_mm, "horizontal lines"), "horizontal lines", 101)
# Major lines: every 5th line is darker.
peaks = dict(line_centres(col_profile, 261, grid_left_mm * px_per_mm, ""))
heights = {k: col_profile[int(round(c))] for k, c in peaks.items()}
major = [heights[k] for k in heights if k % 5 == 0]; minor = [heights[k] for k in heights if k % 5 != 0]
check(np.median(major) > 1.4 * np.median(minor), f"5 mm lines darker than 1 mm lines (median {np.median(major):.0f} vs {np.median(minor):.0f})")
print(f"measured grid spacing: {sx:.5f} mm horizontally, {sy:.5f} mm vertically (raster, {dpi:g} dpi)")

# Traces: dark pixels across every lead box (3x4 + rhythm strip) and in the calibration pulses.
dark = (r < 110) & (g < 110) & (b < 110)


def box(xmm0, ymm0, xmm1, ymm1):
    return dark[int(ymm0 * px_per_mm):int(ymm1 * px_per_mm), int(xmm0 * px_per_mm):int(xmm1 * px_per_mm)]


layout = [["I", "II", "III"], ["aVR", "aVL", "aVF"], ["V1", "V2", "V3"], ["V4", "V5", "V6"]]
tx = grid_left_mm + 10
for row in range(4):
    top = grid_top_mm + 25 * row
    cells = [(layout[c][row], tx + 62.5 * c, tx + 62.5 * (c + 1)) for c in range(4)] if row < 3 else [("II rhythm", tx, tx + 250)]
    for name, a, z in cells:
        # Below the lead label (first 4.5 mm of the row), leaving 1 mm at each side of the cell.
        sub = box(a + 1, top + 4.5, z - 1, top + 25)
        cover = sub.any(axis=0).mean()
        check(cover > 0.97, f"{name}: trace dark pixels in {cover * 100:.1f} % of its box columns")
    cal = box(grid_left_mm + 2.5, top + 15 - 10.5, grid_left_mm + 7.5, top + 15 + 0.5)
    check(cal.any(axis=1).mean() > 0.9 and cal.any(axis=0).mean() > 0.9, f"row {row + 1}: calibration pulse 10 mm tall, 5 mm wide")
    above = box(grid_left_mm + 2.5, top + 15 - 13, grid_left_mm + 7.5, top + 15 - 11)
    check(not above.any(), f"row {row + 1}: nothing above the 1 mV pulse")

orange = (r > 240) & (b < g - 30) & (g < 240)
if tint == "no-tint":
    # A case with nothing flagged has no Grad-CAM by default: the traces carry no tint at all.
    check(orange[y0:y1, x0:x1].sum() == 0, f"no Grad-CAM tint when nothing is flagged ({orange[y0:y1, x0:x1].sum()} px)")
else:
    check(orange[y0:y1, x0:x1].sum() > 500, f"Grad-CAM tint on the traces ({orange[y0:y1, x0:x1].sum()} px)")
lower = img[int((grid_top_mm + 108) * px_per_mm):, int((grid_left_mm + 260 * 0.77) * px_per_mm):int((grid_left_mm + 260) * px_per_mm)]
greyish = (np.abs(lower[..., 0] - lower[..., 1]) < 3) & (np.abs(lower[..., 1] - lower[..., 2]) < 3) & (lower[..., 0] < 200)
check(greyish.sum() > 20_000, f"generated CMR frames drawn ({greyish.sum()} grey px)")

# The content stream: grid lines are vector strokes at exact 1 mm (72/25.4 pt) steps.
content = open(pdf_path, "rb").read().decode("latin-1")
pt = 72 / 25.4
# qpdf --qdf wraps long content lines, so tokens are separated by any white space.
# Grid strokes are the vertical segments spanning the whole grid height (100 mm).
xs = sorted({round(float(m.group(1)), 3)
             for m in re.finditer(r"(-?[\d.]+)\s+(-?[\d.]+)\s+m\s+(-?[\d.]+)\s+(-?[\d.]+)\s+l", content)
             if abs(float(m.group(1)) - float(m.group(3))) < 1e-6
             and abs(abs(float(m.group(2)) - float(m.group(4))) - 100 * 72 / 25.4) < 0.01})
grid_xs = [x for x in xs if grid_left_mm * pt - 0.5 <= x <= (grid_left_mm + 260) * pt + 0.5]
if len(grid_xs) >= 200:
    steps = np.diff(grid_xs) / pt
    check(np.abs(steps - 1).max() < 1e-3, f"content stream: {len(grid_xs)} vertical grid strokes, steps {steps.min():.5f}-{steps.max():.5f} mm")
    print(f"content-stream grid spacing: mean {np.mean(steps):.6f} mm over {len(steps)} steps")
else:
    # cairo may write the mm scale as a 'cm' and the lines in user units: steps of 1.
    xs_mm = [x for x in xs if grid_left_mm - 0.01 <= x <= grid_left_mm + 260.01]
    cm = re.search(r"([\d.]+) 0 0 -?([\d.]+) [-\d.]+ [-\d.]+ cm", content)
    scale = float(cm.group(1)) if cm else 0
    steps = np.diff(xs_mm) * scale / pt if len(xs_mm) > 1 else np.array([0.0])
    check(len(xs_mm) >= 200 and np.abs(steps - 1).max() < 1e-3,
          f"content stream: {len(xs_mm)} vertical grid strokes in mm units, scale {scale:g} pt/unit, steps {steps.min():.5f}-{steps.max():.5f} mm")

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
