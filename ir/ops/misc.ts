// Op declarations: misc family.
