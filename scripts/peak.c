/* One core's fp32 FMA peak in GFLOP/s (the ceiling for scripts/bench's GFLOP/s figures).
 *
 *   gcc -O2 scripts/peak.c -o peak && taskset -c 1 ./peak
 *
 * One binary for any x86-64: the kernels carry function-level target attributes and main picks
 * them with __builtin_cpu_supports. Prints
 *   RESULT peak fp32 FMA GFLOP/s <x> isa avx512     (only when the CPU and OS support AVX-512F)
 *   RESULT peak fp32 FMA GFLOP/s <x> isa avx2       (always; AVX2 + FMA3)
 * Each figure is the best of RUNS timed runs of ~0.2 s after a warm-up (which also covers
 * AVX-512 frequency-licence and AVX upper-half power-up transitions). The process is not pinned
 * here: run it under taskset. Exits 1 if the CPU lacks AVX2/FMA or a result fails its check.
 *
 * Each kernel runs NACC independent chains acc = acc * a + b (a < 1, b > 0: every lane stays in
 * [0, 1)), enough chains to cover FMA latency on two FMA pipes (latency 4-5 cycles x 2 pipes <= 12).
 * AVX2 has 16 ymm registers, so 12 accumulators + 2 constants; AVX-512 has 32, so 16. The
 * constants and the iteration count come from volatile variables and the accumulators are summed
 * and range-checked afterwards, so the compiler can neither fold nor drop the loop.
 */
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define RUNS 7
#define TARGET_SECONDS 0.2

static volatile float va = 0.999999f, vb = 1e-7f, vinit = 0.001f;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* Sum of the accumulators' lanes, or NAN if any lane left [0, 1) (a miscompiled/dropped loop). */
static float checked_sum(const float *lanes, int n) {
    float s = 0;
    for (int i = 0; i < n; i++) {
        if (!(lanes[i] >= 0.0f && lanes[i] < 1.0f)) return NAN;
        s += lanes[i];
    }
    return s;
}

/* Twelve (AVX2) or sixteen (AVX-512) named accumulators, so they live in registers. */
#define ACC12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define ACC16(X) ACC12(X) X(12) X(13) X(14) X(15)

/* AVX-512F: 16 chains x 16 lanes x 2 flops per iteration. Stores the checked sum in *sum. */
__attribute__((target("avx512f"), noinline)) static double fma512(long iters, float *sum) {
    const __m512 a = _mm512_set1_ps(va), b = _mm512_set1_ps(vb);
#define DECL(j) __m512 acc##j = _mm512_set1_ps(vinit * (j));
#define STEP(j) acc##j = _mm512_fmadd_ps(acc##j, a, b);
#define STORE(j) _mm512_storeu_ps(lanes + 16 * (j), acc##j);
    ACC16(DECL)
    double t0 = now();
    for (long i = 0; i < iters; i++) { ACC16(STEP) }
    double t = now() - t0;
    float lanes[16 * 16];
    ACC16(STORE)
    *sum = checked_sum(lanes, 16 * 16);
    return (double)iters * 16 * 16 * 2 / t * 1e-9;
#undef DECL
#undef STEP
#undef STORE
}

/* AVX2 + FMA3: 12 chains x 8 lanes x 2 flops per iteration. */
__attribute__((target("avx2,fma"), noinline)) static double fma256(long iters, float *sum) {
    const __m256 a = _mm256_set1_ps(va), b = _mm256_set1_ps(vb);
#define DECL(j) __m256 acc##j = _mm256_set1_ps(vinit * (j));
#define STEP(j) acc##j = _mm256_fmadd_ps(acc##j, a, b);
#define STORE(j) _mm256_storeu_ps(lanes + 8 * (j), acc##j);
    ACC12(DECL)
    double t0 = now();
    for (long i = 0; i < iters; i++) { ACC12(STEP) }
    double t = now() - t0;
    float lanes[12 * 8];
    ACC12(STORE)
    *sum = checked_sum(lanes, 12 * 8);
    return (double)iters * 12 * 8 * 2 / t * 1e-9;
#undef DECL
#undef STEP
#undef STORE
}

/* Best GFLOP/s of RUNS runs of ~TARGET_SECONDS each, after a warm-up that sizes the runs. */
static double best_of(double (*kernel)(long, float *), double flops_per_iter, const char *isa) {
    float sum;
    long iters = 1000000;
    double rate = kernel(iters, &sum);               /* warm-up */
    rate = kernel(iters, &sum);                      /* calibration */
    iters = (long)(TARGET_SECONDS * rate * 1e9 / flops_per_iter);
    if (iters < 1000000) iters = 1000000;
    double best = 0;
    for (int r = 0; r < RUNS; r++) {
        double g = kernel(iters, &sum);
        if (isnan(sum)) {
            fprintf(stderr, "peak: %s kernel produced out-of-range accumulators\n", isa);
            exit(1);
        }
        if (g > best) best = g;
    }
    return best;
}

int main(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        fprintf(stderr, "peak: this CPU has no AVX2/FMA3\n");
        return 1;
    }
    if (__builtin_cpu_supports("avx512f"))
        printf("RESULT peak fp32 FMA GFLOP/s %.1f isa avx512\n", best_of(fma512, 16 * 16 * 2, "avx512"));
    printf("RESULT peak fp32 FMA GFLOP/s %.1f isa avx2\n", best_of(fma256, 12 * 8 * 2, "avx2"));
    return 0;
}
