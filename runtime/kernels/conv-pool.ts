// Kernels: conv-pool family.
