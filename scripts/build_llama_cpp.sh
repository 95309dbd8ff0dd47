#!/usr/bin/env bash
# Build llama.cpp's llama-bench and llama-quantize (and, with LLAMA_CPP_TEST_OPS=1, test-backend-ops)
# (CPU back-end, Release) from the llama.cpp source vendored in PyPI's llama-cpp-python sdist, pinned
# below, into a cache directory; reuse it when present. test-backend-ops is opt-in because it is a long
# compile on 2 cores (tens of minutes) that only `roofline bench`'s kernel timing needs; CI does not.
#
#   scripts/build_llama_cpp.sh            # prints the bin directory (builds on first use)
#   LLAMA_CPP_CACHE=/path scripts/build_llama_cpp.sh
#   LLAMA_CPP_CUDA=1 scripts/build_llama_cpp.sh   # CUDA back-end (sm_90) instead, on a machine with nvcc
#   LLAMA_CPP_SRC=path/llama.cpp.tgz ...          # offline: that archive (llama.cpp/ inside) instead of PyPI
#   LLAMA_CPP_CUDA_FA=OFF ...                     # leave out the CUDA flash-attention kernels (faster build)
#   LLAMA_CPP_TEST_OPS=1 ...                      # also build test-backend-ops (for `roofline bench`)
#
# AMX is switched off: on the workplace VMs llama.cpp's AMX kernels die with SIGILL although the CPU
# flags list AMX; AVX-512/AVX2 stay on (GGML_NATIVE picks what the build machine has). GGML_AMX_*=OFF
# alone is not enough: -march=native defines __AMX_INT8__ on an AMX host and ggml compiles its AMX
# path from that (seen on a 2-vCPU Xeon VM: SIGILL at `tilezero`), so on x86-64 the compiler is also
# told -mno-amx-*, which GCC and Clang honour whatever -march says. A cached build without that flag
# is rebuilt.
#
# test-backend-ops (`roofline bench` times llama.cpp's own MUL_MAT kernels with its perf mode) always
# runs the CPU back-end on half the CPUs it sees; one line is patched so that GGML_N_THREADS, when set,
# picks the thread count instead (nothing else in the source is touched).
set -euo pipefail
VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
CACHE="${LLAMA_CPP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/moe-roofline/llama.cpp}"
FLAVOUR=cpu
[ "${LLAMA_CPP_CUDA:-0}" = "1" ] && FLAVOUR=cuda
[ "$FLAVOUR" = cuda ] && [ "${LLAMA_CPP_CUDA_FA:-ON}" = OFF ] && FLAVOUR=cuda-nofa
DEST="$CACHE/$VERSION-$FLAVOUR"
tools=(llama-bench llama-quantize)
TEST_OPS="${LLAMA_CPP_TEST_OPS:-0}"
[ "$TEST_OPS" = 1 ] && tools+=(test-backend-ops)
NO_AMX=""
[ "$(uname -m)" = x86_64 ] && NO_AMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
have_all=1
for t in "${tools[@]}"; do [ -x "$DEST/bin/$t" ] || have_all=0; done
if [ -n "$NO_AMX" ] && ! grep -q -- "-mno-amx-int8" "$DEST/BUILD-INFO" 2>/dev/null; then have_all=0; fi
if [ "$have_all" = 1 ]; then
  echo "$DEST/bin"
  exit 0
fi
mkdir -p "$CACHE"
work="$(mktemp -d "$CACHE/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
if [ -n "${LLAMA_CPP_SRC:-}" ]; then
  tar -xzf "$LLAMA_CPP_SRC" -C "$work"
  src="$work/llama.cpp"
else
  python3 -m pip download --quiet --no-deps --no-binary :all: --dest "$work" "llama-cpp-python==$VERSION" >&2
  tar -xzf "$work"/llama_cpp_python-*.tar.gz -C "$work"
  src="$(echo "$work"/llama_cpp_python-*/vendor/llama.cpp)"
fi
[ -f "$src/CMakeLists.txt" ] || { echo "no llama.cpp source in the sdist" >&2; exit 1; }
commit="unknown"
[ -f "$src/.git-commit" ] && commit="$(cat "$src/.git-commit")"
flags=(-DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=OFF
       -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAMA_BUILD_SERVER=OFF
       -DLLAMA_BUILD_TESTS="$([ "$TEST_OPS" = 1 ] && echo ON || echo OFF)" -DLLAMA_BUILD_EXAMPLES=OFF
       -DLLAMA_BUILD_TOOLS=ON)
[ -n "$NO_AMX" ] && flags+=(-DCMAKE_C_FLAGS="$NO_AMX" -DCMAKE_CXX_FLAGS="$NO_AMX")
if [ "$FLAVOUR" != cpu ]; then
  flags+=(-DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-90}" -DGGML_CUDA_FA="${LLAMA_CPP_CUDA_FA:-ON}")
fi
targets=(llama-bench llama-quantize)
if [ "$TEST_OPS" = 1 ]; then
ops="$src/tests/test-backend-ops.cpp"
sed -i 's|ggml_backend_set_n_threads_fn(backend.get(), std::max<int>(1, N_THREADS/2));|ggml_backend_set_n_threads_fn(backend.get(), getenv("GGML_N_THREADS") ? std::max(1, atoi(getenv("GGML_N_THREADS"))) : std::max<int>(1, N_THREADS/2));|' "$ops"
grep -q 'getenv("GGML_N_THREADS")' "$ops" || { echo "test-backend-ops.cpp: the thread-count line to patch was not found" >&2; exit 1; }
targets+=(test-backend-ops)
fi
cmake -S "$src" -B "$work/build" "${flags[@]}" >&2
cmake --build "$work/build" --config Release -j "$(nproc)" --target "${targets[@]}" >&2
mkdir -p "$DEST/bin"
for t in "${targets[@]}"; do cp "$work/build/bin/$t" "$DEST/bin/"; done
printf 'llama-cpp-python %s\nflavour %s\ncmake flags %s\n' "$VERSION" "$FLAVOUR" "${flags[*]}" > "$DEST/BUILD-INFO"
echo "$DEST/bin"
