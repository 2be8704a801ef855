// Kernels: misc family.
