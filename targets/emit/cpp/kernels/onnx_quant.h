// ONNX's quantized ops as Lathe's runtime computes them (runtime/kernels/quantize.ts, quant-compute.ts):
// QuantizeLinear (float32 division, round half to even), DequantizeLinear (in double, rounded once to
// float32), QLinearConv (exact integer sums, then the accumulator times a float32 multiplier rounded to
// float32, round half to even), and onnxruntime's com.microsoft.QLinearAdd (MLAS: float32 ratios and fused
// multiply-adds) and QLinearGlobalAveragePool (float32 scale, clamp in float, round half to even).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace lathe {

// Per tensor (channels 1) or per index along an axis (`inner` elements per index).
template <typename T>
void quantize_linear(const float* x, T* y, size_t n, const float* scale, const int32_t* zp, size_t channels,
                     size_t inner, int32_t qmin, int32_t qmax) {
  for (size_t i = 0; i < n; i++) {
    const size_t c = channels == 1 ? 0 : (i / inner) % channels;
    const float q = x[i] / scale[c];
    double v = std::nearbyint(static_cast<double>(q)) + zp[c];
    if (v < qmin) v = qmin;
    else if (v > qmax) v = qmax;
    else if (std::isnan(v)) v = 0;
    y[i] = static_cast<T>(v);
  }
}

template <typename T>
void dequantize_linear(const T* x, float* y, size_t n, const float* scale, const int32_t* zp, size_t channels,
                       size_t inner) {
  for (size_t i = 0; i < n; i++) {
    const size_t c = channels == 1 ? 0 : (i / inner) % channels;
    y[i] = static_cast<float>(static_cast<double>(static_cast<int32_t>(x[i]) - zp[c]) * static_cast<double>(scale[c]));
  }
}

struct QConvParams {
  int N, C, H, W, M, Cg, group, KH, KW, OH, OW, sh, sw, dh, dw, ph, pw;
  int32_t x_zp, y_zp, qmin, qmax;
};

// NCHW input, [M, C/group, KH, KW] filter; w_zp, bias (or null) and the float32 multiplier per output channel.
template <typename TX, typename TW, typename TY>
void qlinear_conv(const TX* x, const TW* w, const int32_t* w_zp, const int32_t* bias, const float* mult, TY* y,
                  const QConvParams& p) {
  const int mg = p.M / p.group;
  const size_t plane = static_cast<size_t>(p.H) * p.W;
  for (int n = 0; n < p.N; n++) {
    for (int m = 0; m < p.M; m++) {
      const int g = m / mg;
      const TW* wm = w + static_cast<size_t>(m) * p.Cg * p.KH * p.KW;
      for (int oy = 0; oy < p.OH; oy++) {
        for (int ox = 0; ox < p.OW; ox++) {
          int64_t acc = 0;
          for (int c = 0; c < p.Cg; c++) {
            const TX* xc = x + (static_cast<size_t>(n) * p.C + g * p.Cg + c) * plane;
            const TW* wc = wm + static_cast<size_t>(c) * p.KH * p.KW;
            for (int ky = 0; ky < p.KH; ky++) {
              const int iy = oy * p.sh - p.ph + ky * p.dh;
              if (iy < 0 || iy >= p.H) continue;
              for (int kx = 0; kx < p.KW; kx++) {
                const int ix = ox * p.sw - p.pw + kx * p.dw;
                if (ix < 0 || ix >= p.W) continue;
                acc += static_cast<int64_t>(static_cast<int32_t>(xc[iy * p.W + ix]) - p.x_zp) *
                       (static_cast<int32_t>(wc[ky * p.KW + kx]) - w_zp[m]);
              }
            }
          }
          // int32 accumulators: the sum and the bias wrap as onnxruntime's (and the runtime's) do.
          int32_t a = static_cast<int32_t>(static_cast<uint32_t>(acc));
          if (bias) a = static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(bias[m]));
          const float f = static_cast<float>(static_cast<double>(a) * static_cast<double>(mult[m]));
          const double v = std::nearbyint(static_cast<double>(f)) + p.y_zp;
          y[((static_cast<size_t>(n) * p.M + m) * p.OH + oy) * p.OW + ox] =
              static_cast<TY>(v < p.qmin ? p.qmin : v > p.qmax ? p.qmax : v);
        }
      }
    }
  }
}

// B has A's shape, or is one value (b_scalar: `fixed` already holds its term).
template <typename T>
void qlinear_add(const T* a, const T* b, T* y, size_t n, bool b_scalar, float r_ac, float r_bc, float fixed,
                 int32_t qmin, int32_t qmax) {
  for (size_t i = 0; i < n; i++) {
    const float t = b_scalar ? fixed : std::fmaf(static_cast<float>(b[i]), r_bc, fixed);
    const double v = std::nearbyint(static_cast<double>(std::fmaf(static_cast<float>(a[i]), r_ac, t)));
    y[i] = static_cast<T>(v < qmin ? qmin : v > qmax ? qmax : v);
  }
}

template <typename T>
void qlinear_global_average_pool(const T* x, T* y, size_t N, size_t C, size_t image, bool channels_last,
                                 int32_t x_zp, int32_t y_zp, float scale, int32_t qmin, int32_t qmax) {
  const float lo = static_cast<float>(qmin - y_zp), hi = static_cast<float>(qmax - y_zp);
  for (size_t n = 0; n < N; n++) {
    for (size_t c = 0; c < C; c++) {
      int64_t acc = -static_cast<int64_t>(x_zp) * static_cast<int64_t>(image);
      if (channels_last) {
        for (size_t p = 0; p < image; p++) acc += x[(n * image + p) * C + c];
      } else {
        const T* xc = x + (n * C + c) * image;
        for (size_t p = 0; p < image; p++) acc += xc[p];
      }
      float f = static_cast<float>(acc) * scale;
      f = f < lo ? lo : f > hi ? hi : f;
      y[n * C + c] = static_cast<T>(static_cast<int32_t>(std::nearbyint(f)) + y_zp);
    }
  }
}

}  // namespace lathe
