#!/usr/bin/env python3
"""Word-box layout check of report PDFs: `pdftotext -bbox-layout` of each PDF, then
  1. no two word boxes overlap (intersection wider and taller than 0.05 pt);
  2. every word lies on the page, inside the grid's margins (the grid is centred, so the right
     margin mirrors the left one, read from the lower panel's first column);
  3. in the lower panel (from the row of section titles down to the provenance footer) every word
     lies inside one column: it starts at or after its column's title and ends before the next
     column's title starts (the last column ends at the right margin);
  4. no word in the lower panel is cut with "…" (labels take their short forms instead), and no
     word carries "…" in its middle (two texts run together).
Prints one line per PDF and a summary; exits 1 on any finding.
  check_layout.py FILE.pdf...
"""
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from testlib import report_findings  # noqa: E402

EPS = 0.05           # pt: boxes touching by less than this do not overlap
COLUMN_TITLES = ("Global", "Risks", "CMR", "Generated", "Model")


def words(pdf):
    xhtml = subprocess.run(["pdftotext", "-bbox-layout", pdf, "-"], check=True, capture_output=True).stdout
    root = ET.fromstring(xhtml)
    ns = {"h": "http://www.w3.org/1999/xhtml"}
    pages = root.findall(".//h:page", ns)
    assert len(pages) == 1, f"{pdf}: {len(pages)} pages"
    page = pages[0]
    size = (float(page.get("width")), float(page.get("height")))
    out = []
    for w in page.iter("{http://www.w3.org/1999/xhtml}word"):
        out.append((float(w.get("xMin")), float(w.get("yMin")), float(w.get("xMax")), float(w.get("yMax")), w.text or ""))
    return size, out


def check(pdf, parsed=None):
    # `parsed`: words(pdf) when the caller already has it (pdftotext once per PDF).
    (pw, ph), ws = parsed if parsed is not None else words(pdf)
    problems = []
    # 1. overlaps (sweep over x).
    order = sorted(range(len(ws)), key=lambda i: ws[i][0])
    for a_pos, i in enumerate(order):
        a = ws[i]
        for j in order[a_pos + 1:]:
            b = ws[j]
            if b[0] >= a[2] - EPS:
                break
            if min(a[3], b[3]) - max(a[1], b[1]) > EPS and min(a[2], b[2]) - max(a[0], b[0]) > EPS:
                problems.append(f"overlap: {a[4]!r} {fmt(a)} and {b[4]!r} {fmt(b)}")
    # Lower-panel columns from the section titles (the row holding "Global measurements").
    glob = [w for w, nxt in zip(ws, ws[1:]) if w[4] == "Global" and nxt[4] == "measurements"]
    if not glob:
        return ["no 'Global measurements' section title"]
    row_top = glob[0][1]
    titles = sorted({w[0] for w in ws if abs(w[1] - row_top) < 0.5 and w[4] in COLUMN_TITLES})
    left = titles[0]
    right = pw - left + 3.5  # the grid is centred to whole millimetres: up to 1 mm of asymmetry
    footer = min((w[1] for w in ws if w[4] == "input" and w[1] > row_top), default=ph)
    # 2. page and margins.
    for w in ws:
        if w[0] < left - 0.5 or w[2] > right + 0.5 or w[1] < 0 or w[3] > ph:
            problems.append(f"outside the page margins [{left:.1f}, {right:.1f}]: {w[4]!r} {fmt(w)}")
    # 3, 4. columns of the lower panel.
    for w in ws:
        if w[1] < row_top - 0.5 or w[1] >= footer:
            continue
        starts = [t for t in titles if t <= w[0] + 0.5]
        if not starts:
            problems.append(f"left of every column: {w[4]!r} {fmt(w)}")
            continue
        k = titles.index(starts[-1])
        end = titles[k + 1] if k + 1 < len(titles) else right
        if w[2] > end - 0.5:
            problems.append(f"runs out of its column (ends {w[2]:.1f} > {end - 0.5:.1f}): {w[4]!r} {fmt(w)}")
        if "…" in w[4]:
            problems.append(f"cut label in the lower panel: {w[4]!r} {fmt(w)}")
    for w in ws:
        if "…" in w[4].rstrip("…"):
            problems.append(f"texts run together: {w[4]!r} {fmt(w)}")
    return problems


def fmt(w):
    return f"[{w[0]:.1f},{w[1]:.1f} – {w[2]:.1f},{w[3]:.1f}]"


def main(paths):
    total_words = 0

    def problems_of(p):
        nonlocal total_words
        parsed = words(p)
        total_words += len(parsed[1])
        return check(p, parsed)

    return report_findings("layout", paths, problems_of, "PDFs", shown=20, detail=lambda: f", {total_words} word boxes")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
