// A transpose of a tensor of rank ≤ 6: output element i reads the input at the permuted index.
#pragma once
#include <cstdint>

namespace lathe {

struct TransposeShape {
  int rank;
  int64_t out[6];        // output dimensions
  int64_t in_stride[6];  // the input stride of each output dimension
};

template <typename T>
void transpose_nd(const T* x, T* y, const TransposeShape& t) {
  int64_t total = 1;
  for (int d = 0; d < t.rank; d++) total *= t.out[d];
  int64_t idx[6] = {0, 0, 0, 0, 0, 0};
  int64_t at = 0;
  const int r = t.rank;
  for (int64_t i = 0; i < total; i++) {
    y[i] = x[at];
    for (int d = r - 1; d >= 0; d--) {
      at += t.in_stride[d];
      if (++idx[d] < t.out[d]) break;
      at -= t.in_stride[d] * t.out[d];
      idx[d] = 0;
    }
  }
}

}  // namespace lathe
