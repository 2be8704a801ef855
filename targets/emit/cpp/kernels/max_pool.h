// ONNX MaxPool over NCHW (runtime/kernels/conv-pool.ts): the largest value over the window's in-image taps
// (a NaN in the window wins), `empty` for a window with none.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lathe {

struct MaxPoolParams {
  int NC, H, W, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw;
};

template <typename T>
void max_pool_nchw(const T* x, T* y, const MaxPoolParams& p, T empty) {
  for (int nc = 0; nc < p.NC; nc++) {
    const T* xc = x + static_cast<size_t>(nc) * p.H * p.W;
    for (int oy = 0; oy < p.OH; oy++) {
      for (int ox = 0; ox < p.OW; ox++) {
        bool any = false;
        T m = empty;
        for (int ky = 0; ky < p.KH; ky++) {
          const int iy = oy * p.sh - p.ph + ky * p.dh;
          if (iy < 0 || iy >= p.H) continue;
          for (int kx = 0; kx < p.KW; kx++) {
            const int ix = ox * p.sw - p.pw + kx * p.dw;
            if (ix < 0 || ix >= p.W) continue;
            const T v = xc[iy * p.W + ix];
            if (!any || v > m || (v != v && m == m)) m = v;
            any = true;
          }
        }
        y[(static_cast<size_t>(nc) * p.OH + oy) * p.OW + ox] = m;
      }
    }
  }
}

}  // namespace lathe
