// Concatenation along an axis without requantization (any element type): per outer index, each operand's
// run of bytes after the previous operand's.
#pragma once
#include <cstdint>
#include <cstring>

namespace lathe {

struct ConcatRun {
  const void* data;
  int64_t bytes;  // per outer index
};

inline void concat_bytes(const ConcatRun* runs, int n, void* y, int64_t outer, int64_t row_bytes) {
  uint8_t* out = static_cast<uint8_t*>(y);
  int64_t offset = 0;
  for (int i = 0; i < n; i++) {
    const uint8_t* src = static_cast<const uint8_t*>(runs[i].data);
    for (int64_t o = 0; o < outer; o++) {
      std::memcpy(out + o * row_bytes + offset, src + o * runs[i].bytes, static_cast<size_t>(runs[i].bytes));
    }
    offset += runs[i].bytes;
  }
}

}  // namespace lathe
