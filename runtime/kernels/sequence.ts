// Kernels: sequence family.
