// Dot products of a ggml weight row with a quantized activation row as Lathe's runtime computes them
// (runtime/ggml/vec-dot.ts, which follows ggml's scalar reference kernels ggml_vec_dot_*_generic): integer
// sums per block or sub-block, then f32 scaling and accumulation, each f32 step one f32 operation. The
// K-quants decode a super-block to int8 and accumulate scale*q8*w into 8 integer lanes (element index mod
// 8), each lane scaled into its own f32 sum. Weight types by GGUF id; activation types as vec_dot_type.
#pragma once
#include <cstdint>

#include "ggml_dequant.h"
#include "ggml_fp16.h"

namespace lathe {
namespace ggml {

// The activation type llama.cpp quantizes src1 to for a weight type (-1: none here).
inline int vec_dot_type(int w) {
  switch (w) {
    case 2: case 6: case 8: return 8;
    case 3: case 7: return 9;
    case 10: case 11: case 12: case 13: case 14: return 15;
    default: return -1;
  }
}

namespace detail {

struct KLanes {
  int8_t aux8[256];
  int32_t scale[16];
  int32_t lanes[8];
  float sums[8];
};

inline void accumulate_lanes(KLanes& k, const int8_t* q8) {
  int32_t l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int g = 0; g < 16; g++) {
    const int32_t sc = k.scale[g];
    const int8_t* p = q8 + 16 * g;
    const int8_t* a = k.aux8 + 16 * g;
    for (int e = 0; e < 8; e++) l[e] += sc * (p[e] * a[e] + p[e + 8] * a[e + 8]);
  }
  for (int e = 0; e < 8; e++) k.lanes[e] = l[e];
}

inline void add_lanes(KLanes& k, float d) {
  for (int e = 0; e < 8; e++) k.sums[e] = k.sums[e] + d * static_cast<float>(k.lanes[e]);
}

inline float finish_lanes(const KLanes& k, float sumf) {
  for (int e = 0; e < 8; e++) sumf = sumf + k.sums[e];
  return sumf;
}

// Q4_K/Q5_K: the group scales from the 6-bit sub-block scales, and the sum of bsums times mins.
inline int32_t k4_scales(KLanes& k, const uint8_t* x, const uint8_t* y) {
  int32_t sumi = 0;
  for (int j = 0; j < 8; j++) {
    const int sc = scale_k4(x + 4, j), mn = min_k4(x + 4, j);
    k.scale[2 * j] = sc;
    k.scale[2 * j + 1] = sc;
    sumi += (rd_i16(y + 260 + 4 * j) + rd_i16(y + 262 + 4 * j)) * mn;
  }
  return sumi;
}

}  // namespace detail

// Weight row x (n elements of type w) with activation row y (its vec_dot_type).
inline float vec_dot(int w, int64_t n, const uint8_t* x, const uint8_t* y) {
  const auto i8 = [](const uint8_t* p, int j) { return static_cast<int32_t>(static_cast<int8_t>(p[j])); };
  const auto fl = [](int32_t v) { return static_cast<float>(v); };
  float sumf = 0;
  switch (w) {
    case 2:
      for (int64_t ib = 0; ib < n / 32; ib++) {
        const uint8_t* bx = x + 18 * ib;
        const uint8_t* by = y + 34 * ib;
        int32_t s0 = 0, s1 = 0;
        for (int j = 0; j < 16; j++) {
          s0 += ((bx[2 + j] & 15) - 8) * i8(by, 2 + j);
          s1 += ((bx[2 + j] >> 4) - 8) * i8(by, 18 + j);
        }
        sumf = sumf + (fl(s0 + s1) * rd_f16(bx)) * rd_f16(by);
      }
      return sumf;
    case 3:
    case 7: {
      const bool five = w == 7;
      const int bb = five ? 24 : 20, qs = five ? 8 : 4;
      for (int64_t ib = 0; ib < n / 32; ib++) {
        const uint8_t* bx = x + bb * ib;
        const uint8_t* by = y + 36 * ib;
        uint32_t qh = 0;
        if (five) qh = bx[4] | (bx[5] << 8) | (bx[6] << 16) | (static_cast<uint32_t>(bx[7]) << 24);
        int32_t s0 = 0, s1 = 0;
        for (int j = 0; j < 16; j++) {
          const int q = bx[qs + j];
          const int h0 = five ? static_cast<int>((qh >> j) & 1) << 4 : 0;
          const int h1 = five ? static_cast<int>((qh >> (j + 16)) & 1) << 4 : 0;
          s0 += ((q & 15) | h0) * i8(by, 4 + j);
          s1 += ((q >> 4) | h1) * i8(by, 20 + j);
        }
        const float dd = rd_f16(bx) * rd_f16(by);
        sumf = sumf + (dd * fl(s0 + s1) + rd_f16(bx + 2) * rd_f16(by + 2));
      }
      return sumf;
    }
    case 6:
      for (int64_t ib = 0; ib < n / 32; ib++) {
        const uint8_t* bx = x + 22 * ib;
        const uint8_t* by = y + 34 * ib;
        const uint32_t qh = bx[2] | (bx[3] << 8) | (bx[4] << 16) | (static_cast<uint32_t>(bx[5]) << 24);
        int32_t s0 = 0, s1 = 0;
        for (int j = 0; j < 16; j++) {
          const int q = bx[6 + j];
          s0 += (((q & 15) | (static_cast<int>((qh >> j) & 1) << 4)) - 16) * i8(by, 2 + j);
          s1 += (((q >> 4) | (static_cast<int>((qh >> (j + 16)) & 1) << 4)) - 16) * i8(by, 18 + j);
        }
        sumf = sumf + (rd_f16(bx) * rd_f16(by)) * fl(s0 + s1);
      }
      return sumf;
    case 8:
      for (int64_t ib = 0; ib < n / 32; ib++) {
        const uint8_t* bx = x + 34 * ib;
        const uint8_t* by = y + 34 * ib;
        int32_t s = 0;
        for (int j = 2; j < 34; j++) s += i8(bx, j) * i8(by, j);
        sumf = sumf + fl(s) * (rd_f16(bx) * rd_f16(by));
      }
      return sumf;
    case 10:
      for (int64_t i = 0; i < n / 256; i++) {
        const uint8_t* bx = x + 84 * i;
        const uint8_t* by = y + 292 * i;
        int32_t summs = 0;
        for (int j = 0; j < 16; j++) summs += rd_i16(by + 260 + 2 * j) * (bx[j] >> 4);
        const float yd = rd_f32(by);
        const float dall = yd * rd_f16(bx + 80), dmin = yd * rd_f16(bx + 82);
        int32_t isum = 0;
        int is = 0;
        const uint8_t* q8 = by + 4;
        for (int k = 0; k < 2; k++) {
          const uint8_t* q2 = bx + 16 + 32 * k;
          for (int shift = 0; shift < 8; shift += 2) {
            int32_t d = bx[is++] & 15, isuml = 0;
            for (int l = 0; l < 16; l++) isuml += i8(q8, l) * ((q2[l] >> shift) & 3);
            isum += d * isuml;
            d = bx[is++] & 15;
            isuml = 0;
            for (int l = 16; l < 32; l++) isuml += i8(q8, l) * ((q2[l] >> shift) & 3);
            isum += d * isuml;
            q8 += 32;
          }
        }
        sumf = sumf + (dall * fl(isum) - dmin * fl(summs));
      }
      return sumf;
    case 11:
    case 12:
    case 13:
    case 14: {
      detail::KLanes k;
      for (int e = 0; e < 8; e++) k.sums[e] = 0;
      const int bb = w == 11 ? 110 : w == 12 ? 144 : w == 13 ? 176 : 210;
      for (int64_t i = 0; i < n / 256; i++) {
        const uint8_t* bx = x + bb * i;
        const uint8_t* by = y + 292 * i;
        const int8_t* q8 = reinterpret_cast<const int8_t*>(by + 4);
        const float yd = rd_f32(by);
        if (w == 11) {
          int a = 0, m = 1;
          for (int h = 0; h < 2; h++) {
            const uint8_t* q3 = bx + 32 + 32 * h;
            for (int shift = 0; shift < 8; shift += 2) {
              for (int l = 0; l < 32; l++) {
                k.aux8[a + l] = static_cast<int8_t>(((q3[l] >> shift) & 3) - ((bx[l] & m) ? 0 : 4));
              }
              a += 32;
              m <<= 1;
            }
          }
          q3_scales(bx + 96, k.scale);
          for (int g = 0; g < 16; g++) k.scale[g] -= 32;
          detail::accumulate_lanes(k, q8);
          detail::add_lanes(k, rd_f16(bx + 108) * yd);
        } else if (w == 14) {
          for (int h = 0; h < 2; h++) {
            const uint8_t* q4 = bx + 64 * h;
            const uint8_t* qh = bx + 128 + 32 * h;
            int8_t* a = k.aux8 + 128 * h;
            for (int l = 0; l < 32; l++) {
              const int hb = qh[l], lo = q4[l], hi = q4[l + 32];
              a[l] = static_cast<int8_t>(((lo & 15) | ((hb & 3) << 4)) - 32);
              a[l + 32] = static_cast<int8_t>(((hi & 15) | (((hb >> 2) & 3) << 4)) - 32);
              a[l + 64] = static_cast<int8_t>(((lo >> 4) | (((hb >> 4) & 3) << 4)) - 32);
              a[l + 96] = static_cast<int8_t>(((hi >> 4) | (((hb >> 6) & 3) << 4)) - 32);
            }
          }
          for (int g = 0; g < 16; g++) k.scale[g] = i8(bx, 192 + g);
          detail::accumulate_lanes(k, q8);
          detail::add_lanes(k, rd_f16(bx + 208) * yd);
        } else {
          const bool five = w == 13;
          const uint8_t* hm = bx + 16;
          int m = 1;
          for (int c = 0; c < 4; c++) {
            const uint8_t* q4 = bx + (five ? 48 : 16) + 32 * c;
            int8_t* a = k.aux8 + 64 * c;
            const int m2 = m << 1;
            for (int l = 0; l < 32; l++) {
              const int b = q4[l];
              a[l] = static_cast<int8_t>((b & 15) + (five && (hm[l] & m) ? 16 : 0));
              a[l + 32] = static_cast<int8_t>((b >> 4) + (five && (hm[l] & m2) ? 16 : 0));
            }
            m <<= 2;
          }
          const int32_t sumi = detail::k4_scales(k, bx, by);
          detail::accumulate_lanes(k, q8);
          detail::add_lanes(k, rd_f16(bx) * yd);
          sumf = sumf - (rd_f16(bx + 2) * yd) * fl(sumi);
        }
      }
      return detail::finish_lanes(k, sumf);
    }
    default:
      return 0;
  }
}

}  // namespace ggml
}  // namespace lathe
