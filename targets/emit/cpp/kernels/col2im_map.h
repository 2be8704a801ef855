// The col2IM output index map of a transposed convolution (lathe.Col2ImMap, runtime/kernels/accel.ts):
// row p = iy·iw + ix, column t = ky·kw + kx holds the output pixel oy·ow + ox the product of input pixel p
// with kernel tap t lands on, oy = iy·sh − pt + ky, ox = ix·sw − pl + kx, or −1 where that is cropped.
#pragma once
#include <cstdint>

namespace lathe {

struct Col2ImParams {
  int ih, iw, oh, ow, kh, kw, sh, sw, pt, pl;
};

inline void col2im_map(int32_t* map, const Col2ImParams& p) {
  int32_t* at = map;
  for (int iy = 0; iy < p.ih; iy++) {
    for (int ix = 0; ix < p.iw; ix++) {
      for (int ky = 0; ky < p.kh; ky++) {
        const int oy = iy * p.sh - p.pt + ky;
        const bool row_ok = oy >= 0 && oy < p.oh;
        for (int kx = 0; kx < p.kw; kx++) {
          const int ox = ix * p.sw - p.pl + kx;
          *at++ = row_ok && ox >= 0 && ox < p.ow ? oy * p.ow + ox : -1;
        }
      }
    }
  }
}

}  // namespace lathe
