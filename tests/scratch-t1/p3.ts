import "../../compiler/formats.ts";
import { kernelOps } from "../../runtime/kernel-registry.ts";
console.log(kernelOps().length);
