// The host preparation around PoTAcc calls (ir/ops/accel.ts, runtime/kernels/accel.ts): uint8 codes
// re-centred to the signed int8 the shift PE reads, and int32 accumulators to float32 as the power-of-two
// layers finish: the product of an int32 and a float32 is exact in a double and rounded once to float32,
// then the bias is a float32 addition.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lathe {

inline void recenter_u8(const uint8_t* x, int8_t* y, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = static_cast<int8_t>(static_cast<int32_t>(x[i]) - 128);
}

// x and y are rows of `channels`; `scale` has one value or one per channel; `bias` may be null.
inline void dequantize_acc(const int32_t* x, const float* scale, bool per_channel, const float* bias, float* y,
                           size_t rows, size_t channels) {
  for (size_t r = 0; r < rows; r++) {
    const int32_t* xr = x + r * channels;
    float* yr = y + r * channels;
    for (size_t c = 0; c < channels; c++) {
      const float v = static_cast<float>(static_cast<double>(xr[c]) * static_cast<double>(scale[per_channel ? c : 0]));
      yr[c] = bias ? v + bias[c] : v;
    }
  }
}

}  // namespace lathe
