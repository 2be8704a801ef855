// JavaScript's Math functions as Lathe's runtime gets them from V8, for driver steps that mirror a kernel
// calling them. V8's Math.exp is correctly rounded (it comes from LLVM's libc); glibc's exp is not (about
// one input in 2000 differs in the last bit), so js_exp computes exp(x) to about 100 bits in double-double
// arithmetic and rounds once. V8's Math.tanh is the C library's tanh, so js_tanh calls it. js_max/js_min are
// Math.max/Math.min, whose NaN and signed-zero rules std::max/std::min do not follow. Build with
// -ffp-contract=off: a fused multiply-add breaks the exact products below.
#pragma once
#include <cmath>
#include <cstdint>

namespace lathe {
namespace jsm {

struct DD {
  double hi, lo;
};

inline DD two_sum(double a, double b) {
  const double s = a + b;
  const double bb = s - a;
  return {s, (a - (s - bb)) + (b - bb)};
}

inline DD quick_two_sum(double a, double b) {
  const double s = a + b;
  return {s, b - (s - a)};
}

// Dekker's exact product (no fused multiply-add): a*b = hi + lo.
inline DD two_prod(double a, double b) {
  const double split = 134217729.0;  // 2^27 + 1
  const double p = a * b;
  double t = split * a;
  const double ah = t - (t - a), al = a - ah;
  t = split * b;
  const double bh = t - (t - b), bl = b - bh;
  return {p, ((ah * bh - p) + ah * bl + al * bh) + al * bl};
}

inline DD add(DD a, DD b) {
  DD s = two_sum(a.hi, b.hi);
  const DD t = two_sum(a.lo, b.lo);
  s.lo += t.hi;
  s = quick_two_sum(s.hi, s.lo);
  s.lo += t.lo;
  return quick_two_sum(s.hi, s.lo);
}

inline DD mul(DD a, DD b) {
  DD p = two_prod(a.hi, b.hi);
  p.lo += a.hi * b.lo + a.lo * b.hi;
  return quick_two_sum(p.hi, p.lo);
}

inline DD mul_d(DD a, double b) {
  DD p = two_prod(a.hi, b);
  p.lo += a.lo * b;
  return quick_two_sum(p.hi, p.lo);
}

// a / n, the high part's remainder carried into the low part.
inline DD div_d(DD a, double n) {
  const double q1 = a.hi / n;
  const DD p = two_prod(q1, n);
  const double r = ((a.hi - p.hi) - p.lo + a.lo) / n;
  return quick_two_sum(q1, r);
}

}  // namespace jsm

// exp(x) correctly rounded (barring inputs within 2^-100 of a rounding boundary).
inline double js_exp(double x) {
  using namespace jsm;
  if (x != x) return x;
  if (x > 709.782712893384) return HUGE_VAL;
  if (x < -745.1332191019412) return 0.0;
  if (x == 0) return 1.0;
  // ln 2 in three parts; the first has 32 significant bits, so k * part exactly for |k| < 2^20.
  const double L1 = 0x1.62e42feep-1, L2 = 0x1.a39ef35793c76p-33, L3 = 0x1.cc01f97b57a08p-87;
  const double k = std::nearbyint(x * 1.4426950408889634);
  // r = x - k ln2 as a double-double.
  DD r = two_sum(x, -k * L1);
  r = add(r, two_prod(-k, L2));
  r = add(r, DD{-k * L3, 0.0});
  // e^(r / 2^10) - 1 by its Taylor series (|r / 2^10| < 2^-11), then squared back ten times.
  const double s = 0x1p-10;
  const DD q{r.hi * s, r.lo * s};
  // Horner: q(1 + q/2(1 + q/3(...(1 + q/9)))).
  DD acc{1.0, 0.0};
  for (int n = 9; n >= 2; n--) {
    acc = add(DD{1.0, 0.0}, div_d(mul(acc, q), n));
  }
  DD e = mul(acc, q);
  for (int i = 0; i < 10; i++) e = add(mul_d(e, 2.0), mul(e, e));  // (1+e)^2 - 1
  const DD y = add(DD{1.0, 0.0}, e);
  const double v = y.hi + y.lo;
  const int ki = static_cast<int>(k);
  if (ki > -1022) return std::ldexp(v, ki);
  // Results that may be subnormal: count them in units of 2^-1074 and round that count to an integer.
  const double th = std::ldexp(y.hi, ki + 1074), tl = std::ldexp(y.lo, ki + 1074);
  double n = std::nearbyint(th);
  const double rest = (th - n) + tl;
  if (rest > 0.5 || (rest == 0.5 && std::fmod(n, 2.0) != 0)) n += 1;
  if (rest < -0.5 || (rest == -0.5 && std::fmod(n, 2.0) != 0)) n -= 1;
  return std::ldexp(n, -1074);
}

// Math.tanh: V8 calls the C library's tanh (Deno's agreed with glibc's on 2 million arguments); a board
// whose C library computes tanh otherwise can differ in the last bit.
inline double js_tanh(double x) { return std::tanh(x); }

// Math.max(a, b) and Math.min(a, b): NaN if either is NaN; +0 is above -0.
inline double js_max(double a, double b) {
  if (a != a || b != b) return a + b;
  if (a == b) return std::signbit(a) ? b : a;
  return a > b ? a : b;
}

inline double js_min(double a, double b) {
  if (a != a || b != b) return a + b;
  if (a == b) return std::signbit(a) ? a : b;
  return a < b ? a : b;
}

}  // namespace lathe
