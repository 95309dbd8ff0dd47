/* The int8 dot-product kernel llama.cpp's CPU back-end runs for Q8_0 weights (ggml's
 * ggml_vec_dot_q8_0_q8_0 on x86: per block of 32, |x| and sign(y, x) through maddubs+madd, or one
 * dpbusd with AVX-VNNI / AVX512-VNNI, then a float multiply-add by the two block scales), written
 * out so that `roofline bench` can time it where no llama.cpp build is given.
 *
 * A matrix-vector product of `rows` x `k` Q8_0-like blocks (fp32 scales, 36 bytes per 32 weights)
 * small enough to stay in each core's L2: the time is the dot-product kernel's, not DRAM's.
 * Each thread owns its rows; every thread repeats the product `passes` times, in CHUNKS chunks of
 * about 1.5 ms that all threads start together (a spinning barrier before and after each): the best
 * chunk is a stretch in which every thread had its core, which a shared machine's busy moments do not
 * slow (the total is printed too). On a 2-vCPU VM, 20 chunks of ~15 ms gave a 2-thread rate that
 * moved 271-323 GOP/s between runs while the 1-thread rate held at 157-163: a 15 ms stretch with both
 * vCPUs free was not always there.
 *
 * With COLS = 4, the tiled inner loop of ggml's prefill GEMMs instead (the repacked Q4_0/Q4_K
 * kernels, llamafile's sgemm): each 32-byte weight vector, unpacked to unsigned bytes 0..15 as Q4
 * nibbles are, is multiplied with 4 activation rows (maddubs, then madd into int32 lanes) while it
 * sits in a register, and the block sums are scaled once per row: the int8 multiply-add rate a
 * tiled kernel approaches, which a mat-vec product (one multiply per weight loaded) cannot show.
 *
 *   cc -O3 -march=native -pthread int8dot.c -o int8dot && ./int8dot THREADS PASSES [COLS]
 * prints: threads=T rows=R k=K cols=C passes=P seconds=S best_chunk_seconds=B chunk_passes=N ops=O
 *         isa=NAME (S for all passes, B for the fastest chunk of N passes)
 * (ops = 2 x multiply-adds, the FLOP count the roofline model gives a matmul)
 */
#include <pthread.h>
#include <stdatomic.h>
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
#define TILE 4
#define CHUNKS 200

/* A reusable spinning barrier (sense-reversing, C11 atomics; pthread_barrier_t is missing on macOS):
 * the threads leave it within a cache-line transfer of each other, where a sleeping barrier would put
 * a futex wake-up (tens of microseconds on a VM) inside the chunk being timed. The bench runs at
 * most one thread per CPU, so spinning costs nothing another thread of ours could use. */
typedef struct {
    atomic_int waiting;
    atomic_int sense;
    int n;
} barrier;
static void barrier_wait(barrier *b, int *local_sense) {
    int s = !*local_sense;
    *local_sense = s;
    if (atomic_fetch_add(&b->waiting, 1) == b->n - 1) {
        atomic_store(&b->waiting, 0);
        atomic_store(&b->sense, s);
    } else {
        while (atomic_load(&b->sense) != s) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
    }
}

typedef struct {
    float d;
    int8_t q[QK];
} block_q8;

typedef struct {
    block_q8 *w;
    const block_q8 *x;
    uint8_t *w4;       /* the tiled mode's weights: unsigned bytes 0..15, K per row */
    const int8_t *x4;  /* its TILE activation rows, K each */
    int cols;
    long passes;
    float out;
    int first;            /* thread 0 times the chunks */
    barrier *sync;
    double best_chunk;    /* thread 0: the fastest chunk's wall time */
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
static int32_t hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}
/* one weight row against TILE activation rows: each weight vector loaded once, multiplied TILE times */
static float tile_dot(const uint8_t *w, const int8_t *x) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (int i = 0; i < K; i += QK) {
        __m256i qw = _mm256_loadu_si256((const __m256i *)(w + i));
        a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_maddubs_epi16(qw, _mm256_loadu_si256((const __m256i *)(x + i))), ones));
        a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_maddubs_epi16(qw, _mm256_loadu_si256((const __m256i *)(x + K + i))), ones));
        a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(_mm256_maddubs_epi16(qw, _mm256_loadu_si256((const __m256i *)(x + 2 * K + i))), ones));
        a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(_mm256_maddubs_epi16(qw, _mm256_loadu_si256((const __m256i *)(x + 3 * K + i))), ones));
    }
    return 0.01f * (float)(hsum_i32(a0) + hsum_i32(a1) + hsum_i32(a2) + hsum_i32(a3));
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
static float tile_dot(const uint8_t *w, const int8_t *x) {
    int32_t s[TILE] = {0};
    for (int i = 0; i < K; i++)
        for (int j = 0; j < TILE; j++) s[j] += (int32_t)w[i] * (int32_t)x[j * K + i];
    return 0.01f * (float)(s[0] + s[1] + s[2] + s[3]);
}
#endif

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void *work(void *arg) {
    job *j = (job *)arg;
    float total = 0.0f;
    long per_chunk = j->passes / CHUNKS;
    int sense = 0;
    j->best_chunk = 1e30;
    for (int c = 0; c < CHUNKS; c++) {
        barrier_wait(j->sync, &sense);
        double t0 = now();
        for (long p = 0; p < per_chunk; p++) {
#if defined(__GNUC__)
            /* every pass must load and multiply again: no hoisting of a pass's (identical) work */
            __asm__ __volatile__("" ::: "memory");
#endif
            if (j->cols == TILE) {
                for (int r = 0; r < ROWS_PER_THREAD; r++) total += tile_dot(j->w4 + (long)r * K, j->x4);
            } else {
                for (int r = 0; r < ROWS_PER_THREAD; r++) total += row_dot(j->w + (long)r * NB, j->x);
            }
        }
        barrier_wait(j->sync, &sense);
        double dt = now() - t0;
        if (j->first && dt < j->best_chunk) j->best_chunk = dt;
    }
    j->out = total;
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: %s THREADS PASSES [COLS]\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[1]);
    long passes = atol(argv[2]);
    int cols = argc == 4 ? atoi(argv[3]) : 1;
    if (threads < 1 || threads > 1024 || passes < CHUNKS || (cols != 1 && cols != TILE)) {
        fprintf(stderr, "THREADS must be 1-1024, PASSES >= %d and COLS 1 or %d\n", CHUNKS, TILE);
        return 2;
    }
    int8_t *x4 = malloc((size_t)TILE * K);
    if (!x4) return 1;
    block_q8 *x = malloc(sizeof(block_q8) * NB);
    job *jobs = calloc(threads, sizeof(job));
    pthread_t *tid = calloc(threads, sizeof(pthread_t));
    if (!x || !jobs || !tid) return 1;
    barrier sync = {0, 0, threads};
    passes -= passes % CHUNKS;
    unsigned seed = 1;
    for (long i = 0; i < (long)TILE * K; i++) x4[i] = (int8_t)((seed = seed * 1103515245u + 12345u) >> 24);
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
        jobs[t].w4 = malloc((size_t)K * ROWS_PER_THREAD);
        if (!jobs[t].w4) return 1;
        for (long i = 0; i < (long)K * ROWS_PER_THREAD; i++) jobs[t].w4[i] = (uint8_t)((seed = seed * 1103515245u + 12345u) >> 28);
        jobs[t].x = x;
        jobs[t].x4 = x4;
        jobs[t].cols = cols;
        jobs[t].passes = passes;
        jobs[t].first = t == 0;
        jobs[t].sync = &sync;
    }
    double t0 = now();
    for (int t = 0; t < threads; t++) pthread_create(&tid[t], NULL, work, &jobs[t]);
    float check = 0.0f;
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        check += jobs[t].out;
    }
    double seconds = now() - t0;
    double ops = 2.0 * (double)threads * ROWS_PER_THREAD * K * (double)passes * cols;
    printf("threads=%d rows=%d k=%d cols=%d passes=%ld seconds=%.9g best_chunk_seconds=%.9g chunk_passes=%ld "
           "ops=%.9g isa=%s check=%g\n",
           threads, threads * ROWS_PER_THREAD, K, cols, passes, seconds, jobs[0].best_chunk, passes / CHUNKS,
           ops, ISA, (double)check);
    return 0;
}
