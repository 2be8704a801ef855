// tfl.CONV_2D and tfl.DEPTHWISE_CONV_2D on 8-bit codes (runtime/kernels/tflite-int.ts): int32 sums of
// (x − x_zp)(w − w_zp) over the in-image taps plus the bias, wrapping like TFLite's accumulators, then
// MultiplyByQuantizedMultiplier per output channel, the output zero point and the activation clamp.
#pragma once
#include <cstdint>

#include "../fixed_point.h"

namespace lathe {

struct ConvParams {
  int N, H, W, C, O, KH, KW, Cf, groups, OH, OW, sh, sw, dh, dw, pt, pl;
  int32_t x_zp, w_zp, y_zp, lo, hi;
};

inline int first_tap(int start, int d) { return start >= 0 ? 0 : (-start + d - 1) / d; }
inline int end_tap(int start, int d, int taps, int size) {
  const int f = first_tap(start, d);
  const int e = (size - start + d - 1) / d;
  const int v = e < taps ? e : taps;
  return v > f ? v : f;
}

// Filter OHWI ([O, KH, KW, C / groups]); bias, multiplier and shift per output channel.
template <typename T, typename TW>
void tfl_conv2d(const T* x, const TW* w, const int32_t* bias, const int32_t* mult, const int32_t* shift, T* y,
                const ConvParams& p) {
  const int og = p.O / p.groups;
  const size_t K = static_cast<size_t>(p.KH) * p.KW * p.Cf;
  for (int n = 0; n < p.N; n++) {
    for (int oy = 0; oy < p.OH; oy++) {
      const int iy0 = oy * p.sh - p.pt;
      const int ky0 = first_tap(iy0, p.dh), ky1 = end_tap(iy0, p.dh, p.KH, p.H);
      for (int ox = 0; ox < p.OW; ox++) {
        const int ix0 = ox * p.sw - p.pl;
        const int kx0 = first_tap(ix0, p.dw), kx1 = end_tap(ix0, p.dw, p.KW, p.W);
        T* out = y + ((static_cast<size_t>(n) * p.OH + oy) * p.OW + ox) * p.O;
        for (int o = 0; o < p.O; o++) {
          int32_t acc = bias ? bias[o] : 0;
          const int g = o / og;
          for (int ky = ky0; ky < ky1; ky++) {
            const T* xr = x + (static_cast<size_t>(n) * p.H + iy0 + ky * p.dh) * p.W * p.C;
            for (int kx = kx0; kx < kx1; kx++) {
              const T* xp = xr + static_cast<size_t>(ix0 + kx * p.dw) * p.C + g * p.Cf;
              const TW* wp = w + o * K + (static_cast<size_t>(ky) * p.KW + kx) * p.Cf;
              for (int c = 0; c < p.Cf; c++) {
                acc += (static_cast<int32_t>(xp[c]) - p.x_zp) * (static_cast<int32_t>(wp[c]) - p.w_zp);
              }
            }
          }
          out[o] = static_cast<T>(clamp_i32(mbqm(acc, mult[o], shift[o]) + p.y_zp, p.lo, p.hi));
        }
      }
    }
  }
}

// Filter [1, KH, KW, C·M]: output channel oc reads input channel oc / M.
template <typename T, typename TW>
void tfl_depthwise_conv2d(const T* x, const TW* w, const int32_t* bias, const int32_t* mult, const int32_t* shift,
                          T* y, const ConvParams& p) {
  const int M = p.O / p.C;
  for (int n = 0; n < p.N; n++) {
    for (int oy = 0; oy < p.OH; oy++) {
      const int iy0 = oy * p.sh - p.pt;
      const int ky0 = first_tap(iy0, p.dh), ky1 = end_tap(iy0, p.dh, p.KH, p.H);
      for (int ox = 0; ox < p.OW; ox++) {
        const int ix0 = ox * p.sw - p.pl;
        const int kx0 = first_tap(ix0, p.dw), kx1 = end_tap(ix0, p.dw, p.KW, p.W);
        T* out = y + ((static_cast<size_t>(n) * p.OH + oy) * p.OW + ox) * p.O;
        for (int oc = 0; oc < p.O; oc++) {
          const int c = oc / M;
          int32_t acc = bias ? bias[oc] : 0;
          for (int ky = ky0; ky < ky1; ky++) {
            for (int kx = kx0; kx < kx1; kx++) {
              const size_t xi = ((static_cast<size_t>(n) * p.H + iy0 + ky * p.dh) * p.W + ix0 + kx * p.dw) * p.C + c;
              const size_t wi = (static_cast<size_t>(ky) * p.KW + kx) * p.O + oc;
              acc += (static_cast<int32_t>(x[xi]) - p.x_zp) * (static_cast<int32_t>(w[wi]) - p.w_zp);
            }
          }
          out[oc] = static_cast<T>(clamp_i32(mbqm(acc, mult[oc], shift[oc]) + p.y_zp, p.lo, p.hi));
        }
      }
    }
  }
}

}  // namespace lathe
