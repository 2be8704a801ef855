// Scalar pieces of ggml's block formats as Lathe's runtime reads and writes them (runtime/ggml/fp16.ts,
// k-quants.ts): f16 <-> f32 (f16 -> f32 exact; f32 -> f16 round to nearest even, NaN made the canonical
// quiet NaN with its sign), little-endian f32/i16 fields, and ggml's nearest_int (the 1.5*2^23 trick).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace lathe {
namespace ggml {

inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16, e = (h >> 10) & 31, m = h & 0x3ff;
  if (e == 0) {
    const float v = static_cast<float>(m) * 5.9604644775390625e-08f;  // m * 2^-24, exact
    return sign ? -v : v;
  }
  const uint32_t bits = e == 31 ? (sign | 0x7f800000u | (m << 13)) : (sign | ((e + 112) << 23) | (m << 13));
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint16_t f32_to_f16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000, ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00);
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00);  // 65520 and up round to infinity
  if (ax >= 0x38800000u) {  // a normal f16: drop 13 mantissa bits, ties to even
    const uint32_t r = ax + 0xfffu + ((ax >> 13) & 1);
    return static_cast<uint16_t>(sign | ((r - 0x38000000u) >> 13));
  }
  float a;
  std::memcpy(&a, &ax, 4);
  // Subnormal f16: units of 2^-24; the scaling is exact and nearbyint rounds ties to even.
  return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(a * 16777216.0f)));
}

// The f32 value an f32 -> f16 -> f32 trip gives.
inline float round_f16(float f) { return f16_to_f32(f32_to_f16(f)); }

inline float rd_f16(const uint8_t* p) { return f16_to_f32(static_cast<uint16_t>(p[0] | (p[1] << 8))); }
inline float rd_f32(const uint8_t* p) {
  float f;
  std::memcpy(&f, p, 4);
  return f;
}
inline int32_t rd_i16(const uint8_t* p) { return static_cast<int16_t>(static_cast<uint16_t>(p[0] | (p[1] << 8))); }
inline void wr_f16(uint8_t* p, float v) {
  const uint16_t h = f32_to_f16(v);
  p[0] = static_cast<uint8_t>(h & 0xff);
  p[1] = static_cast<uint8_t>(h >> 8);
}
inline void wr_f32(uint8_t* p, float v) { std::memcpy(p, &v, 4); }

// ggml's nearest_int: round half to even for |v| <= 2^22, and the same bit trick beyond.
inline int32_t nearest_int(float v) {
  const float s = v + 12582912.0f;
  if (v <= 4194303.0f && v >= -4194303.0f) return static_cast<int32_t>(s - 12582912.0f);
  uint32_t bits;
  std::memcpy(&bits, &s, 4);
  return static_cast<int32_t>(bits & 0x007fffffu) - 0x00400000;
}

}  // namespace ggml
}  // namespace lathe
