// Element-wise ops whose 8-bit result depends on the code alone, with the 256-entry table TFLite's Prepare
// builds (LOGISTIC, TANH, HARD_SWISH, QUANTIZE between 8-bit types), computed at compile time.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lathe {

template <typename TIn, typename TOut>
void lut8(const TIn* x, TOut* y, size_t n, const int32_t* table, int32_t code_min) {
  for (size_t i = 0; i < n; i++) y[i] = static_cast<TOut>(table[static_cast<int32_t>(x[i]) - code_min]);
}

}  // namespace lathe
