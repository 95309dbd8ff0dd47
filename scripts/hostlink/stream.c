/* Host memory bandwidth (issue 17: the H200 machine's host RAM): a STREAM-style read (sum; built with -ffast-math so the reduction vectorises) and
 * triad over 3 arrays of 512 MiB each, OpenMP over all cores and on one thread; best of 5.
 * Prints CSV: kernel,threads,bytes,seconds_best,GBps. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#define N (64L * 1024 * 1024)
int main(void) {
  double *x = malloc(N * sizeof(double)), *y = malloc(N * sizeof(double)), *z = malloc(N * sizeof(double));
  #pragma omp parallel for
  for (long i = 0; i < N; ++i) { x[i] = 1.0; y[i] = 2.0; z[i] = 0.0; }
  int all = omp_get_max_threads();
  int counts[2] = {all, 1};
  printf("kernel,threads,bytes,seconds_best,GBps\n");
  for (int c = 0; c < 2; ++c) {
    omp_set_num_threads(counts[c]);
    double best_r = 1e30, best_t = 1e30, s = 0;
    for (int r = 0; r < 5; ++r) {
      double t0 = omp_get_wtime();
      #pragma omp parallel for reduction(+:s)
      for (long i = 0; i < N; ++i) s += x[i];
      double t1 = omp_get_wtime();
      #pragma omp parallel for
      for (long i = 0; i < N; ++i) z[i] = x[i] + 3.0 * y[i];
      double t2 = omp_get_wtime();
      if (t1 - t0 < best_r) best_r = t1 - t0;
      if (t2 - t1 < best_t) best_t = t2 - t1;
    }
    printf("read,%d,%ld,%.6g,%.6g\n", counts[c], N * 8, best_r, N * 8 / best_r / 1e9);
    printf("triad,%d,%ld,%.6g,%.6g\n", counts[c], N * 24, best_t, N * 24 / best_t / 1e9);
    if (s < 0) printf("%f\n", s);
  }
  return 0;
}
