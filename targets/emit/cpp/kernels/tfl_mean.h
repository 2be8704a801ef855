// tfl.MEAN on 8-bit codes (runtime/kernels/tflite-int.ts, reference QuantizedMeanOrSum): integer sums over
// the reduced axes, less count·x_zp, times a multiplier with 1/count folded in at compile time.
#pragma once
#include <cstdint>
#include <vector>

#include "../fixed_point.h"

namespace lathe {

struct ReduceShape {
  int rank;
  int64_t shape[6];
  int64_t out_stride[6];  // 0 along reduced axes
};

template <typename T>
void tfl_mean(const T* x, T* y, const ReduceShape& r, size_t out_count, int64_t count, int32_t x_zp, int32_t m,
              int32_t shift, int32_t y_zp, int32_t qmin, int32_t qmax) {
  if (count == 0) {
    for (size_t i = 0; i < out_count; i++) y[i] = 0;
    return;
  }
  std::vector<int64_t> sums(out_count, 0);
  int64_t total = 1;
  for (int d = 0; d < r.rank; d++) total *= r.shape[d];
  int64_t idx[6] = {0, 0, 0, 0, 0, 0};
  int64_t o = 0;
  for (int64_t i = 0; i < total; i++) {
    sums[o] += x[i];
    for (int d = r.rank - 1; d >= 0; d--) {
      o += r.out_stride[d];
      if (++idx[d] < r.shape[d]) break;
      o -= r.out_stride[d] * r.shape[d];
      idx[d] = 0;
    }
  }
  for (size_t i = 0; i < out_count; i++) {
    const int32_t v = static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(sums[i] - x_zp * count)));
    y[i] = static_cast<T>(clamp_i32(mbqm(v, m, shift) + y_zp, qmin, qmax));
  }
}

}  // namespace lathe
