import { registeredOps } from "./ir/op-registry.ts";
import { kernelOps } from "./runtime/kernel-registry.ts";
import "./ir/ops/index.ts"; import "./runtime/kernels/index.ts";
const k = new Set(kernelOps());
console.log(registeredOps().filter((o) => k.has(o)).join(" "));
