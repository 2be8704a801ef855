// Kernels: matmul family.
