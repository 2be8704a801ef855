// Op declarations: reduce family.
