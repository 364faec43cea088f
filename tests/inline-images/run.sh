#!/usr/bin/env bash
# End-to-end test of inline CMR images: runs the real `ecg2cmr view` under a pseudo-terminal that
# answers the startup graphics probe like kitty, like a sixel xterm, or not at all, and checks what
# the workstation then sends (kitty APC with a PNG, sixel DCS, or half blocks) and that q exits cleanly.
#   tests/inline-images/run.sh      (builds if needed; ECG2CMR_BIN=/path/to/ecg2cmr to skip the build)
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

bin=$(test_binary)
make_work
python3 tests/inline-images/pty_terminal.py "$bin" --model "$(test_model "$work")"
