// Host <-> device copy bandwidth and latency (issue 17: the system spec's host link).
// For each direction (H2D, D2H), host memory kind (pinned: cudaMallocHost; pageable: malloc) and
// size from 4 B to 1 GiB: the median of REPS timed cudaMemcpy calls (CUDA events around each),
// after WARM untimed ones. Prints CSV: direction,host_memory,bytes,seconds_median,seconds_min,GBps.
#include <cuda_runtime.h>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#define CK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { \
  fprintf(stderr, "%s: %s\n", #x, cudaGetErrorString(e)); exit(1); } } while (0)

int main() {
  const size_t max_bytes = size_t(1) << 30;
  void *dev = nullptr, *pinned = nullptr;
  CK(cudaMalloc(&dev, max_bytes));
  CK(cudaMallocHost(&pinned, max_bytes));
  void *pageable = malloc(max_bytes);
  memset(pageable, 1, max_bytes);
  memset(pinned, 1, max_bytes);
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  printf("direction,host_memory,bytes,seconds_median,seconds_min,GBps\n");
  for (int dir = 0; dir < 2; ++dir) {
    for (int kind = 0; kind < 2; ++kind) {
      void *host = kind == 0 ? pinned : pageable;
      for (size_t n = 4; n <= max_bytes; n *= 4) {
        int reps = n >= (size_t(64) << 20) ? 5 : 50;
        std::vector<float> t;
        for (int r = 0; r < reps + 3; ++r) {
          CK(cudaEventRecord(a));
          if (dir == 0) CK(cudaMemcpy(dev, host, n, cudaMemcpyHostToDevice));
          else CK(cudaMemcpy(host, dev, n, cudaMemcpyDeviceToHost));
          CK(cudaEventRecord(b));
          CK(cudaEventSynchronize(b));
          float ms;
          CK(cudaEventElapsedTime(&ms, a, b));
          if (r >= 3) t.push_back(ms * 1e-3f);
        }
        std::sort(t.begin(), t.end());
        double med = t[t.size() / 2];
        printf("%s,%s,%zu,%.9g,%.9g,%.6g\n", dir == 0 ? "H2D" : "D2H", kind == 0 ? "pinned" : "pageable",
               n, med, (double)t[0], n / med / 1e9);
      }
    }
  }
  return 0;
}
