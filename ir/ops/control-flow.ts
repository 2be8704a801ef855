// Op declarations: control-flow family.
