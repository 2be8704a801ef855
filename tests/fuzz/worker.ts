/// <reference lib="deno.worker" />
/**
 * Runs fuzz cases in a worker so the parent can detect a hang (no heartbeat) and memory growth, and end it.
 * Each case imports a mutated file and, when that succeeds, verifies the graph; anything thrown that is not
 * a LatheError is a finding.
 */
import { LatheError } from "../../ir/errors.ts";
import { verifyGraph } from "../../ir/verify.ts";
import { importModelBytes } from "../../compiler/load-model.ts";
import "../../compiler/formats.ts";
import { Rng } from "../../runtime/random.ts";
import { mutate } from "./mutate.ts";

export interface FuzzJob {
  files: string[];
  count: number;
  seed: number;
  start: number;
}

self.onmessage = async (e: MessageEvent<FuzzJob>) => {
  const { files, count, seed, start } = e.data;
  const sources = files.map((f) => ({ path: f, bytes: Deno.readFileSync(f) }));
  for (let i = start; i < count; i++) {
    const rng = new Rng(seed * 1_000_003 + i);
    const src = sources[i % sources.length];
    const m = mutate(src.bytes, rng);
    self.postMessage({ type: "start", i, file: src.path, kind: m.kind, offset: m.offset });
    let outcome = "ok";
    let detail = "";
    try {
      const model = await importModelBytes(m.bytes, src.path);
      verifyGraph(model.graph);
    } catch (err) {
      if (err instanceof LatheError) outcome = "rejected";
      else {
        outcome = "foreign";
        detail = (err as Error)?.stack ?? String(err);
      }
    }
    self.postMessage({ type: "done", i, outcome, detail, rss: Deno.memoryUsage().rss });
  }
  self.postMessage({ type: "finished" });
};
