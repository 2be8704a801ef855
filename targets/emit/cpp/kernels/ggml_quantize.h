// Activation quantizers of ggml's CPU matrix product as Lathe's runtime runs them (runtime/ggml/
// k-quants.ts quantizeQ8_K, q-legacy.ts quantizeQ8_0/Q8_1, x86-activation.ts): the reference quantizers
// (ggml's quantize_row_*_ref) and the x86 backend's Q8_0/Q8_1 (inverse scale 127/amax, codes rounded to
// nearest even). Every f32 step is one f32 operation, as in the C reference code.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "ggml_fp16.h"

namespace lathe {
namespace ggml {

// Q8_K (ggml's reference quantizer; an all-zero block gets zero bsums).
inline void quantize_row_q8_k(const float* x, uint8_t* dst, int64_t n) {
  for (int64_t i = 0; i < n / 256; i++, x += 256, dst += 292) {
    float max = 0, amax = 0;
    for (int j = 0; j < 256; j++) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    if (amax == 0) {
      std::memset(dst, 0, 292);
      continue;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < 256; j++) {
      const int32_t v = nearest_int(iscale * x[j]);
      dst[4 + j] = static_cast<uint8_t>((v < 127 ? v : 127) & 0xff);
    }
    for (int j = 0; j < 16; j++) {
      int32_t sum = 0;
      for (int k = 0; k < 16; k++) sum += static_cast<int8_t>(dst[4 + 16 * j + k]);
      dst[260 + 2 * j] = static_cast<uint8_t>(sum & 0xff);
      dst[261 + 2 * j] = static_cast<uint8_t>((sum >> 8) & 0xff);
    }
    wr_f32(dst, 1.0f / iscale);
  }
}

// The larger of the running maximum and |x|, with the runtime's NaN behaviour (amax > a ? amax : a).
inline float abs_max32(const float* x) {
  double amax = 0;
  for (int j = 0; j < 32; j++) {
    const double a = std::fabs(static_cast<double>(x[j]));
    amax = amax > a ? amax : a;
  }
  return static_cast<float>(amax);
}

// C's (int8_t) of a rounded value on x86-64: out of int32 range and NaN give 0.
inline int32_t trunc_to_int8(double f) {
  if (!(f > -2147483649.0 && f < 2147483648.0)) return 0;
  return static_cast<int8_t>(static_cast<uint8_t>(static_cast<int64_t>(std::trunc(f)) & 0xff));
}

// Q8_0 (q1 false) or Q8_1 (q1 true), reference: d = amax/127, codes round(x/d) half away from zero.
inline void quantize_row_q8_ref(const float* x, uint8_t* dst, int64_t n, bool q1) {
  const int bb = q1 ? 36 : 34, qs = q1 ? 4 : 2;
  for (int64_t i = 0; i < n / 32; i++, x += 32, dst += bb) {
    const float d = abs_max32(x) / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    wr_f16(dst, d);
    int32_t sum = 0;
    for (int j = 0; j < 32; j++) {
      const int32_t q = trunc_to_int8(std::round(static_cast<double>(x[j] * id)));
      dst[qs + j] = static_cast<uint8_t>(q & 0xff);
      sum += q;
    }
    if (q1) wr_f16(dst + 2, static_cast<float>(sum) * d);
  }
}

// Q8_0 or Q8_1 as ggml's x86 backend quantizes activations: id = 127/amax, nearest-even codes in -128..127.
inline void quantize_row_q8_x86(const float* x, uint8_t* dst, int64_t n, bool q1) {
  const int bb = q1 ? 36 : 34, qs = q1 ? 4 : 2;
  for (int64_t i = 0; i < n / 32; i++, x += 32, dst += bb) {
    const float amax = abs_max32(x);
    const float d = amax / 127.0f;
    const float id = amax != 0 ? 127.0f / amax : 0.0f;
    wr_f16(dst, d);
    double sum = 0;
    for (int j = 0; j < 32; j++) {
      double r = std::nearbyint(static_cast<double>(x[j] * id));
      r = r < -128 ? -128 : r > 127 ? 127 : r;  // NaN passes through, as in the runtime
      dst[qs + j] = std::isnan(r) ? 0 : static_cast<uint8_t>(static_cast<int32_t>(r) & 0xff);
      sum += r;
    }
    if (q1) wr_f16(dst + 2, static_cast<float>(static_cast<double>(d) * sum));
  }
}

}  // namespace ggml
}  // namespace lathe
