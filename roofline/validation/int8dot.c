/* The int8 dot-product kernel llama.cpp's CPU back-end runs for Q8_0 weights (ggml's
 * ggml_vec_dot_q8_0_q8_0 on x86: per block of 32, |x| and sign(y, x) through maddubs+madd, or one
 * dpbusd with AVX-VNNI / AVX512-VNNI, then a float multiply-add by the two block scales), written
 * out so that `roofline bench` can time it where no llama.cpp build is given.
 *
 * A matrix-vector product of `rows` x `k` Q8_0-like blocks (fp32 scales, 36 bytes per 32 weights)
 * small enough to stay in each core's L2: the time is the dot-product kernel's, not DRAM's.
 * Each thread owns its rows; every thread repeats the product `passes` times.
 *
 *   cc -O3 -march=native -pthread int8dot.c -o int8dot && ./int8dot THREADS PASSES
 * prints: threads=T rows=R k=K passes=P seconds=S ops=O isa=NAME
 * (ops = 2 x multiply-adds, the FLOP count the roofline model gives a matmul)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#define QK 32
#define ROWS_PER_THREAD 64
#define K 2048
#define NB (K / QK)

typedef struct {
    float d;
    int8_t q[QK];
} block_q8;

typedef struct {
    block_q8 *w;
    const block_q8 *x;
    long passes;
    float out;
} job;

#if defined(__AVX2__)
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define ISA "avx512-vnni"
#define DOT_I8(ax, sy) _mm256_dpbusd_epi32(_mm256_setzero_si256(), ax, sy)
#elif defined(__AVXVNNI__)
#define ISA "avx-vnni"
#define DOT_I8(ax, sy) _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), ax, sy)
#else
#define ISA "avx2"
#define DOT_I8(ax, sy) _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1))
#endif
static float row_dot(const block_q8 *w, const block_q8 *x) {
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < NB; b++) {
        __m256i qw = _mm256_loadu_si256((const __m256i *)w[b].q);
        __m256i qx = _mm256_loadu_si256((const __m256i *)x[b].q);
        __m256i aw = _mm256_sign_epi8(qw, qw);
        __m256i sx = _mm256_sign_epi8(qx, qw);
        __m256 d = _mm256_set1_ps(w[b].d * x[b].d);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(DOT_I8(aw, sx)), acc);
    }
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#else
#define ISA "portable-c"
static float row_dot(const block_q8 *w, const block_q8 *x) {
    float acc = 0.0f;
    for (int b = 0; b < NB; b++) {
        int32_t s = 0;
        for (int i = 0; i < QK; i++) s += (int32_t)w[b].q[i] * (int32_t)x[b].q[i];
        acc += w[b].d * x[b].d * (float)s;
    }
    return acc;
}
#endif

static void *work(void *arg) {
    job *j = (job *)arg;
    float total = 0.0f;
    for (long p = 0; p < j->passes; p++) {
        for (int r = 0; r < ROWS_PER_THREAD; r++) total += row_dot(j->w + (long)r * NB, j->x);
    }
    j->out = total;
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s THREADS PASSES\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[1]);
    long passes = atol(argv[2]);
    if (threads < 1 || threads > 1024 || passes < 1) {
        fprintf(stderr, "THREADS must be 1-1024 and PASSES >= 1\n");
        return 2;
    }
    block_q8 *x = malloc(sizeof(block_q8) * NB);
    job *jobs = calloc(threads, sizeof(job));
    pthread_t *tid = calloc(threads, sizeof(pthread_t));
    if (!x || !jobs || !tid) return 1;
    unsigned seed = 1;
    for (int b = 0; b < NB; b++) {
        x[b].d = 0.01f;
        for (int i = 0; i < QK; i++) x[b].q[i] = (int8_t)((seed = seed * 1103515245u + 12345u) >> 24);
    }
    for (int t = 0; t < threads; t++) {
        jobs[t].w = malloc(sizeof(block_q8) * NB * ROWS_PER_THREAD);
        if (!jobs[t].w) return 1;
        for (long b = 0; b < (long)NB * ROWS_PER_THREAD; b++) {
            jobs[t].w[b].d = 0.02f;
            for (int i = 0; i < QK; i++) jobs[t].w[b].q[i] = (int8_t)((seed = seed * 1103515245u + 12345u) >> 24);
        }
        jobs[t].x = x;
        jobs[t].passes = passes;
    }
    double t0 = now();
    for (int t = 0; t < threads; t++) pthread_create(&tid[t], NULL, work, &jobs[t]);
    float check = 0.0f;
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        check += jobs[t].out;
    }
    double seconds = now() - t0;
    double ops = 2.0 * (double)threads * ROWS_PER_THREAD * K * (double)passes;
    printf("threads=%d rows=%d k=%d passes=%ld seconds=%.9g ops=%.9g isa=%s check=%g\n", threads,
           threads * ROWS_PER_THREAD, K, passes, seconds, ops, ISA, (double)check);
    return 0;
}
