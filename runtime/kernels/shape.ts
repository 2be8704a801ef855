// Kernels: shape family.
