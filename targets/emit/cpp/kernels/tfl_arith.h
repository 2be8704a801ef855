// tfl.ADD, tfl.SUB and tfl.MUL on 8-bit codes (runtime/kernels/tflite-int.ts, TFLite's general quantized
// path). ADD/SUB: each operand's code scaled by 2^20 and its multiplier (a 256-entry table per operand,
// prepared at compile time, SUB's second multiplier negated), the int32 sum requantized to the output.
// MUL: the product of the offset codes requantized.
#pragma once
#include <cstdint>

#include "../fixed_point.h"
#include "broadcast.h"

namespace lathe {

// t1, t2: scaled values indexed by code − code_min.
template <typename T>
void tfl_add(const T* a, const T* b, T* y, const Broadcast& bc, const int32_t* t1, const int32_t* t2, int32_t om,
             int32_t oshift, int32_t zo, int32_t lo, int32_t hi, int32_t code_min) {
  for_each_row(bc, [&](int64_t o, int64_t ia, int64_t ib, int64_t n, int64_t sa, int64_t sb) {
    for (int64_t k = 0; k < n; k++) {
      const int32_t v = t1[static_cast<int32_t>(a[ia + k * sa]) - code_min] + t2[static_cast<int32_t>(b[ib + k * sb]) - code_min];
      y[o + k] = static_cast<T>(clamp_i32(mbqm(v, om, oshift) + zo, lo, hi));
    }
  });
}

template <typename T>
void tfl_mul(const T* a, const T* b, T* y, const Broadcast& bc, int32_t z1, int32_t z2, int32_t m, int32_t shift,
             int32_t zo, int32_t lo, int32_t hi) {
  for_each_row(bc, [&](int64_t o, int64_t ia, int64_t ib, int64_t n, int64_t sa, int64_t sb) {
    for (int64_t k = 0; k < n; k++) {
      const int32_t prod = (static_cast<int32_t>(a[ia + k * sa]) - z1) * (static_cast<int32_t>(b[ib + k * sb]) - z2);
      y[o + k] = static_cast<T>(clamp_i32(mbqm(prod, m, shift) + zo, lo, hi));
    }
  });
}

}  // namespace lathe
