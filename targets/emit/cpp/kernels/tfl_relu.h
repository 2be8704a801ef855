// tfl.RELU, RELU6, RELU_N1_TO_1 on 8-bit codes (TFLite's QuantizedReluX): the offset code rescaled to the
// output by MultiplyByQuantizedMultiplier, then clamped to the activation's quantized range.
#pragma once
#include <cstddef>
#include <cstdint>

#include "../fixed_point.h"

namespace lathe {

template <typename T>
void tfl_relu(const T* x, T* y, size_t n, int32_t x_zp, int32_t m, int32_t shift, int32_t y_zp, int32_t lo,
              int32_t hi) {
  for (size_t i = 0; i < n; i++) {
    y[i] = static_cast<T>(clamp_i32(y_zp + mbqm(static_cast<int32_t>(x[i]) - x_zp, m, shift), lo, hi));
  }
}

}  // namespace lathe
