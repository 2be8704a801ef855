// Float32 ReduceMean and AveragePool as Lathe's runtime computes them: a double sum in the runtime's
// order (row-major over the reduced axes; the window's taps), divided by the count, rounded to float32 once.
#pragma once
#include <cstdint>

namespace lathe {

// out[o] = mean of x[base[o] + red[r]] over r.
inline void reduce_mean_f32(const float* x, float* y, const int32_t* base, int64_t outs, const int32_t* red,
                            int64_t count) {
  for (int64_t o = 0; o < outs; o++) {
    double acc = 0;
    const float* b = x + base[o];
    for (int64_t r = 0; r < count; r++) acc += b[red[r]];
    acc /= static_cast<double>(count);
    y[o] = static_cast<float>(acc);
  }
}

struct AvgPoolParams {
  int32_t planes, H, W, OH, OW, KH, KW, stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w;
  int32_t count_include_pad;
};

// 2-D AveragePool over NCHW planes: the taps inside the image summed in double in (kh, kw) order, divided
// by their count, or by the padded window's (count_h[oh] * count_w[ow]) with count_include_pad.
inline void avg_pool_f32(const float* x, float* y, const AvgPoolParams& p, const int32_t* count_h,
                         const int32_t* count_w) {
  int64_t o = 0;
  for (int64_t pl = 0; pl < p.planes; pl++) {
    const float* xb = x + pl * static_cast<int64_t>(p.H) * p.W;
    for (int64_t oh = 0; oh < p.OH; oh++) {
      for (int64_t ow = 0; ow < p.OW; ow++, o++) {
        double sum = 0;
        int64_t cnt = 0;
        for (int64_t kh = 0; kh < p.KH; kh++) {
          const int64_t ih = oh * p.stride_h - p.pad_h + kh * p.dilation_h;
          if (ih < 0 || ih >= p.H) continue;
          for (int64_t kw = 0; kw < p.KW; kw++) {
            const int64_t iw = ow * p.stride_w - p.pad_w + kw * p.dilation_w;
            if (iw < 0 || iw >= p.W) continue;
            sum += xb[ih * p.W + iw];
            cnt++;
          }
        }
        const int64_t div = p.count_include_pad ? static_cast<int64_t>(count_h[oh]) * count_w[ow] : cnt;
        y[o] = static_cast<float>(div > 0 ? sum / static_cast<double>(div) : __builtin_nan(""));
      }
    }
  }
}

}  // namespace lathe
