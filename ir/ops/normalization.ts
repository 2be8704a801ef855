// Op declarations: normalization family.
