// Kernels: signal family.
