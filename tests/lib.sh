# The preamble the tests/*/run.sh scripts share. Sourced right after `set -euo pipefail`:
#   . "$(dirname "$0")/../lib.sh"
# It moves to the repository root and defines
#   test_binary         the ecg2cmr under test: $ECG2CMR_BIN, else this checkout's debug build (built when needed)
#   make_work           sets $work to a fresh temporary folder, removed (made writable first: some
#                       attacks chmod inside it) when the script exits; a script with more to clean
#                       sets its own EXIT trap after it and removes $work there
#   test_model DIR      the model bundle: $ECG2CMR_MODEL, else the trained demo bundle, else a randomly
#                       initialised bundle of the same layout written under DIR (a clone without the weights)
cd "$(dirname "${BASH_SOURCE[0]}")/.."

test_binary() {
  if [ -n "${ECG2CMR_BIN:-}" ]; then echo "$ECG2CMR_BIN"; return; fi
  swift build --product ecg2cmr >/dev/null || return 1
  echo "$(swift build --show-bin-path)/ecg2cmr"
}

make_work() {
  work=$(mktemp -d)
  trap 'chmod -R u+rwx "$work" 2>/dev/null; rm -rf "$work"' EXIT
}

test_model() {
  local model=${ECG2CMR_MODEL:-assets/models/demo-v2}
  if [ ! -f "$model/manifest.json" ]; then
    PYTHONPATH=training python3 -m ecg2cmr_train.bundle --random --out "$1/model" >/dev/null || return 1
    model="$1/model"
  fi
  echo "$model"
}
