// Op declarations: signal family.
