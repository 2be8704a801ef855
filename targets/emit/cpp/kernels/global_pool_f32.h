// GlobalAveragePool on float32 (runtime/kernels/conv-pool.ts): each plane summed in double in element
// order, divided in double, rounded to float32 once.
#pragma once
#include <cstddef>

namespace lathe {

inline void global_average_pool_f32(const float* x, float* y, size_t planes, size_t size) {
  for (size_t i = 0; i < planes; i++) {
    double s = 0;
    for (size_t j = 0; j < size; j++) s += x[i * size + j];
    y[i] = static_cast<float>(s / static_cast<double>(size));
  }
}

}  // namespace lathe
