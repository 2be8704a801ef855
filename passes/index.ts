// Every pass registers itself on import.
import "./dce.ts";
import "./constant-fold.ts";
import "./cse.ts";
import "./remove-noops.ts";
import "./canonicalize.ts";
