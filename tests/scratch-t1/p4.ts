import "../../compiler/formats.ts";
import { Session } from "../../runtime/interpreter.ts";
import { kernelOps } from "../../runtime/kernel-registry.ts";
console.log(kernelOps().length, typeof Session);
