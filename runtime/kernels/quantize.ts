// Kernels: quantize family.
