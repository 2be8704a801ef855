// Op declarations: elementwise family.
