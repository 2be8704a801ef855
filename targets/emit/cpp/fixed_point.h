// TFLite's integer requantization in its default build (formats.md §2.5): gemmlowp's
// SaturatingRoundingDoublingHighMul and RoundingDivideByPOT, and MultiplyByQuantizedMultiplier with double
// rounding. Products are exact in 64 bits; the left shift wraps to 32 bits as TFLite's does.
#pragma once
#include <cstdint>

namespace lathe {

inline int32_t srdhm(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  const int64_t ab = static_cast<int64_t>(a) * static_cast<int64_t>(b);
  const int64_t nudge = ab >= 0 ? (int64_t{1} << 30) : 1 - (int64_t{1} << 30);
  // C++ division truncates toward zero, as gemmlowp's does.
  return static_cast<int32_t>((ab + nudge) / (int64_t{1} << 31));
}

inline int32_t rounding_divide_by_pot(int32_t x, int e) {
  if (e == 0) return x;
  const int32_t mask = e == 31 ? 0x7fffffff : static_cast<int32_t>((uint32_t{1} << e) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> e) + (remainder > threshold ? 1 : 0);
}

inline int32_t mbqm(int32_t x, int32_t multiplier, int32_t shift) {
  if (shift > 0) return srdhm(static_cast<int32_t>(static_cast<uint32_t>(x) << shift), multiplier);
  return rounding_divide_by_pot(srdhm(x, multiplier), -shift);
}

inline int32_t clamp_i32(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : v > hi ? hi : v; }

}  // namespace lathe
