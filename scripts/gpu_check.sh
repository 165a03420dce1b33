#!/usr/bin/env bash
# What advaudit gets out of the accelerator on this machine, in under five minutes:
#   * raw compiled input-gradient vs attack throughput (BIM through the engine's pool, early
#     stop off) at batch 32 and 256, on the Kaggle CNN architecture (untrained weights);
#   * the wall time of the default audit (catdog-mini, auto at 4 counts, trust checks,
#     report) on the 96 shipped photos.
#
#   scripts/gpu_check.sh                 # on whatever GPU TensorFlow sees (the CPU if none)
#   scripts/gpu_check.sh --devices all   # also the scaling efficiency over every GPU
#   scripts/gpu_check.sh --jit           # both sides and the audit compiled with XLA
#   scripts/gpu_check.sh --dry-run       # tiny sizes: checks the check itself on a CPU
#
# Other options go to 'advaudit bench' (--model small, --json, ...). Stops after 300 s.
set -uo pipefail
timeout 300 advaudit bench --device-check "$@"
status=$?
if [ "$status" -eq 124 ]; then
    echo "gpu_check: stopped after 300 s; the check itself should take under five minutes" >&2
fi
exit "$status"
