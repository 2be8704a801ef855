/**
 * Target spellings of the systolic array: `sa:RxC:os|ws|is` (e.g. `sa:16x16:os`), and the pieces the
 * `simulate` command takes separately (`--array RxC`, `--sram KB,KB,KB`). Buffers default to scale.cfg's
 * 64 kB each.
 */
import { LatheError } from "../../ir/errors.ts";
import { type ArrayOptions, type SramSizes, type SystolicArray, systolicArray } from "./array.ts";

const SPEC = /^sa:(\d+)x(\d+):([a-z]+)$/;
const DIMS = /^(\d+)x(\d+)$/;

/** Parses `sa:16x16:os` into an array description; anything else is a usage error naming the field. */
export function parseSystolicSpec(spec: string, opts: ArrayOptions = {}): SystolicArray {
  const m = SPEC.exec(spec.trim().toLowerCase());
  if (!m) {
    throw new LatheError(
      "usage",
      `expected a systolic array target 'sa:RxC:os|ws|is' (e.g. sa:16x16:os), got '${spec}'`,
      {
        field: "target",
      },
    );
  }
  return systolicArray(Number(m[1]), Number(m[2]), m[3], opts);
}

/** `16x8` → rows 16, cols 8. */
export function parseArrayDims(s: string): { rows: number; cols: number } {
  const m = DIMS.exec(s.trim().toLowerCase());
  if (!m) throw new LatheError("usage", `--array expects RxC (e.g. 32x32), got '${s}'`, { field: "array" });
  return { rows: Number(m[1]), cols: Number(m[2]) };
}

/** `64,64,64` → ifmap, filter and ofmap buffer sizes in kB (as IfmapSramSzkB, FilterSramSzkB, OfmapSramSzkB). */
export function parseSramList(s: string): SramSizes {
  const parts = s.split(",").map((p) => p.trim());
  const kb = parts.map(Number);
  if (parts.length !== 3 || parts.some((p) => p === "") || kb.some((v) => !(Number.isFinite(v) && v > 0))) {
    throw new LatheError(
      "usage",
      `--sram expects three positive kB sizes IFMAP,FILTER,OFMAP (e.g. 64,64,64), got '${s}'`,
      {
        field: "sram",
      },
    );
  }
  return { ifmapKB: kb[0], filterKB: kb[1], ofmapKB: kb[2] };
}
