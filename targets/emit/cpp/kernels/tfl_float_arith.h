// tfl.ADD, tfl.SUB and tfl.MUL on float32 with a fused clamp (runtime/kernels/tflite-float.ts `binary` and
// applyActivation): one correctly rounded float operation per element, then v < lo ? lo : v > hi ? hi : v
// (so −0 and NaN pass a RELU as they do in the runtime).
#pragma once
#include <cstdint>

#include "broadcast.h"

namespace lathe {

enum class FloatOp { kAdd, kSub, kMul };

template <FloatOp op>
void tfl_float_binary(const float* a, const float* b, float* y, const Broadcast& bc, float lo, float hi) {
  for_each_row(bc, [&](int64_t o, int64_t ia, int64_t ib, int64_t n, int64_t sa, int64_t sb) {
    for (int64_t k = 0; k < n; k++) {
      const float x = a[ia + k * sa], z = b[ib + k * sb];
      const float v = op == FloatOp::kAdd ? x + z : op == FloatOp::kSub ? x - z : x * z;
      y[o + k] = v < lo ? lo : v > hi ? hi : v;
    }
  });
}

}  // namespace lathe
