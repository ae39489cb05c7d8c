#!/usr/bin/env bash
# Continue the SRResNet 16x4 run (issue 27, item 6: SRResNet under STUNet's recipe) from its latest committed
# checkpoint: one command, from any folder. Extra arguments go to `ctdenoise train` (e.g. --stop-after 1500).
set -euo pipefail
cd "$(dirname "$0")/../../.."
# The validation phantom is generated, not committed: the same seed gives the same volume (README of this folder).
[ -f runs/phantom-seed7/normal_dose.nrrd ] || ctdenoise demo --seed 7 --output-dir runs/phantom-seed7 --models stresnet
exec ctdenoise train --config CTDenoiseTraining/runs/srresnet-16x4/config.json --resume "$@"
