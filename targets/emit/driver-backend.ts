/**
 * What a driver needs from its target besides the steps of its calls: acc_config.h (the design's capacities
 * and protocol as C++ constants) and the two implementations of acc_hw.h it links against — the host-side
 * model of the accelerator (`make`, the sim build) and the board's DMA mapping (`make board`). A target
 * family whose designs share one protocol shares one backend; a target with no backend compiles without a
 * driver and compile says so.
 */
import { LatheError } from "../../ir/errors.ts";
import type { Target } from "../target.ts";

export interface DriverBackend {
  /** What the backend models, for messages ("SECDA GEMM"). */
  readonly name: string;
  /** acc_config.h for this target. */
  accConfig(target: Target): string;
  /** The accelerator model of the sim build, a source under targets/emit/cpp/. */
  readonly simSource: string;
  /** acc_hw.h on the board, a source under targets/emit/cpp/. */
  readonly boardSource: string;
}

const byName = new Map<string, DriverBackend>();
const byFamily = new Map<string, DriverBackend>();

/** Registers a backend for targets by exact name and for families by prefix (`sa` for `sa:16x16:os`). */
export function registerDriverBackend(
  backend: DriverBackend,
  names: readonly string[],
  families: readonly string[] = [],
): void {
  for (const n of names) {
    if (byName.has(n)) throw new Error(`driver backend for target ${n} registered twice`);
    byName.set(n, backend);
  }
  for (const f of families) {
    if (byFamily.has(f)) throw new Error(`driver backend for target family ${f} registered twice`);
    byFamily.set(f, backend);
  }
}

export function driverBackendOf(target: Target): DriverBackend {
  const name = target.params.name;
  const colon = name.indexOf(":");
  const b = byName.get(name) ?? (colon > 0 ? byFamily.get(name.slice(0, colon)) : undefined);
  if (b) return b;
  // A parametric target's name may carry its family's prefix before a colon (potacc:kria).
  throw new LatheError(
    "unsupported",
    `driver emission: no accelerator model for target ${name} (drivers exist for ${
      [...byName.keys(), ...[...byFamily.keys()].map((f) => `${f}:…`)].join(", ")
    })`,
  );
}
