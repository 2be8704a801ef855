// Every pass registers itself on import.
import "./dce.ts";
import "./constant-fold.ts";
import "./cse.ts";
import "./remove-noops.ts";
import "./canonicalize.ts";
import "./fold-batchnorm.ts";
import "./fuse-conv.ts";
import "./fold-pad.ts";
import "./gemm-canonical.ts";
import "./layout-propagation.ts";
import "./quantize/index.ts";
