// tfl.SOFTMAX on 8-bit codes (TFLite's optimized Softmax over PopulateSoftmaxLookupTable): a float32 table of
// exp(−s·β·d) built at compile time, a float sum in element order, float normalization, rounding half away
// from zero (a uint8 output truncates p + 0.5 and ignores the zero point, as TFLite does off aarch64).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace lathe {

template <typename T>
void tfl_softmax(const T* x, T* y, size_t rows, size_t depth, const float* table, double out_scale, int32_t zo,
                 int32_t qmin, int32_t qmax, bool trunc_uint8) {
  for (size_t i = 0; i < rows; i++) {
    const T* xr = x + i * depth;
    T* yr = y + i * depth;
    int32_t max = INT32_MIN;
    for (size_t j = 0; j < depth; j++) max = xr[j] > max ? xr[j] : max;
    const int32_t off = 255 - max;
    float sum = 0;
    for (size_t j = 0; j < depth; j++) sum += table[off + xr[j]];
    const float inv = 1.0f / static_cast<float>(static_cast<double>(sum) * out_scale);
    for (size_t j = 0; j < depth; j++) {
      const float p = table[off + xr[j]] * inv;
      const int32_t q = trunc_uint8 ? static_cast<int32_t>(std::trunc(p + 0.5f)) : static_cast<int32_t>(std::round(p)) + zo;
      yr[j] = static_cast<T>(q < qmin ? qmin : q > qmax ? qmax : q);
    }
  }
}

}  // namespace lathe
