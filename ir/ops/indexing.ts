// Op declarations: indexing family.
