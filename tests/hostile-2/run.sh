#!/usr/bin/env bash
# Hardening round 2 (issue 15): builds attack files for items 1–9 in a temp folder and checks that
# each gets a clean non-zero exit naming the file and the reason, within 10 s, with nothing outside
# the attack's output folder changed. Prints a Markdown table (attack → result); with
# HOSTILE2_TABLE=path also writes it there (docs/reliability.md quotes it).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
BIN=$(test_binary)
make_work
MODEL=$(test_model "$work")
python3 tests/hostile-2/attacks.py "$BIN" "$MODEL" "$work" "${HOSTILE2_TABLE:-}"
