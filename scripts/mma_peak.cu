// Peak throughput of the warp-level tensor-core instructions (mma.sync) that llama.cpp's CUDA
// kernels issue: MMQ multiplies int8 tiles with mma.sync.m16n8k32.s32.s8.s8.s32 (ggml-cuda/mma.cuh),
// the flash-attention and MMF kernels fp16 tiles with mma.sync.m16n8k16 (f32 or f16 accumulators).
// Hopper's datasheet peaks are for its warpgroup instructions (wgmma), which llama.cpp does not use,
// so a spec needs the rate of the instructions it does use: this program measures it.
//
// Every warp keeps CHAINS independent accumulators in registers and issues mma.sync back to back
// (no memory traffic), on WARPS warps per block and BLOCKS_PER_SM blocks per multiprocessor; the
// best configuration is reported. Operations are counted as 2*M*N*K per instruction.
//
//   nvcc -O3 -gencode arch=compute_90,code=sm_90 scripts/mma_peak.cu -o mma_peak && ./mma_peak
#include <cstdio>
#include <cuda_runtime.h>

#define CHECK(x)                                                                         \
    do {                                                                                 \
        cudaError_t e_ = (x);                                                            \
        if (e_ != cudaSuccess) {                                                         \
            fprintf(stderr, "%s:%d %s\n", __FILE__, __LINE__, cudaGetErrorString(e_));   \
            return 1;                                                                    \
        }                                                                                \
    } while (0)

enum Kind { S8_S32 = 0, F16_F32 = 1, F16_F16 = 2 };
static const char *kind_name[] = {"int8 m16n8k32 s32-acc", "fp16 m16n8k16 f32-acc", "fp16 m16n8k16 f16-acc"};
static const double kind_ops[] = {2.0 * 16 * 8 * 32, 2.0 * 16 * 8 * 16, 2.0 * 16 * 8 * 16};

template <int KIND, int CHAINS>
__global__ void mma_loop(int iters, unsigned *sink) {
    unsigned a0 = threadIdx.x * 0x01010101u, a1 = a0 ^ 0x5a5a5a5au, a2 = a0 + 0x13572468u, a3 = a0 * 7u;
    unsigned b0 = a0 ^ 0x0f0f0f0fu, b1 = a1 + 3u;
    unsigned acc[CHAINS][4];
    float facc[CHAINS][4];
#pragma unroll
    for (int c = 0; c < CHAINS; ++c) {
        acc[c][0] = acc[c][1] = acc[c][2] = acc[c][3] = 0u;
        facc[c][0] = facc[c][1] = facc[c][2] = facc[c][3] = 0.0f;
    }
    for (int i = 0; i < iters; ++i) {
#pragma unroll
        for (int c = 0; c < CHAINS; ++c) {
            if (KIND == S8_S32) {
                asm volatile(
                    "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                    "{%0,%1,%2,%3};"
                    : "+r"(acc[c][0]), "+r"(acc[c][1]), "+r"(acc[c][2]), "+r"(acc[c][3])
                    : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
            } else if (KIND == F16_F32) {
                asm volatile(
                    "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                    "{%0,%1,%2,%3};"
                    : "+f"(facc[c][0]), "+f"(facc[c][1]), "+f"(facc[c][2]), "+f"(facc[c][3])
                    : "r"(a0 & 0x3c003c00u), "r"(a1 & 0x3c003c00u), "r"(a2 & 0x3c003c00u), "r"(a3 & 0x3c003c00u),
                      "r"(b0 & 0x00003c00u), "r"(b1 & 0x00003c00u));
            } else {
                asm volatile(
                    "mma.sync.aligned.m16n8k16.row.col.f16.f16.f16.f16 {%0,%1}, {%2,%3,%4,%5}, {%6,%7}, {%0,%1};"
                    : "+r"(acc[c][0]), "+r"(acc[c][1])
                    : "r"(a0 & 0x3c003c00u), "r"(a1 & 0x3c003c00u), "r"(a2 & 0x3c003c00u), "r"(a3 & 0x3c003c00u),
                      "r"(b0 & 0x00003c00u), "r"(b1 & 0x00003c00u));
            }
        }
    }
    unsigned s = 0;
#pragma unroll
    for (int c = 0; c < CHAINS; ++c) {
        s ^= acc[c][0] ^ acc[c][1] ^ acc[c][2] ^ acc[c][3];
        s ^= __float_as_uint(facc[c][0] + facc[c][1] + facc[c][2] + facc[c][3]);
    }
    if (s == 0x9e3779b9u) {
        sink[0] = s;  // never true in practice; keeps the loop from being removed
    }
}

template <int KIND, int CHAINS>
static int run(int sms, int blocks_per_sm, int warps, double target_ops, unsigned *sink, double *best) {
    const int blocks = sms * blocks_per_sm;
    const int iters = (int)(target_ops / ((double)blocks * warps * CHAINS * kind_ops[KIND]));
    cudaEvent_t t0, t1;
    CHECK(cudaEventCreate(&t0));
    CHECK(cudaEventCreate(&t1));
    mma_loop<KIND, CHAINS><<<blocks, warps * 32>>>(iters / 4, sink);  // warm-up (clocks up)
    CHECK(cudaGetLastError());
    CHECK(cudaDeviceSynchronize());
    double best_s = 1e30;
    for (int rep = 0; rep < 3; ++rep) {
        CHECK(cudaEventRecord(t0));
        mma_loop<KIND, CHAINS><<<blocks, warps * 32>>>(iters, sink);
        CHECK(cudaEventRecord(t1));
        CHECK(cudaEventSynchronize(t1));
        float ms = 0;
        CHECK(cudaEventElapsedTime(&ms, t0, t1));
        best_s = ms * 1e-3 < best_s ? ms * 1e-3 : best_s;
    }
    const double ops = (double)blocks * warps * iters * CHAINS * kind_ops[KIND];
    const double tops = ops / best_s / 1e12;
    printf("%-24s chains=%d warps/block=%2d blocks/SM=%d  %8.3f ms  %8.1f TOPS\n", kind_name[KIND], CHAINS, warps,
           blocks_per_sm, best_s * 1e3, tops);
    if (tops > *best) {
        *best = tops;
    }
    CHECK(cudaEventDestroy(t0));
    CHECK(cudaEventDestroy(t1));
    return 0;
}

template <int KIND>
static int sweep(int sms, unsigned *sink) {
    double best = 0;
    const double target_ops = 1e14;  // ~0.1-0.5 s a run
    for (int warps : {4, 8, 16}) {
        for (int bps : {1, 2, 4}) {
            if (run<KIND, 4>(sms, bps, warps, target_ops, sink, &best)) return 1;
            if (run<KIND, 8>(sms, bps, warps, target_ops, sink, &best)) return 1;
        }
    }
    printf("BEST %s: %.1f TOPS\n", kind_name[KIND], best);
    return 0;
}

int main() {
    cudaDeviceProp p;
    CHECK(cudaGetDeviceProperties(&p, 0));
    int clock_khz = 0;
    CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0));
    printf("device %s, sm_%d%d, %d SMs, max SM clock %.0f MHz\n", p.name, p.major, p.minor, p.multiProcessorCount,
           clock_khz / 1e3);
    unsigned *sink;
    CHECK(cudaMalloc(&sink, sizeof(unsigned)));
    if (sweep<S8_S32>(p.multiProcessorCount, sink)) return 1;
    if (sweep<F16_F32>(p.multiProcessorCount, sink)) return 1;
    if (sweep<F16_F16>(p.multiProcessorCount, sink)) return 1;
    CHECK(cudaFree(sink));
    return 0;
}
