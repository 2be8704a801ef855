// Op declarations: recurrent family.
