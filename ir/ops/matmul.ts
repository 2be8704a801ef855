// Op declarations: matmul family.
