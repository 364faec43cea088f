#!/usr/bin/env bash
# Layout by measurement, checked on real output: the one-page report of every sample-data case and
# every real record in tests/records (A4; the sample cases also on Letter: 49 PDFs), then tests/pdf/check_layout.py reads
# every word box (`pdftotext -bbox-layout`) and fails on two boxes overlapping, a word outside the
# page margins or its lower-panel column, or a label cut with "…" in the lower panel.
#   tests/pdf/layout.sh   (ECG2CMR_BIN=/path/to/ecg2cmr to skip the build; LAYOUT_KEEP=DIR keeps the PDFs;
#                          LAYOUT_JOBS=N reports in parallel, default 2)
# A debug binary spends ~8 s of CPU per report in the CMR decoder (unoptimised SIMD exp); a release
# binary ~0.3 s. Without ECG2CMR_BIN the script builds and uses the release binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v pdftotext >/dev/null || { echo "layout: pdftotext is not installed (scripts/setup installs poppler-utils)"; exit 1; }
bin=${ECG2CMR_BIN:-}
if [ -z "$bin" ]; then
  swift build -c release --product ecg2cmr >/dev/null
  bin="$(swift build -c release --show-bin-path)/ecg2cmr"
fi
work=${LAYOUT_KEEP:-$(mktemp -d)}
mkdir -p "$work"
[ -n "${LAYOUT_KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
MODEL=${ECG2CMR_MODEL:-assets/models/demo-v2}
[ -f "$MODEL/manifest.json" ] || { echo "layout: no model bundle at $MODEL"; exit 1; }

inputs=()
for d in sample-data/P*/; do
  f=$(ls "$d" | grep -E '^ecg(-[a-z]+)?\.(hea|csv|xml|dcm)$' | head -1)
  inputs+=("$d$f")
done
inputs+=(tests/records/cinc2021/*.hea tests/records/example-aecg.xml tests/records/example-muse.xml
         tests/records/example-ecgtoolkit.dcm tests/records/100.hea tests/records/s0010_re.hea)

# Every ECG on A4; the sample cases (every reader format) on Letter too: 49 reports.
jobs=()
for f in "${inputs[@]}"; do
  stem=$(echo "$f" | tr '/.' '__')
  jobs+=("$f $work/$stem-a4.pdf a4")
  case "$f" in sample-data/*) jobs+=("$f $work/$stem-letter.pdf letter") ;; esac
done
echo "-- ${#jobs[@]} reports (${#inputs[@]} ECGs on A4, the sample cases also on Letter)"
# One line per report: FILE OUT PAPER (no spaces in the repository's paths).
printf '%s\n' "${jobs[@]}" | xargs -P "${LAYOUT_JOBS:-2}" -L 1 sh -c \
  '"$0" report "$2" --out "$3" --paper "$4" --model "$1" >/dev/null 2>"$3.err" || { echo "layout FAIL: report of $2 ($4): $(cat "$3.err")"; exit 255; }' \
  "$bin" "$MODEL"
pdfs=("$work"/*.pdf)
[ "${#pdfs[@]}" -eq "${#jobs[@]}" ] || { echo "layout FAIL: ${#pdfs[@]} PDFs written of ${#jobs[@]}"; exit 1; }
echo "-- word boxes"
python3 tests/pdf/check_layout.py "${pdfs[@]}"
