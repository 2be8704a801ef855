// Host preparation before an accelerator call (ir/ops/accel.ts, runtime/kernels/accel.ts): im2col with the
// input zero point as the border code, padding a matrix to the hardware's multiples, gemmlowp zero-point row
// sums, and packing rows of codes into 32-bit words over the DMA lanes.
#pragma once
#include <cstdint>
#include <cstring>

namespace lathe {

struct Im2ColParams {
  int N, H, W, C, KH, KW, OH, OW, sh, sw, dh, dw, pt, pl;
  int32_t fill;
};

template <typename T>
void im2col(const T* x, T* y, const Im2ColParams& p) {
  const size_t C = static_cast<size_t>(p.C);
  T* at = y;
  for (int n = 0; n < p.N; n++) {
    for (int oy = 0; oy < p.OH; oy++) {
      for (int ox = 0; ox < p.OW; ox++) {
        for (int ky = 0; ky < p.KH; ky++) {
          const int iy = oy * p.sh - p.pt + ky * p.dh;
          for (int kx = 0; kx < p.KW; kx++, at += C) {
            const int ix = ox * p.sw - p.pl + kx * p.dw;
            if (iy < 0 || iy >= p.H || ix < 0 || ix >= p.W) {
              for (size_t c = 0; c < C; c++) at[c] = static_cast<T>(p.fill);
            } else {
              std::memcpy(at, x + ((static_cast<size_t>(n) * p.H + iy) * p.W + ix) * C, C * sizeof(T));
            }
          }
        }
      }
    }
  }
}

// rows x cols codes into rows_p x cols_p, the rest `value`.
template <typename T>
void pad_to(const T* x, T* y, size_t rows, size_t cols, size_t rows_p, size_t cols_p, int32_t value) {
  const T v = static_cast<T>(value);
  for (size_t r = 0; r < rows; r++) {
    std::memcpy(y + r * cols_p, x + r * cols, cols * sizeof(T));
    for (size_t c = cols; c < cols_p; c++) y[r * cols_p + c] = v;
  }
  for (size_t i = rows * cols_p; i < rows_p * cols_p; i++) y[i] = v;
}

// multiplier x (sum of each row's codes), in wrapping 32-bit arithmetic like the accelerator's sum registers.
template <typename T>
void zero_point_sums(const T* x, int32_t* y, size_t rows, size_t cols, int32_t multiplier) {
  for (size_t r = 0; r < rows; r++) {
    uint32_t s = 0;
    for (size_t c = 0; c < cols; c++) s += static_cast<uint32_t>(static_cast<int32_t>(x[r * cols + c]));
    y[r] = static_cast<int32_t>(s * static_cast<uint32_t>(multiplier));
  }
}

// Rows of `cols` codes (cols a multiple of 4) four to a little-endian word; row r goes to lane r % lanes,
// slot r / lanes; unused slots are zero.
template <typename T>
void lane_interleave(const T* x, uint32_t* y, size_t rows, size_t cols, size_t lanes) {
  const size_t per_lane = (rows + lanes - 1) / lanes;
  const size_t lane_bytes = per_lane * cols;
  uint8_t* out = reinterpret_cast<uint8_t*>(y);
  for (size_t r = 0; r < rows; r++) std::memcpy(out + (r % lanes) * lane_bytes + (r / lanes) * cols, x + r * cols, cols);
  for (size_t l = 0; l < lanes; l++) {
    const size_t filled = rows > l ? (rows - l + lanes - 1) / lanes : 0;
    std::memset(out + l * lane_bytes + filled * cols, 0, (per_lane - filled) * cols);
  }
}

}  // namespace lathe
