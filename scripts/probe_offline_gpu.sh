#!/usr/bin/env bash
# Build llama.cpp's CUDA back-end offline and probe models on the GPU: how the H200 traces in
# validation/traces/ were made on a lent machine that cannot reach the network.
#
#   scripts/probe_offline_gpu.sh DEVICE OUT_DIR TRACE_NAME MODELS [DEADLINE]
#
# Needs, in the repository root: .llama-src/llama.cpp.tgz (the llama.cpp tree vendored in
# llama-cpp-python 0.3.36's sdist, as scripts/build_llama_cpp.sh uses it) and .whl/ (wheels of the
# Python dependencies the machine lacks). scripts/build_llama_cpp.sh builds from that archive; flash
# attention kernels are left out (-DGGML_CUDA_FA=OFF) to keep the build to about four minutes, so
# llama-bench's `-fa auto` runs attention without them. DEADLINE (epoch seconds) stops the probe in
# time to pack its output (rows are written as they are measured: a stopped run keeps them).
set -euo pipefail
device="$1" out="$2" trace="$3" models="$4" deadline="${5:-$(($(date +%s) + 36000))}"
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --no-index --no-deps .whl/*.whl
# the build script, offline, with the CUDA back-end and without the flash-attention kernels; its
# cache is outside this repository, or llama.cpp's CMake would stamp this repository's git commit
bin="$(LLAMA_CPP_SRC=.llama-src/llama.cpp.tgz LLAMA_CPP_CUDA=1 LLAMA_CPP_CUDA_FA=OFF \
  LLAMA_CPP_CACHE=/tmp/roofline-llama scripts/build_llama_cpp.sh 2>/dev/null)"
budget=$((deadline - $(date +%s) - 15))
echo "probing for at most ${budget} s"
work=/tmp/roofline-probe-out
mkdir -p "$out" "$work"
timeout "$budget" env PYTHONPATH=. python3 -m roofline probe llama.cpp --llama-bench "$bin/llama-bench" \
  --device "$device" --models "$models" --quant Q4_K_M,Q8_0 --depths 0,2048 --reps 3 --ngl 99 \
  --out "$work" --trace-name "$trace" --workdir /tmp/roofline-gguf --force 2>&1 | tr '\r' '\n' | grep -v '^probe: ' || true
# the trace, and the raw llama-bench JSON in one archive (the machine returns few files)
cp "$work/$trace" "$out/" 2>/dev/null || echo "no rows measured"
tar -czf "$out/${trace%.csv}.raw.tgz" -C "$work" --exclude "$trace" .
