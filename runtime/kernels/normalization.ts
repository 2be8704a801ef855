// Kernels: normalization family.
