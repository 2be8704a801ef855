// Rows of ggml block types decoded to f32 as Lathe's runtime decodes them (runtime/ggml/dequantize.ts,
// q-legacy.ts, k-quants.ts, fp16.ts), which is ggml's to_float: every product and difference is one f32
// operation. Types by GGUF id: F32 0, F16 1, Q4_0 2, Q4_1 3, Q5_0 6, Q5_1 7, Q8_0 8, Q8_1 9, Q2_K..Q6_K
// 10..14, Q8_K 15, BF16 30.
#pragma once
#include <cstdint>
#include <cstring>

#include "ggml_fp16.h"

namespace lathe {
namespace ggml {

// Elements per block and bytes per block of a type this header decodes (0, 0 for others).
inline void block_shape(int type, int64_t& elems, int64_t& bytes) {
  switch (type) {
    case 0: elems = 1, bytes = 4; return;
    case 1: case 30: elems = 1, bytes = 2; return;
    case 2: elems = 32, bytes = 18; return;
    case 3: elems = 32, bytes = 20; return;
    case 6: elems = 32, bytes = 22; return;
    case 7: elems = 32, bytes = 24; return;
    case 8: elems = 32, bytes = 34; return;
    case 9: elems = 32, bytes = 36; return;
    case 10: elems = 256, bytes = 84; return;
    case 11: elems = 256, bytes = 110; return;
    case 12: elems = 256, bytes = 144; return;
    case 13: elems = 256, bytes = 176; return;
    case 14: elems = 256, bytes = 210; return;
    case 15: elems = 256, bytes = 292; return;
    default: elems = 0, bytes = 0; return;
  }
}

// Q4_K/Q5_K's 6-bit scale and min of sub-block j (ggml's get_scale_min_k4).
inline int scale_k4(const uint8_t* s, int j) { return j < 4 ? s[j] & 63 : (s[j + 4] & 0xf) | ((s[j - 4] >> 6) << 4); }
inline int min_k4(const uint8_t* s, int j) { return j < 4 ? s[j + 4] & 63 : (s[j + 4] >> 4) | ((s[j] >> 6) << 4); }

// Q3_K's 16 6-bit scales (before the -32 offset).
inline void q3_scales(const uint8_t* s, int32_t* out) {
  for (int k = 0; k < 4; k++) {
    const int hi = s[8 + k];
    out[k] = (s[k] & 15) | ((hi & 3) << 4);
    out[4 + k] = (s[4 + k] & 15) | (((hi >> 2) & 3) << 4);
    out[8 + k] = (s[k] >> 4) | (((hi >> 4) & 3) << 4);
    out[12 + k] = (s[4 + k] >> 4) | (((hi >> 6) & 3) << 4);
  }
}

// Decodes n elements (whole blocks) of `type` from src into y; false for a type it does not decode.
inline bool dequantize_row(int type, const uint8_t* src, float* y, int64_t n) {
  const auto fl = [](int v) { return static_cast<float>(v); };
  switch (type) {
    case 0:
      std::memcpy(y, src, static_cast<size_t>(n) * 4);
      return true;
    case 1:
      for (int64_t i = 0; i < n; i++) y[i] = rd_f16(src + 2 * i);
      return true;
    case 30:
      for (int64_t i = 0; i < n; i++) {
        const uint32_t bits = static_cast<uint32_t>(src[2 * i] | (src[2 * i + 1] << 8)) << 16;
        std::memcpy(y + i, &bits, 4);
      }
      return true;
    case 2:
      for (int64_t i = 0; i < n / 32; i++) {
        const uint8_t* b = src + 18 * i;
        const float d = rd_f16(b);
        float* o = y + 32 * i;
        for (int j = 0; j < 16; j++) {
          o[j] = fl((b[2 + j] & 15) - 8) * d;
          o[j + 16] = fl((b[2 + j] >> 4) - 8) * d;
        }
      }
      return true;
    case 3:
      for (int64_t i = 0; i < n / 32; i++) {
        const uint8_t* b = src + 20 * i;
        const float d = rd_f16(b), m = rd_f16(b + 2);
        float* o = y + 32 * i;
        for (int j = 0; j < 16; j++) {
          o[j] = fl(b[4 + j] & 15) * d + m;
          o[j + 16] = fl(b[4 + j] >> 4) * d + m;
        }
      }
      return true;
    case 6:
    case 7: {
      const bool one = type == 7;
      const int bb = one ? 24 : 22, qh_at = one ? 4 : 2, qs_at = one ? 8 : 6;
      for (int64_t i = 0; i < n / 32; i++) {
        const uint8_t* b = src + bb * i;
        const float d = rd_f16(b), m = one ? rd_f16(b + 2) : 0.0f;
        uint32_t qh;
        std::memcpy(&qh, b + qh_at, 4);
        float* o = y + 32 * i;
        for (int j = 0; j < 16; j++) {
          const int q = b[qs_at + j];
          const int lo = (q & 15) | static_cast<int>(((qh >> j) << 4) & 0x10);
          const int hi = (q >> 4) | static_cast<int>((qh >> (j + 12)) & 0x10);
          if (one) {
            o[j] = fl(lo) * d + m;
            o[j + 16] = fl(hi) * d + m;
          } else {
            o[j] = fl(lo - 16) * d;
            o[j + 16] = fl(hi - 16) * d;
          }
        }
      }
      return true;
    }
    case 8:
    case 9: {
      const int bb = type == 8 ? 34 : 36, qs = type == 8 ? 2 : 4;
      for (int64_t i = 0; i < n / 32; i++) {
        const uint8_t* b = src + bb * i;
        const float d = rd_f16(b);
        for (int j = 0; j < 32; j++) y[32 * i + j] = fl(static_cast<int8_t>(b[qs + j])) * d;
      }
      return true;
    }
    case 10:
      for (int64_t i = 0; i < n / 256; i++) {
        const uint8_t* b = src + 84 * i;
        const float d = rd_f16(b + 80), dmin = rd_f16(b + 82);
        float* o = y + 256 * i;
        int is = 0;
        for (int h = 0; h < 2; h++) {
          const uint8_t* q = b + 16 + 32 * h;
          for (int shift = 0; shift < 8; shift += 2) {
            for (int half = 0; half < 32; half += 16) {
              const int sc = b[is++];
              const float dl = d * fl(sc & 15), ml = dmin * fl(sc >> 4);
              for (int l = 0; l < 16; l++) *o++ = dl * fl((q[half + l] >> shift) & 3) - ml;
            }
          }
        }
      }
      return true;
    case 11:
      for (int64_t i = 0; i < n / 256; i++) {
        const uint8_t* b = src + 110 * i;
        const float d_all = rd_f16(b + 108);
        int32_t sc[16];
        q3_scales(b + 96, sc);
        float* o = y + 256 * i;
        int is = 0, m = 1;
        for (int h = 0; h < 2; h++) {
          const uint8_t* q = b + 32 + 32 * h;
          for (int shift = 0; shift < 8; shift += 2) {
            for (int half = 0; half < 32; half += 16) {
              const float dl = d_all * fl(sc[is++] - 32);
              for (int l = 0; l < 16; l++) {
                const int lo = (q[half + l] >> shift) & 3;
                *o++ = dl * fl(lo - ((b[half + l] & m) ? 0 : 4));
              }
            }
            m <<= 1;
          }
        }
      }
      return true;
    case 12:
    case 13: {
      const bool five = type == 13;
      const int bb = five ? 176 : 144;
      for (int64_t i = 0; i < n / 256; i++) {
        const uint8_t* b = src + bb * i;
        const float d = rd_f16(b), dmin = rd_f16(b + 2);
        const uint8_t* qh = b + 16;
        float* o = y + 256 * i;
        int u1 = 1, u2 = 2;
        for (int c = 0; c < 4; c++) {
          const uint8_t* q = b + (five ? 48 : 16) + 32 * c;
          const float d1 = d * fl(scale_k4(b + 4, 2 * c)), m1 = dmin * fl(min_k4(b + 4, 2 * c));
          const float d2 = d * fl(scale_k4(b + 4, 2 * c + 1)), m2 = dmin * fl(min_k4(b + 4, 2 * c + 1));
          for (int l = 0; l < 32; l++) *o++ = d1 * fl((q[l] & 15) + (five && (qh[l] & u1) ? 16 : 0)) - m1;
          for (int l = 0; l < 32; l++) *o++ = d2 * fl((q[l] >> 4) + (five && (qh[l] & u2) ? 16 : 0)) - m2;
          u1 <<= 2;
          u2 <<= 2;
        }
      }
      return true;
    }
    case 14:
      for (int64_t i = 0; i < n / 256; i++) {
        const uint8_t* b = src + 210 * i;
        const float d = rd_f16(b + 208);
        for (int h = 0; h < 2; h++) {
          const uint8_t* ql = b + 64 * h;
          const uint8_t* qh = b + 128 + 32 * h;
          const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192 + 8 * h);
          float* o = y + 256 * i + 128 * h;
          for (int l = 0; l < 32; l++) {
            const int is = l >> 4, hb = qh[l];
            const int q1 = ((ql[l] & 15) | ((hb & 3) << 4)) - 32;
            const int q2 = ((ql[l + 32] & 15) | (((hb >> 2) & 3) << 4)) - 32;
            const int q3 = ((ql[l] >> 4) | (((hb >> 4) & 3) << 4)) - 32;
            const int q4 = ((ql[l + 32] >> 4) | (((hb >> 6) & 3) << 4)) - 32;
            o[l] = (d * fl(sc[is])) * fl(q1);
            o[l + 32] = (d * fl(sc[is + 2])) * fl(q2);
            o[l + 64] = (d * fl(sc[is + 4])) * fl(q3);
            o[l + 96] = (d * fl(sc[is + 6])) * fl(q4);
          }
        }
      }
      return true;
    case 15:
      for (int64_t i = 0; i < n / 256; i++) {
        const uint8_t* b = src + 292 * i;
        const float d = rd_f32(b);
        for (int j = 0; j < 256; j++) y[256 * i + j] = d * fl(static_cast<int8_t>(b[4 + j]));
      }
      return true;
    default:
      return false;
  }
}

}  // namespace ggml
}  // namespace lathe
