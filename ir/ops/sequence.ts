// Op declarations: sequence family.
