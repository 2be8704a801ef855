/**
 * Mutations of a model file: bit flips, truncation, byte-run overwrites with extreme values (what an edited
 * length or count field looks like), duplicated and deleted chunks.
 */
import { Rng } from "../../runtime/random.ts";

export type MutationKind = "bitflip" | "truncate" | "extreme" | "varint" | "duplicate" | "delete";
export const MUTATIONS: MutationKind[] = ["bitflip", "truncate", "extreme", "varint", "duplicate", "delete"];

export interface Mutation {
  kind: MutationKind;
  offset: number;
  bytes: Uint8Array;
}

const EXTREMES = [
  [0xff, 0xff, 0xff, 0xff],
  [0x00, 0x00, 0x00, 0x80],
  [0xff, 0xff, 0xff, 0x7f],
  [0, 0, 0, 0],
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  [0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00],
];

/** The header region matters most (sizes, counts, offsets), so half the mutations land in the first 4 KB. */
function pickOffset(rng: Rng, n: number): number {
  return rng.next() < 0.5 ? rng.int(0, Math.min(n, 4096)) : rng.int(0, n);
}

export function mutate(src: Uint8Array, rng: Rng): Mutation {
  const kind = MUTATIONS[rng.int(0, MUTATIONS.length)];
  const n = src.length;
  const off = pickOffset(rng, n);
  switch (kind) {
    case "bitflip": {
      const b = src.slice();
      const flips = rng.int(1, 9);
      for (let i = 0; i < flips; i++) {
        const o = i === 0 ? off : pickOffset(rng, n);
        b[o] ^= 1 << rng.int(0, 8);
      }
      return { kind, offset: off, bytes: b };
    }
    case "truncate":
      return { kind, offset: off, bytes: src.slice(0, off) };
    case "extreme": {
      const b = src.slice();
      const e = EXTREMES[rng.int(0, EXTREMES.length)];
      for (let i = 0; i < e.length && off + i < n; i++) b[off + i] = e[i];
      return { kind, offset: off, bytes: b };
    }
    case "varint": {
      // A 10-byte varint of a huge value, as a length field edited past the end would be.
      const b = src.slice();
      const len = rng.int(1, 11);
      for (let i = 0; i < len && off + i < n; i++) b[off + i] = i < len - 1 ? 0xff : 0x01;
      return { kind, offset: off, bytes: b };
    }
    case "duplicate": {
      const len = rng.int(1, Math.min(256, n - off) + 1);
      const b = new Uint8Array(n + len);
      b.set(src.subarray(0, off + len));
      b.set(src.subarray(off), off + len);
      return { kind, offset: off, bytes: b };
    }
    case "delete": {
      const len = rng.int(1, Math.min(256, n - off) + 1);
      const b = new Uint8Array(n - len);
      b.set(src.subarray(0, off));
      b.set(src.subarray(off + len), off);
      return { kind, offset: off, bytes: b };
    }
  }
}
