// lathe.ShiftConv on the CPU (runtime/kernels/quant-compute.ts): a 2-D convolution of 8-bit activation codes
// with 4-bit power-of-two weight codes, each product the activation shifted by the code's terms (no register
// widths: the CPU's integers hold them) and signed by bit 3, summed exactly; the input plane padded with the
// zero point; then y = f32(f64(acc − zp·Σw) · scale[m]) (+ bias[m] in float32). The scales (x_scale times
// the weight scale, rounded to float32) and the weight sums are prepared at compile time.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

namespace lathe {

struct ShiftConvParams {
  int32_t n, c, h, w, m, cg, kh, kw, oh, ow, sh, sw, dh, dw, pt, pl, ph, pw, group, zx;
};

// Per 4-bit code: the shifts and masks of its two terms and its sign.
struct ShiftTerms {
  int32_t s1[16], s2[16], m1[16], m2[16], sign[16];
};

template <typename T>
void shift_conv(const T* x, const uint8_t* codes, const ShiftTerms& d, const float* scale, const int64_t* wsum,
                const float* bias, float* y, const ShiftConvParams& p) {
  const int64_t plane = int64_t{p.oh} * p.ow, taps = int64_t{p.kh} * p.kw;
  const int32_t mg = p.m / p.group;
  std::vector<int32_t> padded(static_cast<size_t>(p.ph) * p.pw);
  std::vector<int64_t> acc(static_cast<size_t>(mg) * plane);
  const auto shl = [](int32_t v, int32_t s) { return static_cast<int32_t>(static_cast<uint32_t>(v) << s); };
  for (int32_t n = 0; n < p.n; n++) {
    for (int32_t gi = 0; gi < p.group; gi++) {
      std::fill(acc.begin(), acc.end(), 0);
      for (int32_t c = 0; c < p.cg; c++) {
        std::fill(padded.begin(), padded.end(), p.zx);
        const T* src = x + (int64_t{n} * p.c + int64_t{gi} * p.cg + c) * p.h * p.w;
        for (int32_t ih = 0; ih < p.h; ih++) {
          int32_t* pr = padded.data() + int64_t{ih + p.pt} * p.pw + p.pl;
          for (int32_t iw = 0; iw < p.w; iw++) pr[iw] = src[int64_t{ih} * p.w + iw];
        }
        for (int32_t j = 0; j < mg; j++) {
          const int64_t m = int64_t{gi} * mg + j, wb = (m * p.cg + c) * taps;
          int64_t* ab = acc.data() + j * plane;
          for (int32_t ky = 0; ky < p.kh; ky++) {
            for (int32_t kx = 0; kx < p.kw; kx++) {
              const uint8_t code = codes[wb + int64_t{ky} * p.kw + kx];
              const int32_t s1 = d.s1[code], s2 = d.s2[code], m1 = d.m1[code], m2 = d.m2[code], sg = d.sign[code];
              if (m1 == 0 && m2 == 0) continue;
              for (int32_t oy = 0; oy < p.oh; oy++) {
                const int32_t* pr = padded.data() + int64_t{oy * p.sh + ky * p.dh} * p.pw + kx * p.dw;
                int64_t* ar = ab + int64_t{oy} * p.ow;
                for (int32_t ox = 0; ox < p.ow; ox++) {
                  const int32_t xv = pr[int64_t{ox} * p.sw];
                  ar[ox] += sg * ((shl(xv, s1) & m1) + (shl(xv, s2) & m2));
                }
              }
            }
          }
        }
      }
      for (int32_t j = 0; j < mg; j++) {
        const int64_t m = int64_t{gi} * mg + j;
        const int64_t corr = int64_t{p.zx} * wsum[m];
        float* yo = y + (int64_t{n} * p.m + m) * plane;
        const int64_t* ab = acc.data() + j * plane;
        for (int64_t q = 0; q < plane; q++) {
          const float v = static_cast<float>(static_cast<double>(ab[q] - corr) * static_cast<double>(scale[m]));
          yo[q] = bias ? v + bias[m] : v;
        }
      }
    }
  }
}

}  // namespace lathe
