// Float32 elementwise ops, softmax and batch normalization as Lathe's runtime computes them: each element
// in double from the float32 operands and rounded to float32 once on store (the runtime's "float" storage
// class), so the expressions the driver steps pass in must be the runtime's, operation for operation.
#pragma once
#include <cstdint>
#include <vector>

#include "broadcast.h"
#include "js_math.h"

namespace lathe {

// y[i] = f(x[i]).
template <typename F>
void map_f32(const float* x, float* y, int64_t n, F f) {
  for (int64_t i = 0; i < n; i++) y[i] = static_cast<float>(f(static_cast<double>(x[i])));
}

// y[i] = f(x[i]) for float64 (the runtime's f64 storage: computed in double, nothing to round).
template <typename F>
void map_f64(const double* x, double* y, int64_t n, F f) {
  for (int64_t i = 0; i < n; i++) y[i] = f(x[i]);
}

// y = f(a, b) over a broadcast (y may be a, as a variadic fold is).
template <typename F>
void zip_f32(const float* a, const float* b, float* y, const Broadcast& bc, F f) {
  for_each_row(bc, [&](int64_t o, int64_t ia, int64_t ib, int64_t n, int64_t sa, int64_t sb) {
    for (int64_t j = 0; j < n; j++) {
      y[o + j] = static_cast<float>(f(static_cast<double>(a[ia + j * sa]), static_cast<double>(b[ib + j * sb])));
    }
  });
}

// The runtime's sigmoid: exp of a non-positive argument on both sides, so it cannot overflow.
inline double js_sigmoid(double x) {
  if (x >= 0) return 1 / (1 + js_exp(-x));
  const double e = js_exp(x);
  return e / (1 + e);
}

// Softmax over the middle axis of x viewed as [outer, dim, inner].
inline void softmax_f32(const float* x, float* y, int64_t outer, int64_t dim, int64_t inner) {
  std::vector<double> tmp(static_cast<size_t>(dim));
  for (int64_t o = 0; o < outer; o++) {
    for (int64_t i = 0; i < inner; i++) {
      const int64_t b = o * dim * inner + i;
      double m = -HUGE_VAL;
      for (int64_t k = 0; k < dim; k++) {
        const double v = x[b + k * inner];
        tmp[k] = v;
        if (v > m) m = v;
      }
      double s = 0;
      for (int64_t k = 0; k < dim; k++) s += tmp[k] = js_exp(tmp[k] - m);
      const double inv = 1 / s;
      for (int64_t k = 0; k < dim; k++) y[b + k * inner] = static_cast<float>(tmp[k] * inv);
    }
  }
}

// y = x * mul[c] + add[c] over [n, c, s] (inference batch normalization, folded at compile time).
inline void channel_affine_f32(const float* x, float* y, int64_t n, int64_t c, int64_t s, const double* mul,
                               const double* add) {
  for (int64_t b = 0; b < n; b++) {
    for (int64_t ch = 0; ch < c; ch++) {
      const int64_t o = (b * c + ch) * s;
      for (int64_t i = 0; i < s; i++) y[o + i] = static_cast<float>(x[o + i] * mul[ch] + add[ch]);
    }
  }
}

}  // namespace lathe
