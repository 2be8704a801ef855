// Kernels: control-flow family.
