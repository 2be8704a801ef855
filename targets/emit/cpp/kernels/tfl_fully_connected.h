// tfl.FULLY_CONNECTED on 8-bit codes (runtime/kernels/tflite-int.ts): rows of K against [U, K] weights,
// int32 sums of (x − x_zp)(w − w_zp) plus the bias, requantized per unit.
#pragma once
#include <cstdint>

#include "../fixed_point.h"

namespace lathe {

template <typename T, typename TW>
void tfl_fully_connected(const T* x, const TW* w, const int32_t* bias, const int32_t* mult, const int32_t* shift,
                         T* y, size_t B, size_t K, size_t U, int32_t x_zp, int32_t w_zp, int32_t y_zp, int32_t lo,
                         int32_t hi) {
  for (size_t b = 0; b < B; b++) {
    const T* xr = x + b * K;
    for (size_t u = 0; u < U; u++) {
      const TW* wr = w + u * K;
      int32_t acc = bias ? bias[u] : 0;
      for (size_t k = 0; k < K; k++) acc += (static_cast<int32_t>(xr[k]) - x_zp) * (static_cast<int32_t>(wr[k]) - w_zp);
      y[b * U + u] = static_cast<T>(clamp_i32(mbqm(acc, mult[u], shift[u]) + y_zp, lo, hi));
    }
  }
}

}  // namespace lathe
