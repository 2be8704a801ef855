// Op declarations: shape family.
