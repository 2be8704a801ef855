// lathe.RequantizeF32 (runtime/kernels/accel.ts): int32 accumulators times a float32 scale per channel,
// rounded to nearest even (onnxruntime's nearbyint), plus the zero point, saturated to the code range.
#pragma once
#include <cmath>
#include <cstdint>

namespace lathe {

template <typename T>
void requantize_f32(const int32_t* x, const float* scale, bool per_channel, T* y, size_t count, size_t channels,
                    int32_t zp, int32_t lo, int32_t hi) {
  for (size_t base = 0; base < count; base += channels) {
    for (size_t c = 0; c < channels; c++) {
      // The product is formed in double and rounded to float once, as Math.fround(x * s) is.
      const float p = static_cast<float>(static_cast<double>(x[base + c]) * static_cast<double>(scale[per_channel ? c : 0]));
      const double r = std::nearbyint(static_cast<double>(p)) + zp;
      y[base + c] = static_cast<T>(r < lo ? lo : r > hi ? hi : r);
    }
  }
}

}  // namespace lathe
