// Two operands broadcast to one output shape: per output row (the last dimension), the offsets of each
// operand's first element and their strides along the row (0 where an operand is broadcast).
#pragma once
#include <cstdint>

namespace lathe {

struct Broadcast {
  int rank;  // 1..6, the output's dimensions (a rank-0 output is one row of 1)
  int64_t shape[6];
  int64_t stride[2][6];
};

template <typename F>
void for_each_row(const Broadcast& b, F&& row) {
  const int r = b.rank;
  const int64_t n = b.shape[r - 1];
  int64_t idx[6] = {0, 0, 0, 0, 0, 0};
  int64_t rows = 1;
  for (int d = 0; d < r - 1; d++) rows *= b.shape[d];
  int64_t ia = 0, ib = 0;
  for (int64_t k = 0; k < rows; k++) {
    row(k * n, ia, ib, n, b.stride[0][r - 1], b.stride[1][r - 1]);
    for (int d = r - 2; d >= 0; d--) {
      ia += b.stride[0][d];
      ib += b.stride[1][d];
      if (++idx[d] < b.shape[d]) break;
      ia -= b.stride[0][d] * b.shape[d];
      ib -= b.stride[1][d] * b.shape[d];
      idx[d] = 0;
    }
  }
}

}  // namespace lathe
