// Op declarations: quantize family.
