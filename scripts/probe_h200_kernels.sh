#!/usr/bin/env bash
# One H200 visit that times kernels, not models (issue 16: which peak llama.cpp's CUDA matmuls run at).
#  1. scripts/mma_peak.cu: the rate of the warp-level tensor-core instruction MMQ issues
#     (mma.sync m16n8k32 int8) and the fp16 ones, beside the datasheet's wgmma peaks;
#  2. PyTorch's int8 and fp16 GEMMs (cuBLASLt, which uses wgmma on Hopper), for reference;
#  3. llama.cpp's test-backend-ops perf mode (CUDA, FA kernels left out to shorten the build) for
#     MUL_MAT at 1..512 activation rows (the dense perf case, 4096 x 14336, patched to add 16..256
#     rows) and MUL_MAT_ID (the Qwen3-30B-A3B- and OLMoE-shaped expert cases) for q4_K, q8_0, f16
#     (MM_TYPES / MMID_TYPES: other weight types, as test-backend-ops' type_a regex alternatives).
# Needs .llama-src/llama.cpp-tests.tgz (the vendored llama.cpp of llama-cpp-python 0.3.36 with its
# tests/ folder), carried. Writes everything to $OUT.
#   run: bash scripts/probe_h200_kernels.sh   (carry [".llama-src"])
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
t0=$(date +%s)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.sm,power.limit --format=csv > "$OUT/gpu.csv" 2>&1
nvcc --version > "$OUT/nvcc.txt" 2>&1

# 1. mma.sync peaks (SKIP_PEAKS=1: straight to test-backend-ops)
if [ "${SKIP_PEAKS:-0}" = 1 ]; then echo "peaks skipped"
elif nvcc -O3 -gencode arch=compute_90,code=sm_90 scripts/mma_peak.cu -o /tmp/mma_peak > "$OUT/mma_build.log" 2>&1; then
  /tmp/mma_peak > "$OUT/mma_peak.txt" 2>&1
  nvidia-smi --query-gpu=clocks.sm,power.draw --format=csv >> "$OUT/mma_peak.txt" 2>&1
else
  echo "mma_peak build failed" | tee -a "$OUT/mma_peak.txt"
fi
echo "mma done at $(( $(date +%s) - t0 )) s"

# 2. cuBLASLt references
[ "${SKIP_PEAKS:-0}" = 1 ] || python3 - > "$OUT/torch_gemm.txt" 2>&1 <<'PY'
import torch, time
def bench(f, ops, name):
    for _ in range(3): f()
    torch.cuda.synchronize()
    ts = []
    for _ in range(10):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); f(); e.record(); torch.cuda.synchronize(); ts.append(s.elapsed_time(e) * 1e-3)
    print(f"{name}: best {ops / min(ts) / 1e12:.1f} TOPS, median {ops / sorted(ts)[5] / 1e12:.1f}")
n = 8192
a8 = torch.randint(-8, 8, (n, n), dtype=torch.int8, device="cuda"); b8 = torch.randint(-8, 8, (n, n), dtype=torch.int8, device="cuda").t()
bench(lambda: torch._int_mm(a8, b8), 2 * n**3, "torch._int_mm int8 8192^3")
ah = torch.randn(n, n, dtype=torch.float16, device="cuda"); bh = torch.randn(n, n, dtype=torch.float16, device="cuda")
bench(lambda: ah @ bh, 2 * n**3, "torch fp16 matmul 8192^3")
PY
echo "torch done at $(( $(date +%s) - t0 )) s"

# 3. test-backend-ops
W=/tmp/tbo; rm -rf "$W"; mkdir -p "$W"
tar -xzf .llama-src/llama.cpp-tests.tgz -C "$W"
src="$W/llama.cpp"; ops="$src/tests/test-backend-ops.cpp"
sed -i 's|for (int bs : {1, 2, 3, 4, 5, 8, 512}) {|for (int bs : {1, 2, 3, 4, 5, 8, 16, 32, 64, 128, 256, 512}) {|' "$ops"
grep -q '8, 16, 32, 64, 128, 256, 512}' "$ops" || echo "bs patch not applied" >> "$OUT/tbo_build.log"
cmake -S "$src" -B "$W/build" -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DGGML_CUDA_FA=OFF -DGGML_NATIVE=OFF -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
  -DLLAMA_BUILD_TESTS=ON -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
  -DGGML_CUDA_NCCL=OFF >> "$OUT/tbo_build.log" 2>&1
cmake --build "$W/build" -j "$(nproc)" --target test-backend-ops >> "$OUT/tbo_build.log" 2>&1
tail -3 "$OUT/tbo_build.log"
echo "build done at $(( $(date +%s) - t0 )) s"
bin="$W/build/bin/test-backend-ops"
[ -x "$bin" ] || { echo "no test-backend-ops"; exit 1; }
"$bin" perf -b CUDA0 -o MUL_MAT -p "type_a=(${MM_TYPES:-q4_K|q8_0|f16})," > "$OUT/tbo_mul_mat.txt" 2> "$OUT/tbo_mul_mat.err"
echo "MUL_MAT done at $(( $(date +%s) - t0 )) s"
"$bin" perf -b CUDA0 -o MUL_MAT_ID -p "type_a=(${MMID_TYPES:-q4_K|q8_0})," > "$OUT/tbo_mul_mat_id.txt" 2> "$OUT/tbo_mul_mat_id.err"
echo "MUL_MAT_ID done at $(( $(date +%s) - t0 )) s"
