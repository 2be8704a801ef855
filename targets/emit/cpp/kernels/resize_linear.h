// Linear or cubic Resize of the last two axes of a float32 tensor, as Lathe's runtime does it (its
// resizeLastTwo): per output row, the source rows its taps name are blended into a double row, which is
// then sampled along x; taps (source index, weight) and the out-of-range flags come from compile time.
#pragma once
#include <cstdint>
#include <vector>

namespace lathe {

struct ResizeTaps {
  int count;             // taps per output index
  const int32_t* idx;    // [out * count]
  const double* w;       // [out * count]
  const uint8_t* outside;  // [out]: 1 where tf_crop_and_resize puts the index outside the input
};

inline void resize_last_two_f32(const float* src, float* dst, int64_t planes, int64_t H, int64_t W, int64_t OH,
                                int64_t OW, const ResizeTaps& ty, const ResizeTaps& tx, float extrapolation) {
  const int cy = ty.count, cx = tx.count;
  bool any_out_x = false;
  for (int64_t i = 0; i < OW; i++) any_out_x = any_out_x || tx.outside[i];
  std::vector<double> row(static_cast<size_t>(W));
  for (int64_t pl = 0; pl < planes; pl++) {
    const int64_t sp = pl * H * W, dp = pl * OH * OW;
    for (int64_t oy = 0; oy < OH; oy++) {
      const int64_t drow = dp + oy * OW;
      if (ty.outside[oy]) {
        for (int64_t i = 0; i < OW; i++) dst[drow + i] = extrapolation;
        continue;
      }
      for (int64_t i = 0; i < W; i++) row[i] = 0;
      for (int ky = 0; ky < cy; ky++) {
        const double wy = ty.w[oy * cy + ky];
        if (wy == 0) continue;
        const int64_t srow = sp + static_cast<int64_t>(ty.idx[oy * cy + ky]) * W;
        for (int64_t i = 0; i < W; i++) row[i] += wy * src[srow + i];
      }
      if (cx == 2 && !any_out_x) {
        for (int64_t ox = 0, t = 0; ox < OW; ox++, t += 2) {
          dst[drow + ox] = static_cast<float>(tx.w[t] * row[tx.idx[t]] + tx.w[t + 1] * row[tx.idx[t + 1]]);
        }
        continue;
      }
      for (int64_t ox = 0; ox < OW; ox++) {
        if (tx.outside[ox]) {
          dst[drow + ox] = extrapolation;
          continue;
        }
        double acc = 0;
        for (int64_t kx = 0, t = ox * cx; kx < cx; kx++, t++) acc += tx.w[t] * row[tx.idx[t]];
        dst[drow + ox] = static_cast<float>(acc);
      }
    }
  }
}

}  // namespace lathe
