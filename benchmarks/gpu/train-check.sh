#!/usr/bin/env bash
# The GPU scripts live in native/scripts (this one is native/scripts/train-check.sh); this path is
# kept because the standing order names it (`bash benchmarks/gpu/train-check.sh` on the GPU machine,
# from the repository root). It only forwards, with its arguments.
exec bash "$(dirname "$0")/../../native/scripts/train-check.sh" "$@"
