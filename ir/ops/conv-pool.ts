// Op declarations: conv-pool family.
