// tfl.AVERAGE_POOL_2D and tfl.MAX_POOL_2D on 8-bit codes (runtime/kernels/tflite-int.ts): the window's codes
// over the in-image taps; the average rounds half away from zero by integer division; then the clamp.
#pragma once
#include <cstdint>

#include "../fixed_point.h"

namespace lathe {

struct PoolParams {
  int N, H, W, C, FH, FW, OH, OW, sh, sw, pt, pl;
  int32_t lo, hi;
};

template <typename T, bool kMax>
void tfl_pool(const T* x, T* y, const PoolParams& p) {
  for (int n = 0; n < p.N; n++) {
    for (int oy = 0; oy < p.OH; oy++) {
      const int iy0 = oy * p.sh - p.pt;
      const int fy0 = iy0 >= 0 ? 0 : -iy0;
      const int fy1 = p.H - iy0 < p.FH ? (p.H - iy0 > fy0 ? p.H - iy0 : fy0) : p.FH;
      for (int ox = 0; ox < p.OW; ox++) {
        const int ix0 = ox * p.sw - p.pl;
        const int fx0 = ix0 >= 0 ? 0 : -ix0;
        const int fx1 = p.W - ix0 < p.FW ? (p.W - ix0 > fx0 ? p.W - ix0 : fx0) : p.FW;
        const int32_t count = (fy1 - fy0) * (fx1 - fx0);
        T* out = y + ((static_cast<size_t>(n) * p.OH + oy) * p.OW + ox) * p.C;
        for (int c = 0; c < p.C; c++) {
          int32_t acc = kMax ? INT32_MIN : 0;
          for (int fy = fy0; fy < fy1; fy++) {
            for (int fx = fx0; fx < fx1; fx++) {
              const int32_t v = x[((static_cast<size_t>(n) * p.H + iy0 + fy) * p.W + ix0 + fx) * p.C + c];
              if (kMax) acc = v > acc ? v : acc;
              else acc += v;
            }
          }
          if (!kMax) {
            const int32_t h = count / 2;
            acc = acc > 0 ? (acc + h) / count : (acc - h) / count;
          }
          out[c] = static_cast<T>(clamp_i32(acc, p.lo, p.hi));
        }
      }
    }
  }
}

}  // namespace lathe
