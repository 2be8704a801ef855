// Kernels: elementwise family.
