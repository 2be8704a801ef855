// Kernels: fused ops. The convolution itself is the Conv kernel; the activation runs over its output.
import { LatheError } from "../../ir/errors.ts";
import { getKernel, registerKernel } from "../kernel-registry.ts";
import { Tensor } from "../tensor.ts";

registerKernel("com.microsoft.FusedConv", (inputs, ctx) => {
  if (inputs[3]) throw new LatheError("unsupported", "FusedConv with a Z (sum) input");
  const [y] = getKernel("Conv")!(inputs.slice(0, 3), ctx) as Tensor[];
  const d = y.data as Float32Array | Float64Array;
  const p: readonly number[] = ctx.attrs.activation_params ?? [];
  switch (ctx.attrs.activation) {
    case "Relu":
      for (let i = 0; i < d.length; i++) if (d[i] < 0) d[i] = 0;
      break;
    case "Tanh":
      for (let i = 0; i < d.length; i++) d[i] = Math.tanh(d[i]);
      break;
    case "Sigmoid":
      for (let i = 0; i < d.length; i++) d[i] = 1 / (1 + Math.exp(-d[i]));
      break;
    case "LeakyRelu": {
      const alpha = p[0] ?? 0.01;
      for (let i = 0; i < d.length; i++) if (d[i] < 0) d[i] *= alpha;
      break;
    }
    case "Clip": {
      const lo = p[0] ?? -Infinity, hi = p[1] ?? Infinity;
      for (let i = 0; i < d.length; i++) d[i] = d[i] < lo ? lo : d[i] > hi ? hi : d[i];
      break;
    }
    case "HardSigmoid": {
      const alpha = p[0] ?? 0.2, beta = p[1] ?? 0.5;
      for (let i = 0; i < d.length; i++) d[i] = Math.max(0, Math.min(1, alpha * d[i] + beta));
      break;
    }
    default:
      throw new LatheError("unsupported", `FusedConv activation ${ctx.attrs.activation}`);
  }
  return [y];
});
