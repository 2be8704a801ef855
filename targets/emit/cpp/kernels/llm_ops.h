// The decoder-only language-model ops of Lathe's runtime (runtime/kernels/llm.ts, llama.cpp's CPU
// arithmetic) for the driver: GgmlGather, GgmlMatMul with block-typed weights, RMSNorm, Rope and
// CausalAttention. Each mirrors the TS kernel operation for operation: where the kernel rounds with
// Math.fround or stores into a Float32Array the C++ rounds to float, where it keeps a JS number (double) the
// C++ keeps a double, and f16 storage (the KV cache, flash attention's accumulator) rounds the f32 value to
// nearest even. Rope's cos/sin tables are the runtime's own values, computed at compile time (V8's Math.cos
// and Math.sin are not the C library's). Build with -ffp-contract=off.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "ggml_dequant.h"
#include "ggml_fp16.h"
#include "ggml_quantize.h"
#include "ggml_vec_dot.h"
#include "js_math.h"

namespace lathe {
namespace llm {

[[noreturn]] inline void fail(const char* node, const char* why, long long v) {
  std::fprintf(stderr, "%s: %s (%lld)\n", node, why, v);
  std::exit(4);
}

// y[t, :] = dequantize(table[idx[t], :]) for a table of `rows` rows of d elements of ggml type `type`.
template <typename I>
void gather(const char* node, int type, const uint8_t* table, int64_t rows, int64_t d, int64_t row_bytes,
            const I* idx, int64_t count, float* y) {
  for (int64_t t = 0; t < count; t++) {
    int64_t r = static_cast<int64_t>(idx[t]);
    if (r < 0) r += rows;
    if (!(r >= 0 && r < rows)) fail(node, "index outside the table", static_cast<long long>(idx[t]));
    ggml::dequantize_row(type, table + r * row_bytes, y + t * d, d);
  }
}

// Y [m, n] = X [m, k] times W [n, k]^T with W in ggml type `type`: each X row quantized to the weight type's
// vec_dot type (`x86`: the x86 backend's Q8_0/Q8_1 quantizer), then ggml's vec_dot per output.
inline void matmul(int type, bool x86, const float* x, const uint8_t* w, float* y, int64_t m, int64_t n,
                   int64_t k, int64_t w_row_bytes, int64_t a_row_bytes) {
  const int act = ggml::vec_dot_type(type);
  std::vector<uint8_t> q(static_cast<size_t>(m * a_row_bytes));
  for (int64_t r = 0; r < m; r++) {
    uint8_t* dst = q.data() + r * a_row_bytes;
    if (act == 15) ggml::quantize_row_q8_k(x + r * k, dst, k);
    else if (x86) ggml::quantize_row_q8_x86(x + r * k, dst, k, act == 9);
    else ggml::quantize_row_q8_ref(x + r * k, dst, k, act == 9);
  }
  for (int64_t j = 0; j < n; j++) {
    for (int64_t r = 0; r < m; r++) y[r * n + j] = ggml::vec_dot(type, k, w + j * w_row_bytes, q.data() + r * a_row_bytes);
  }
}

// x / sqrt(mean(x^2) + eps) * w over rows of d (w may be null); the sum of squares is kept in double.
inline void rms_norm(const float* x, const float* w, float* y, int64_t rows, int64_t d, float eps) {
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * d;
    float* yr = y + r * d;
    double sum = 0;
    for (int64_t i = 0; i < d; i++) sum += static_cast<double>(xr[i] * xr[i]);
    const float mean = static_cast<float>(sum / static_cast<double>(d));
    const float scale = 1.0f / std::sqrt(mean + eps);
    if (w) {
      for (int64_t i = 0; i < d; i++) yr[i] = (xr[i] * scale) * w[i];
    } else {
      for (int64_t i = 0; i < d; i++) yr[i] = xr[i] * scale;
    }
  }
}

// Rotary embedding of X [t, heads, hd] with the runtime's cos/sin of each position's dims/2 angles.
inline void rope(const float* x, float* y, int64_t t, int64_t heads, int64_t hd, int64_t dims, bool neox,
                 const float* cos, const float* sin) {
  const int64_t half = dims / 2;
  for (int64_t p = 0; p < t; p++) {
    const float* c = cos + p * half;
    const float* s = sin + p * half;
    for (int64_t h = 0; h < heads; h++) {
      const int64_t o = (p * heads + h) * hd;
      for (int64_t i = 0; i < half; i++) {
        const int64_t i0 = neox ? o + i : o + 2 * i, i1 = neox ? i0 + half : i0 + 1;
        const float x0 = x[i0], x1 = x[i1];
        y[i0] = x0 * c[i] - x1 * s[i];
        y[i1] = x0 * s[i] + x1 * c[i];
      }
      for (int64_t i = dims; i < hd; i++) y[o + i] = x[o + i];
    }
  }
}

struct AttentionDims {
  int64_t t, hq, hk, d, dv, group;
};

inline std::vector<float> to_f16(const float* x, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; i++) out[i] = ggml::round_f16(x[i]);
  return out;
}

// Scores, softmax and the weighted sum of V in f32 with sums in double (the runtime's attendF32).
inline void attend_f32(const float* qs, const float* ks, const float* vs, float* y, const AttentionDims& a,
                       float scale) {
  std::vector<float> p(static_cast<size_t>(a.t));
  std::vector<double> acc(static_cast<size_t>(a.dv));
  for (int64_t h = 0; h < a.hq; h++) {
    const int64_t g = h / a.group;
    for (int64_t i = 0; i < a.t; i++) {
      const int64_t qo = (i * a.hq + h) * a.d;
      double max = -INFINITY;
      for (int64_t j = 0; j <= i; j++) {
        const int64_t ko = (j * a.hk + g) * a.d;
        double s = 0;
        for (int64_t c = 0; c < a.d; c++) s += static_cast<double>(qs[qo + c]) * static_cast<double>(ks[ko + c]);
        const float sc = static_cast<float>(s) * scale;
        p[j] = sc;
        if (sc > max) max = sc;
      }
      double sum = 0;
      for (int64_t j = 0; j <= i; j++) {
        const float e = static_cast<float>(js_exp(static_cast<double>(p[j]) - max));
        p[j] = e;
        sum += e;
      }
      const float inv = static_cast<float>(1 / sum);
      for (auto& v : acc) v = 0;
      for (int64_t j = 0; j <= i; j++) {
        const float pj = p[j] * inv;
        const int64_t vo = (j * a.hk + g) * a.dv;
        for (int64_t c = 0; c < a.dv; c++) acc[c] += static_cast<double>(pj) * static_cast<double>(vs[vo + c]);
      }
      const int64_t yo = (i * a.hq + h) * a.dv;
      for (int64_t c = 0; c < a.dv; c++) y[yo + c] = static_cast<float>(acc[c]);
    }
  }
}

// ggml_vec_dot_f16 with AVX-512 (the runtime's dotF16): 4 x 16 f32 lanes over blocks of 64, halving reduce.
inline float dot_f16(const float* x, const float* z, int64_t n) {
  constexpr int kLanes = 16, kArr = 4, kStep = kLanes * kArr;
  float lanes[kStep];
  for (auto& l : lanes) l = 0;
  const int64_t np = n - n % kStep;
  for (int64_t b = 0; b < np; b += kStep) {
    for (int e = 0; e < kStep; e++) {
      lanes[e] = static_cast<float>(static_cast<double>(lanes[e]) +
                                    static_cast<double>(x[b + e]) * static_cast<double>(z[b + e]));
    }
  }
  for (int w = kArr >> 1; w > 0; w >>= 1) {
    for (int e = 0; e < w * kLanes; e++) lanes[e] = lanes[e] + lanes[e + w * kLanes];
  }
  for (int w = kLanes >> 1; w > 0; w >>= 1) {
    for (int e = 0; e < w; e++) lanes[e] = lanes[e] + lanes[e + w];
  }
  double sum = lanes[0];
  for (int64_t c = np; c < n; c++) sum += static_cast<double>(x[c]) * static_cast<double>(z[c]);
  return static_cast<float>(sum);
}

// llama.cpp's CPU flash attention over an f16 KV cache with f16 Q (the runtime's attendF16): online
// softmax, V summed into an f16 accumulator rescaled when the running maximum grows.
inline void attend_f16(const float* qs, const float* ks, const float* vs, float* y, const AttentionDims& a,
                       float scale) {
  std::vector<float> acc(static_cast<size_t>(a.dv));  // f16 values held as float
  for (int64_t h = 0; h < a.hq; h++) {
    const int64_t g = h / a.group;
    for (int64_t i = 0; i < a.t; i++) {
      const int64_t qo = (i * a.hq + h) * a.d;
      float sum = 0, max = -INFINITY;
      for (auto& v : acc) v = 0;
      for (int64_t j = 0; j <= i; j++) {
        const float s = dot_f16(qs + qo, ks + (j * a.hk + g) * a.d, a.d) * scale;
        float ms = 1, w = 1;
        if (s > max) {
          ms = static_cast<float>(js_exp(static_cast<double>(max - s)));
          max = s;
          for (int64_t c = 0; c < a.dv; c++) acc[c] = ggml::round_f16(acc[c] * ms);
        } else {
          w = static_cast<float>(js_exp(static_cast<double>(s - max)));
        }
        const int64_t vo = (j * a.hk + g) * a.dv;
        for (int64_t c = 0; c < a.dv; c++) {
          const double t = static_cast<double>(acc[c]) + static_cast<double>(vs[vo + c]) * static_cast<double>(w);
          acc[c] = ggml::round_f16(static_cast<float>(t));
        }
        sum = sum * ms + w;
      }
      const float inv = sum == 0 ? 0.0f : 1.0f / sum;
      const int64_t yo = (i * a.hq + h) * a.dv;
      for (int64_t c = 0; c < a.dv; c++) y[yo + c] = acc[c] * inv;
    }
  }
}

// From this many queries on, llama.cpp's tiled flash-attention kernel keeps Q and the V sum in f32.
constexpr int64_t kFaTileQueries = 64;

inline void causal_attention(const float* q, const float* k, const float* v, float* y, const AttentionDims& a,
                             float scale, bool f16) {
  if (!f16) return attend_f32(q, k, v, y, a, scale);
  const std::vector<float> kh = to_f16(k, a.t * a.hk * a.d), vh = to_f16(v, a.t * a.hk * a.dv);
  if (a.t >= kFaTileQueries) return attend_f32(q, kh.data(), vh.data(), y, a, scale);
  const std::vector<float> qh = to_f16(q, a.t * a.hq * a.d);
  attend_f16(qh.data(), kh.data(), vh.data(), y, a, scale);
}

}  // namespace llm
}  // namespace lathe
