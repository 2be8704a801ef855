// Kernels: recurrent family.
