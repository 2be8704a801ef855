// Constant padding of an N-d tensor (rank ≤ 6): the output filled with `value`, then each input row copied
// to its place.
#pragma once
#include <cstdint>
#include <cstring>

namespace lathe {

struct PadShape {
  int rank;
  int64_t in[6];
  int64_t before[6];
  int64_t out[6];
};

template <typename T>
void pad_nd(const T* x, T* y, const PadShape& p, T value) {
  int64_t out_count = 1, rows = 1;
  for (int d = 0; d < p.rank; d++) out_count *= p.out[d];
  for (int d = 0; d + 1 < p.rank; d++) rows *= p.in[d];
  for (int64_t i = 0; i < out_count; i++) y[i] = value;
  const int r = p.rank;
  const int64_t n = p.in[r - 1];
  if (n == 0) return;
  int64_t out_stride[6];
  out_stride[r - 1] = 1;
  for (int d = r - 2; d >= 0; d--) out_stride[d] = out_stride[d + 1] * p.out[d + 1];
  int64_t idx[6] = {0, 0, 0, 0, 0, 0};
  for (int64_t k = 0; k < rows; k++) {
    int64_t o = p.before[r - 1];
    for (int d = 0; d < r - 1; d++) o += (idx[d] + p.before[d]) * out_stride[d];
    std::memcpy(y + o, x + k * n, static_cast<size_t>(n) * sizeof(T));
    for (int d = r - 2; d >= 0; d--) {
      if (++idx[d] < p.in[d]) break;
      idx[d] = 0;
    }
  }
}

}  // namespace lathe
