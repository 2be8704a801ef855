// tfl.QUANTIZE from float and tfl.DEQUANTIZE (runtime/kernels/tflite-int.ts): the float divided by the
// (double) scale and rounded half away from zero, plus the zero point, saturated; codes back to float as
// scale·(code − zero point) in double, rounded once to float32. Per tensor, or per channel along an axis
// (`inner` elements per channel step, `channels` scales).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace lathe {

template <typename T>
void tfl_quantize(const float* x, T* y, size_t n, const double* scale, const int32_t* zp, size_t channels,
                  size_t inner, int32_t qmin, int32_t qmax) {
  for (size_t i = 0; i < n; i++) {
    const size_t c = channels == 1 ? 0 : (i / inner) % channels;
    const double v = std::round(static_cast<double>(x[i]) / scale[c]) + zp[c];
    // A NaN code stores as 0, as in a typed array.
    y[i] = std::isnan(v) ? T(0) : static_cast<T>(v < qmin ? qmin : v > qmax ? qmax : v);
  }
}

template <typename T>
void tfl_dequantize(const T* x, float* y, size_t n, const double* scale, const int32_t* zp, size_t channels,
                    size_t inner) {
  for (size_t i = 0; i < n; i++) {
    const size_t c = channels == 1 ? 0 : (i / inner) % channels;
    y[i] = static_cast<float>(scale[c] * static_cast<double>(static_cast<int32_t>(x[i]) - zp[c]));
  }
}

}  // namespace lathe
