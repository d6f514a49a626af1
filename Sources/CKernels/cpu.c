// The CPU's identity and the instruction-set features the OS lets programs use, from cpuid and
// xgetbv: what the GEMM backends choose kernels by, and what `dptrain env` shows.
#include "CKernels.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long xgetbv0(void) {
  unsigned int eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return ((unsigned long long)edx << 32) | eax;
}

void dp_cpu_info(dp_cpu_info_t *info) {
  memset(info, 0, sizeof *info);
  unsigned int a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return;
  unsigned int max_leaf = a;
  memcpy(info->vendor, &b, 4);
  memcpy(info->vendor + 4, &d, 4);
  memcpy(info->vendor + 8, &c, 4);
  __get_cpuid(1, &a, &b, &c, &d);
  unsigned int base_family = (a >> 8) & 0xf, base_model = (a >> 4) & 0xf;
  info->family = (int)(base_family == 0xf ? base_family + ((a >> 20) & 0xff) : base_family);
  info->model = (int)(base_family == 0x6 || base_family == 0xf ? base_model | (((a >> 16) & 0xf) << 4) : base_model);
  info->stepping = (int)(a & 0xf);
  unsigned long long f = 0;
  if (d & bit_SSE2) f |= DP_CPU_SSE2;
  if (c & bit_SSE3) f |= DP_CPU_SSE3;
  if (c & bit_SSSE3) f |= DP_CPU_SSSE3;
  if (c & bit_SSE4_1) f |= DP_CPU_SSE41;
  if (c & bit_SSE4_2) f |= DP_CPU_SSE42;
  // AVX state (XMM and YMM) and AVX-512 state (opmask, ZMM0-15 upper halves, ZMM16-31) must be
  // enabled by the OS (XCR0), or the instructions fault even where cpuid lists them.
  int osxsave = (c & bit_OSXSAVE) != 0;
  unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
  int avx_os = (xcr0 & 0x6) == 0x6, avx512_os = avx_os && (xcr0 & 0xe0) == 0xe0;
  if (avx_os && (c & bit_AVX)) f |= DP_CPU_AVX;
  if (avx_os && (c & bit_FMA)) f |= DP_CPU_FMA;
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    if (avx_os && (b & bit_AVX2)) f |= DP_CPU_AVX2;
    if (avx512_os) {
      if (b & bit_AVX512F) f |= DP_CPU_AVX512F;
      if (b & bit_AVX512DQ) f |= DP_CPU_AVX512DQ;
      if (b & bit_AVX512CD) f |= DP_CPU_AVX512CD;
      if (b & bit_AVX512BW) f |= DP_CPU_AVX512BW;
      if (b & bit_AVX512VL) f |= DP_CPU_AVX512VL;
      if (c & bit_AVX512VNNI) f |= DP_CPU_AVX512VNNI;
      if (d & (1u << 23)) f |= DP_CPU_AVX512FP16;
      unsigned int a1, b1, c1, d1;
      __cpuid_count(7, 1, a1, b1, c1, d1);
      if (a1 & (1u << 5)) f |= DP_CPU_AVX512BF16;
    }
    // AMX tiles need their own XCR0 state (bits 17 and 18).
    if ((d & (1u << 24)) && (xcr0 & 0x60000) == 0x60000) f |= DP_CPU_AMX;
  }
  info->features = f;
  __get_cpuid(0x80000000, &a, &b, &c, &d);
  if (a >= 0x80000004) {
    unsigned int regs[12];
    for (unsigned int i = 0; i < 3; i++) __get_cpuid(0x80000002 + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
    memcpy(info->brand, regs, 48);
    info->brand[48] = 0;
  }
}
#else
void dp_cpu_info(dp_cpu_info_t *info) { memset(info, 0, sizeof *info); }
#endif
