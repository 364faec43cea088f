#!/usr/bin/env bash
# End-to-end checks of the PDF report (`ecg2cmr report`, `export --pdf`) on the real binary:
#  1. qpdf --check passes, one landscape page of the right size, fonts embedded;
#  2. the page raster (pdftoppm at 300 dpi): grid colour present, dark trace pixels in each of the
#     12 lead boxes + the rhythm strip + the calibration pulses, Grad-CAM tint, CMR frames;
#  3. grid spacing measured on the raster (line centroids, least-squares fit) is 1 mm ± 1 % and
#     the 5 mm lines fall every 5th line; the same read from the PDF content stream (qpdf --qdf);
#  4. the page text: 25 mm/s, 10 mm/mV, filter, AUC, "generated, not acquired", the synthetic
#     notice, the input sha256, and patient identifiers only with --include-phi;
#  5. export --pdf writes report.pdf in the case folder, listed in the manifest, byte-identical
#     when regenerated from the manifest;
#  6. text does not depend on the installation's fontconfig rules: an export under a hostile
#     fontconfig file (full hinting, RGB sub-pixel, LCD filter, forced autohint) gives the same
#     ecg.png, contact sheet and report.pdf bytes (fonts are loaded from the DejaVu files).
#  7. layout by measurement: tests/pdf/layout.sh reads every word box of 49 reports;
#   tests/pdf/run.sh   (ECG2CMR_BIN=/path/to/ecg2cmr to skip the build; PDF_KEEP=DIR keeps the outputs)
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
for tool in qpdf pdftoppm pdftotext pdfinfo pdffonts; do
  command -v "$tool" >/dev/null || { echo "pdf: $tool is not installed (scripts/setup installs poppler-utils and qpdf)"; exit 1; }
done
bin=$(test_binary)
make_work
MODEL=$(test_model "$work")
fail() { echo "pdf FAIL: $*" >&2; exit 1; }
ecg=sample-data/P01-healthy/ecg.hea

echo "-- report (A4, no PHI) and (Letter, --include-phi)"
# P01 is healthy: nothing is flagged, so there is no Grad-CAM by default (the footer says how to pick
# one). The grid geometry is measured on the two untinted pages (a4, letter: no tint at all); the
# tint is checked on a page that asks for CAD's map.
"$bin" report "$ecg" --out "$work/default.pdf" --model "$MODEL" >/dev/null || fail "report (default Grad-CAM)"
pdftotext -layout "$work/default.pdf" "$work/default.txt"
grep -qF "no flagged finding, so no Grad-CAM by default" "$work/default.txt" || fail "default report of a healthy case: no hint that nothing is flagged"
# The HCM case flags cardiomyopathy (p 0.99) above everything else: its map is the default, not CAD's.
"$bin" report sample-data/P05-hcm/ecg-ukb.xml --out "$work/hcm.pdf" --model "$MODEL" >/dev/null || fail "report P05-hcm"
pdftotext -layout "$work/hcm.pdf" "$work/hcm.txt"
if [ "$MODEL" = assets/models/demo-v2 ]; then
  grep -qF "Grad-CAM of risk.cardiomyopathy" "$work/hcm.txt" || fail "P05-hcm: the default Grad-CAM is not cardiomyopathy's: $(grep -o 'Grad-CAM[^(]*' "$work/hcm.txt" | head -1)"
fi
"$bin" report "$ecg" --out "$work/a4.pdf" --model "$MODEL" >/dev/null || fail "report a4"
"$bin" report "$ecg" --out "$work/letter.pdf" --paper letter --include-phi --model "$MODEL" >/dev/null || fail "report letter"
"$bin" report "$ecg" --out "$work/cad.pdf" --gradcam-head risk.cad --model "$MODEL" >/dev/null || fail "report --gradcam-head risk.cad"
pdftoppm -r 100 "$work/cad.pdf" "$work/cad"
python3 - "$work/cad-1.ppm" <<'PY' || fail "no Grad-CAM tint on the page that asks for risk.cad"
import sys
import numpy as np
data = open(sys.argv[1], "rb").read()
parts = data.split(maxsplit=4)
w, h = int(parts[1]), int(parts[2])
img = np.frombuffer(parts[4][-w * h * 3:], np.uint8).reshape(h, w, 3).astype(int)
r, g, b = img[..., 0], img[..., 1], img[..., 2]
n = int(((r > 240) & (b < g - 30) & (g < 240)).sum())
print(f"  ok   Grad-CAM tint of risk.cad drawn ({n} px at 100 dpi)" if n > 50 else f"  FAIL Grad-CAM tint of risk.cad: {n} px")
sys.exit(0 if n > 50 else 1)
PY
for f in a4 letter; do
  qpdf --check "$work/$f.pdf" >"$work/$f.qpdf" 2>&1 || { cat "$work/$f.qpdf"; fail "qpdf --check $f.pdf"; }
  grep -q "No syntax or stream encoding errors" "$work/$f.qpdf" || fail "qpdf output for $f.pdf: $(cat "$work/$f.qpdf")"
  pdffonts "$work/$f.pdf" | awk 'NR>2 && $0 !~ / yes +yes +(yes|no) / { bad=1 } END { exit bad }' \
    || { pdffonts "$work/$f.pdf"; fail "$f.pdf: a font is not embedded"; }
  pdffonts "$work/$f.pdf" | grep -q DejaVuSans || fail "$f.pdf: DejaVu Sans not used"
  pdftotext -layout "$work/$f.pdf" "$work/$f.txt"
  pdftoppm -r 300 "$work/$f.pdf" "$work/$f"          # → $f-1.ppm
  qpdf --qdf --object-streams=disable "$work/$f.pdf" "$work/$f.qdf.pdf"
done
pdfinfo "$work/a4.pdf" | grep -Eq "^Pages: +1$" || fail "a4.pdf is not one page"
pdfinfo "$work/a4.pdf" | grep -Eq "^Page size: +841.89 x 595.276? pts" || fail "a4.pdf is not A4 landscape: $(pdfinfo "$work/a4.pdf" | grep 'Page size')"
pdfinfo "$work/letter.pdf" | grep -Eq "^Page size: +792 x 612 pts" || fail "letter.pdf is not Letter landscape: $(pdfinfo "$work/letter.pdf" | grep 'Page size')"

echo "-- page text"
sha=$("$bin" info "$ecg" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["sha256"])')
for f in a4 letter; do
  t="$work/$f.txt"
  for s in "25 mm/s" "10 mm/mV" "grid 1 mm / 5 mm" "filter 0.67" "AUC" "generated, not acquired" "ED" "ES" "SAX" "LAX" \
           "Global measurements" "Heart rate" "QRS" "reference range" "synthetic demonstration model — not for clinical use" \
           "$sha" "print at 100 %" "Grad-CAM"; do
    grep -qF -- "$s" "$t" || fail "$f.pdf has no '$s'"
  done
done
grep -qF "identifiers withheld" "$work/a4.txt" || fail "a4.pdf (no --include-phi) does not say identifiers are withheld"
grep -qF "identifiers withheld" "$work/letter.txt" && fail "letter.pdf (--include-phi) says identifiers are withheld"
grep -qE "Patient .* age|age .*sex" "$work/letter.txt" || fail "letter.pdf (--include-phi) shows no demographics"

echo "-- page raster and grid geometry"
python3 tests/pdf/check_raster.py "$work/a4-1.ppm" "$work/a4.qdf.pdf" 300 a4 no-tint
python3 tests/pdf/check_raster.py "$work/letter-1.ppm" "$work/letter.qdf.pdf" 300 letter no-tint

echo "-- export --pdf"
"$bin" export "$ecg" --out "$work/export" --frames ed-es --pdf --model "$MODEL" >/dev/null 2>&1 || fail "export --pdf"
case_dir=$(ls -d "$work"/export/*/ | head -1)
[ -f "$case_dir/report.pdf" ] || fail "no report.pdf in $case_dir"
qpdf --check "$case_dir/report.pdf" >/dev/null || fail "qpdf --check of the exported report.pdf"
python3 - "$case_dir/manifest.json" <<'PY' || fail "report.pdf not in the manifest"
import json, sys
m = json.load(open(sys.argv[1]))
entries = [f for f in m["files"] if f["path"] == "report.pdf"]
assert entries and entries[0]["kind"] == "report-pdf", m["files"]
assert m["options"]["pdfPaper"] == "a4", m["options"]
PY
"$bin" export --from-manifest "$case_dir/manifest.json" --out "$work/regen" --model "$MODEL" >/dev/null 2>&1 \
  || fail "regeneration from the manifest differs (report.pdf not deterministic?)"
cmp -s "$case_dir/report.pdf" "$work/regen/$(basename "$case_dir")/report.pdf" || fail "regenerated report.pdf differs"

echo "-- text rendering independent of fontconfig's rules"
cat >"$work/hostile-fonts.conf" <<'XML'
<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>
  <match target="pattern">
    <edit name="hintstyle" mode="assign"><const>hintfull</const></edit>
    <edit name="rgba" mode="assign"><const>rgb</const></edit>
    <edit name="lcdfilter" mode="assign"><const>lcdlight</const></edit>
  </match>
  <match target="font">
    <edit name="hintstyle" mode="assign"><const>hintfull</const></edit>
    <edit name="autohint" mode="assign"><bool>true</bool></edit>
    <edit name="rgba" mode="assign"><const>rgb</const></edit>
  </match>
</fontconfig>
XML
FONTCONFIG_FILE="$work/hostile-fonts.conf" "$bin" export --from-manifest "$case_dir/manifest.json" \
  --out "$work/hostile" --model "$MODEL" >/dev/null 2>&1 || fail "export under the hostile fontconfig file"
for f in ecg.png contact-sheet.png report.pdf; do
  cmp -s "$case_dir/$f" "$work/hostile/$(basename "$case_dir")/$f" || fail "$f depends on fontconfig's rules"
done

echo "-- a CSV without a stated rate: --sampling-rate through export, report and the workstation's export, regenerated"
grep -v '^#' sample-data/P06-rcm/ecg.csv > "$work/norate.csv"
"$bin" export "$work/norate.csv" --out "$work/rate-export" --sampling-rate 500 --pdf --frames ed-es --model "$MODEL" >/dev/null 2>&1 \
  || fail "export --sampling-rate 500"
rate_case=$(dirname "$(find "$work/rate-export" -name manifest.json | head -1)")
"$bin" export --from-manifest "$rate_case/manifest.json" --out "$work/rate-regen" --model "$MODEL" >/dev/null 2>&1 \
  || fail "regeneration of the --sampling-rate export"
diff -r "$rate_case" "$work/rate-regen/$(basename "$rate_case")" >/dev/null || fail "regenerated --sampling-rate export differs (manifest included)"
"$bin" report "$work/norate.csv" --sampling-rate 500 --out "$work/rate-report.pdf" --model "$MODEL" >/dev/null || fail "report --sampling-rate 500"
cmp -s "$work/rate-report.pdf" "$rate_case/report.pdf" || fail "report --sampling-rate differs from export --pdf's report.pdf"
"$bin" view "$work/norate.csv" --sampling-rate 500 --snapshot 120x40 --keys "E" --export-dir "$work/rate-view" --model "$MODEL" >/dev/null 2>&1 \
  || fail "view --sampling-rate export"
view_case=$(dirname "$(find "$work/rate-view" -name manifest.json | head -1)")
"$bin" export --from-manifest "$view_case/manifest.json" --out "$work/rate-view-regen" --model "$MODEL" >/dev/null 2>&1 \
  || fail "regeneration of the workstation's export"
diff -r "$view_case" "$work/rate-view-regen/$(basename "$view_case")" >/dev/null || fail "regenerated workstation export differs"

echo "-- layout by measurement: every word box of 49 reports (tests/pdf/layout.sh)"
ECG2CMR_BIN="$bin" ECG2CMR_MODEL="$MODEL" tests/pdf/layout.sh || fail "word boxes overlap or leave their column (tests/pdf/layout.sh)"

if [ -n "${PDF_KEEP:-}" ]; then mkdir -p "$PDF_KEEP"; cp "$work"/a4.pdf "$work"/letter.pdf "$PDF_KEEP"/; fi
echo "pdf: all checks passed"
