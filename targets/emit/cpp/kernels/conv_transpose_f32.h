// Float32 ConvTranspose (2-D, NCHW) as Lathe's runtime computes it: per image and group, the column matrix
// col [Mg*KH*KW x H*W] = W_g^T · X_g, then col2im scatters it onto the output, which starts at the bias, in
// (m, kh, kw, ih, iw) order with a float32 add per tap. The runtime's matrix product is its WebAssembly
// SIMD micro-kernel, whose summation order this follows: a column in the 8-wide main tiles adds k = 0, 1,
// ... into one float32 accumulator; a tail column (past the last multiple of 8) keeps four accumulators
// over k mod 4 (the remainder k joins the first) and sums them ((a0 + a1) + a2) + a3. Each step is a fused
// multiply-add where the runtime's engine fuses relaxed_madd, a float32 product then sum otherwise. With
// the SIMD engine off, the runtime accumulates each column in double and scatters that (mode kGemmDouble).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

namespace lathe {

enum GemmMode { kGemmDouble = 0, kGemmSimdMulAdd = 1, kGemmSimdFused = 2 };

struct ConvTransposeParams {
  int32_t N, C, H, W;  // input
  int32_t M, group;    // output channels (all groups)
  int32_t KH, KW, OH, OW;
  int32_t stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w;
  int32_t mode;  // GemmMode
};

inline float gemm_step(float a, float b, float acc, bool fused) {
  if (fused) return std::fma(a, b, acc);
  const float p = a * b;
  return acc + p;
}

// out[i*n + j] = sum_k a(i, k) b(k, j) with a(i, k) = a[k*lda + i] and b(k, j) = b[k*n + j], in the runtime's order.
inline void col_gemm_simd(const float* a, int64_t lda, const float* b, float* out, int64_t m, int64_t n, int64_t K,
                          bool fused) {
  const int64_t n_main = n & ~static_cast<int64_t>(7), k_end4 = K & ~static_cast<int64_t>(3);
  for (int64_t i = 0; i < m; i++) {
    for (int64_t j = 0; j < n_main; j++) {
      float acc = 0;
      for (int64_t k = 0; k < K; k++) acc = gemm_step(a[k * lda + i], b[k * n + j], acc, fused);
      out[i * n + j] = acc;
    }
    for (int64_t j = n_main; j < n; j++) {
      float acc[4] = {0, 0, 0, 0};
      int64_t k = 0;
      for (; k < k_end4; k += 4) {
        for (int u = 0; u < 4; u++) acc[u] = gemm_step(a[(k + u) * lda + i], b[(k + u) * n + j], acc[u], fused);
      }
      for (; k < K; k++) acc[0] = gemm_step(a[k * lda + i], b[k * n + j], acc[0], fused);
      out[i * n + j] = ((acc[0] + acc[1]) + acc[2]) + acc[3];
    }
  }
}

inline void col_gemm_double(const float* a, int64_t lda, const float* b, double* out, int64_t m, int64_t n,
                            int64_t K) {
  for (int64_t i = 0; i < m; i++) {
    double* row = out + i * n;
    for (int64_t j = 0; j < n; j++) row[j] = 0;
    for (int64_t k = 0; k < K; k++) {
      const double av = a[k * lda + i];
      for (int64_t j = 0; j < n; j++) row[j] += av * static_cast<double>(b[k * n + j]);
    }
  }
}

template <typename Col>
void col2im_add(const Col* col, int64_t Mg, const ConvTransposeParams& p, float* y, const float* bias) {
  const int64_t osz = static_cast<int64_t>(p.OH) * p.OW;
  for (int64_t m = 0; m < Mg; m++) {
    const float b = bias ? bias[m] : 0.0f;
    for (int64_t i = 0; i < osz; i++) y[m * osz + i] = b;
  }
  int64_t q = 0;
  for (int64_t m = 0; m < Mg; m++) {
    float* ym = y + m * osz;
    for (int64_t kh = 0; kh < p.KH; kh++) {
      for (int64_t kw = 0; kw < p.KW; kw++) {
        for (int64_t ih = 0; ih < p.H; ih++) {
          const int64_t oh = ih * p.stride_h - p.pad_h + kh * p.dilation_h;
          if (oh < 0 || oh >= p.OH) {
            q += p.W;
            continue;
          }
          for (int64_t iw = 0; iw < p.W; iw++, q++) {
            const int64_t ow = iw * p.stride_w - p.pad_w + kw * p.dilation_w;
            if (ow >= 0 && ow < p.OW) ym[oh * p.OW + ow] = static_cast<float>(ym[oh * p.OW + ow] + col[q]);
          }
        }
      }
    }
  }
}

// x [N, C, H, W], w [C, M/group, KH, KW], bias [M] or null, y [N, M, OH, OW].
inline void conv_transpose_f32(const float* x, const float* w, const float* bias, float* y,
                               const ConvTransposeParams& p) {
  const int64_t Cg = p.C / p.group, Mg = p.M / p.group, kk = static_cast<int64_t>(p.KH) * p.KW;
  const int64_t rows = Mg * kk, isz = static_cast<int64_t>(p.H) * p.W, osz = static_cast<int64_t>(p.OH) * p.OW;
  std::vector<float> colf;
  std::vector<double> cold;
  if (p.mode == kGemmDouble) {
    cold.resize(static_cast<size_t>(rows * isz));
  } else {
    colf.resize(static_cast<size_t>(rows * isz));
  }
  for (int64_t n = 0; n < p.N; n++) {
    for (int64_t g = 0; g < p.group; g++) {
      const float* a = w + g * Cg * rows;
      const float* b = x + (n * p.C + g * Cg) * isz;
      float* yg = y + (n * p.M + g * Mg) * osz;
      const float* bg = bias ? bias + g * Mg : nullptr;
      if (p.mode == kGemmDouble) {
        col_gemm_double(a, rows, b, cold.data(), rows, isz, Cg);
        col2im_add(cold.data(), Mg, p, yg, bg);
      } else {
        col_gemm_simd(a, rows, b, colf.data(), rows, isz, Cg, p.mode == kGemmSimdFused);
        col2im_add(colf.data(), Mg, p, yg, bg);
      }
    }
  }
}

}  // namespace lathe
