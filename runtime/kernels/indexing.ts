// Kernels: indexing family.
