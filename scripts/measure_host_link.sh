#!/usr/bin/env bash
# The H200 machine's host side for its system spec (issue 17): PCIe link state, topology, CPU and
# RAM as the OS reports them, host<->device copy bandwidth/latency (scripts/hostlink/host_link.cu)
# and host memory bandwidth (scripts/hostlink/stream.c). Runs on the GPU machine; writes to $OUT.
set -uo pipefail
cd "$(dirname "$0")/hostlink"
OUT="${OUT:-/tmp/hostlink-out}"; mkdir -p "$OUT"
{
  date -u +%FT%TZ
  nvidia-smi --query-gpu=name,pcie.link.gen.current,pcie.link.gen.max,pcie.link.width.current,pcie.link.width.max,driver_version --format=csv
  nvidia-smi topo -m
  lscpu
  grep -E 'MemTotal|MemAvailable' /proc/meminfo
  numactl -H 2>/dev/null || true
  cat /sys/devices/system/node/node*/meminfo 2>/dev/null | grep MemTotal
  dmidecode -t memory 2>/dev/null | grep -E 'Speed|Type:|Size' | sort | uniq -c || true
} > "$OUT/host-info.txt" 2>&1
NVCC=$(command -v nvcc || ls /usr/local/cuda*/bin/nvcc 2>/dev/null | head -1)
"$NVCC" -O2 -o /tmp/host_link host_link.cu && /tmp/host_link > "$OUT/host-link.csv"
gcc -O3 -march=native -ffast-math -fopenmp -o /tmp/stream stream.c && OMP_PROC_BIND=spread /tmp/stream > "$OUT/host-stream.csv"
cat "$OUT"/host-link.csv | awk -F, '$3==4 || $3==67108864 || $3==1073741824'
cat "$OUT/host-stream.csv"
