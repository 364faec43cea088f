#!/usr/bin/env bash
# Hardening round 3 (issue 23): builds attack files for items 1–12 in a temp folder and checks each
# on the real binary: a clean typed refusal or a correct result, no crash, nothing over 10 s, peak
# RSS ≤ 600 MB, nothing outside the output touched and nothing existing lost. Then a short
# black-box mutation fuzz of the binary (HOSTILE3_FUZZ_SECONDS, default 60). Prints a Markdown
# table; with HOSTILE3_TABLE=path also writes it there (docs/reliability.md quotes it).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
BIN=$(test_binary)
make_work
MODEL=$(test_model "$work")
python3 tests/hostile-3/attacks.py "$BIN" "$MODEL" "$work" "${HOSTILE3_TABLE:-}"
python3 tests/hostile-3/blackbox_fuzz.py "$BIN" "$work/fuzz" "${HOSTILE3_FUZZ_SECONDS:-60}"
