// tfl.CONCATENATION on 8-bit codes (runtime/kernels/tflite-int.ts, ConcatenationWithScaling): an operand
// with the output's scale and zero point is copied; others are rescaled in float32 (code·scale + bias,
// both prepared at compile time), rounded half away from zero, offset and saturated.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace lathe {

struct ConcatPart {
  const void* data;
  int64_t len;  // elements per outer index (axis size × inner)
  bool same;
  float scale, bias;
};

template <typename T>
void tfl_concat(const ConcatPart* parts, int n_parts, T* y, int64_t outer, int64_t row_out, int32_t zo, int32_t qmin,
                int32_t qmax) {
  int64_t offset = 0;
  for (int i = 0; i < n_parts; i++) {
    const ConcatPart& p = parts[i];
    const T* x = static_cast<const T*>(p.data);
    for (int64_t o = 0; o < outer; o++) {
      const T* src = x + o * p.len;
      T* dst = y + o * row_out + offset;
      if (p.same) {
        std::memcpy(dst, src, static_cast<size_t>(p.len) * sizeof(T));
        continue;
      }
      for (int64_t k = 0; k < p.len; k++) {
        const float v = static_cast<float>(src[k]) * p.scale + p.bias;
        const int32_t q = static_cast<int32_t>(std::round(v)) + zo;
        dst[k] = static_cast<T>(q < qmin ? qmin : q > qmax ? qmax : q);
      }
    }
    offset += p.len;
  }
}

}  // namespace lathe
