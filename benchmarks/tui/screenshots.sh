#!/usr/bin/env bash
# Regenerates the text screenshots in docs/img/tui-*.txt used by docs/user-guide.md.
#   benchmarks/tui/screenshots.sh [MODEL_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${ECG2CMR_BIN:-}
if [ -z "$bin" ]; then swift build --product ecg2cmr >/dev/null; bin="$(swift build --show-bin-path)/ecg2cmr"; fi
model=${1:-assets/models/demo-v2}
shot() { # name size keys [file]
  NO_COLOR=1 "$bin" view "${4:-sample-data}" --model "$model" --snapshot "$2" --keys "$3" > "docs/img/tui-$1.txt"
  echo "docs/img/tui-$1.txt"
}
shot overview-200x60 200x60 ""
shot overview-80x24 80x24 ""
shot risks-80x24 80x24 "<Tab>"
shot phenotypes-80x24 80x24 "<Tab><Tab>"
shot gradcam-200x60 200x60 "g"
shot gradcam-list-80x24 80x24 "g<Tab><Tab><Tab>"
shot cmr-80x24 80x24 "<Tab><Tab><Tab><Tab>"
shot zoom-caliper-200x60 200x60 "jzoocoo"
shot mitbih100-200x60 200x60 "}}f" tests/records/100.hea
shot help-200x60 200x60 "?"
printf 'not an ECG\0' > /tmp/ecg2cmr-corrupt-example.csv
shot corrupt-80x24 80x24 "" /tmp/ecg2cmr-corrupt-example.csv
"$bin" view --key-table > docs/img/tui-keymap.md
echo docs/img/tui-keymap.md
python3 benchmarks/tui/user-guide.py
