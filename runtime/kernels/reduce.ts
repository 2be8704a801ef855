// Kernels: reduce family.
