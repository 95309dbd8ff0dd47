#!/usr/bin/env bash
# The H200 default-build reference (issue 15): llama.cpp CUDA with its flash-attention kernels
# compiled in (GGML_CUDA_FA=ON, the default; FA_ALL_QUANTS off), sm_90, from the llama.cpp source
# vendored in llama-cpp-python 0.3.36's sdist; random-weight GGUFs of catalog models written
# directly in their quantized types; llama-bench at fa 0/1, depths 0/4096/16384, pp512/tg128,
# default threads; llama-batched-bench at 1/4/16/64 sequences; `-t 2` vs default threads; GPU
# power sampled by NVML at 50 Hz throughout.
#
#   scripts/probe_h200_default_build.sh start [WAIT_S]   # set up, launch the campaign detached, wait, pack
#   scripts/probe_h200_default_build.sh wait  [WAIT_S]   # a later call on the same machine: wait, pack
#
# Runs in the repository root on the GPU machine (no network). Needs, in the root (ignored, carried):
#   .whl/        wheels the machine lacks (pydantic, pydantic-core, annotated-types,
#                typing-inspection, typing-extensions, pint, flexcache, flexparser, platformdirs, gguf)
#   .llama-bin/  llama-bench and llama-batched-bench built elsewhere with the flags below
#                (optional; checked with --list-devices, else built here from .llama-src/)
#   .llama-src/llama.cpp.tgz  the vendored llama.cpp tree (models/, docs/, tests/ and unused
#                back-ends stripped), for the build here
# The campaign (scripts/probe_h200_default_build.py) keeps running between calls (setsid); each
# call packs what has been measured so far into $OUT/h200-default-build.tgz, and
# scripts/assemble_h200_default_build.py turns that into the trace files.
set -uo pipefail
mode="${1:-start}" wait_s="${2:-540}"
t_call=$(date +%s)
W=/tmp/h200
mkdir -p "$W"
cd "$(dirname "$0")/.."
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || { echo "wheel install failed"; exit 1; }
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
libs=""
for n in libcublas.so.13 libcudart.so.13; do
  f=$(find /usr/local /opt /usr/lib -name "$n" 2>/dev/null | head -1)
  [ -n "$f" ] && libs="$libs:$(dirname "$f")"
done
export LD_LIBRARY_PATH="${libs#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

CMAKE_FLAGS=(-DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_CUDA_FA=ON
  -DGGML_CUDA_FA_ALL_QUANTS=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
  -DGGML_BMI2=ON -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_APP=OFF
  -DGGML_CUDA_NCCL=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
  -DLLAMA_BUILD_TOOLS=ON)

if [ "$mode" = start ]; then
  rm -rf "$W"/{runs,STOP,DONE,STOP_SAMPLER,progress.log,markers.jsonl,power.csv,bin}
  mkdir -p "$W/bin"
  ok=0
  if [ -x .llama-bin/llama-bench ]; then
    cp .llama-bin/llama-* .llama-bin/BUILD-INFO "$W/bin/" 2>/dev/null
    "$W/bin/llama-bench" --list-devices > "$W/list-devices.txt" 2>&1
    grep -q "H200" "$W/list-devices.txt" && ok=1  # not in a pipe: grep -q's early exit fails it under pipefail
    echo "carried build: $( [ $ok = 1 ] && echo works || echo 'does not run here' )"
  fi
  if [ $ok = 1 ]; then
    touch "$W/bin/READY"
  else
    # build here, detached (survives this call); the campaign waits for bin/READY
    echo "building llama.cpp here (log: $W/build.log)"
    cat > "$W/build.sh" <<EOB
set -o pipefail
t0=\$(date +%s)
rm -rf /tmp/llb && mkdir -p /tmp/llb && tar -xzf .llama-src/llama.cpp.tgz -C /tmp/llb
cmake -S /tmp/llb/llama.cpp -B /tmp/llb/build -G Ninja ${CMAKE_FLAGS[*]} &&
  cmake --build /tmp/llb/build -j $(nproc) --target llama-bench llama-batched-bench || { echo BUILD-FAILED; exit 1; }
cp /tmp/llb/build/bin/llama-bench /tmp/llb/build/bin/llama-batched-bench "$W/bin/"
printf 'llama-cpp-python 0.3.36 vendored llama.cpp, built on the H200 machine in %s s (%s cores); cmake flags %s\n' \
  "\$((\$(date +%s) - t0))" "$(nproc)" "${CMAKE_FLAGS[*]}" > "$W/bin/BUILD-INFO"
"$W/bin/llama-bench" --list-devices > "$W/list-devices.txt" 2>&1
touch "$W/bin/READY"
EOB
    setsid nohup bash "$W/build.sh" > "$W/build.log" 2>&1 < /dev/null &
  fi
  {
    date -u +%FT%TZ
    nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit,clocks.max.sm,clocks.max.memory,pstate --format=csv
    nproc; lscpu | grep -E "Model name|^CPU\(s\)|Thread|Socket|Flags" | cut -c1-400
    free -g; df -h /dev/shm /tmp
    echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  } > "$W/env.txt" 2>&1
  cat "$W/env.txt"
  # GGUFs where there is most room: /dev/shm (RAM) or /tmp (disk)
  shm=$(df --output=avail -B1 /dev/shm | tail -1) tmp=$(df --output=avail -B1 /tmp | tail -1)
  GG=/dev/shm/gg; [ "$tmp" -gt "$shm" ] && GG=/tmp/gg
  [ -n "${GGDIR:-}" ] && GG="$GGDIR"
  echo "GGUF dir $GG"
  setsid nohup python3 -m roofline.llamacpp.power sample --out "$W/power.csv" --hz 50 \
    --stop-file "$W/STOP_SAMPLER" > "$W/sampler.log" 2>&1 < /dev/null &
  sleep 1
  setsid nohup python3 scripts/probe_h200_default_build.py "$W" "$W/bin" "$GG" --wait-ready "$W/bin/READY" \
    --writers "${WRITERS:-4}" ${ONLY:+--only "$ONLY"} ${PLAN:+--plan "$PLAN"} > "$W/campaign.log" 2>&1 < /dev/null &
fi

# wait while the campaign runs, then pack what it has measured
while [ ! -f "$W/DONE" ] && [ $(($(date +%s) - t_call)) -lt "$wait_s" ]; do sleep 5; done
[ -f "$W/DONE" ] && touch "$W/STOP_SAMPLER" && sleep 1
mkdir -p "${OUT:-/tmp/out}"
tar -czf "${OUT:-/tmp/out}/h200-default-build.tgz" -C "$W" --ignore-failed-read \
  env.txt list-devices.txt progress.log campaign.log sampler.log markers.jsonl power.csv runs bin/BUILD-INFO \
  build.log llama-bench.version.txt llama-batched-bench.version.txt 2>/dev/null
cp "$W/progress.log" "${OUT:-/tmp/out}/" 2>/dev/null
echo "---- build.log (tail)"; tail -3 "$W/build.log" 2>/dev/null
echo "---- campaign.log (tail)"; tail -5 "$W/campaign.log"; echo "---- sampler.log"; tail -3 "$W/sampler.log"
echo "---- progress"; cat "$W/progress.log"
[ -f "$W/DONE" ] && echo CAMPAIGN-DONE
exit 0
