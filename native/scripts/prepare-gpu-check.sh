#!/usr/bin/env bash
# Run here (not on the GPU machine) before a GPU check: fills the git-ignored .carry/ with what the
# check needs and that machine lacks: PyTorch's attention anchor from ../shared/tools, Node.js
# (packed by ../shared/tools/pack-node-for-device.sh) and the N-API headers for building the addon.
# Then: run `bash native/scripts/gpu-check.sh` there with carry [".carry"].
set -euo pipefail
cd "$(dirname "$0")/../.."
tools=../shared/tools
mkdir -p .carry
cp -f "$tools/sdpa_anchor.py" "$tools/gpt2_train_anchor.py" .carry/
bash "$tools/pack-node-for-device.sh" >/dev/null
rm -rf .carry/node-addon-api .carry/node-api-headers
cp -r node_modules/node-addon-api .carry/node-addon-api
cp -r node_modules/node-api-headers .carry/node-api-headers
du -sh .carry
