/**
 * The driver's fixed C++ sources (targets/emit/cpp/): the hardware interface and its two implementations,
 * the GEMM driver, the runtime (arena, constants, .npy) and the kernel headers. A driver gets the files its
 * steps include and what those include in turn (found from their `#include "…"` lines), byte for byte.
 */
import { LatheError } from "../../ir/errors.ts";

const ROOT = new URL("./cpp/", import.meta.url);
const cache = new Map<string, string>();

export function cppSource(path: string): string {
  let s = cache.get(path);
  if (s === undefined) {
    try {
      s = Deno.readTextFileSync(new URL(path, ROOT));
    } catch (e) {
      throw new LatheError("io", `cannot read the driver source ${path}: ${(e as Error).message}`);
    }
    cache.set(path, s);
  }
  return s;
}

function normalize(dir: string, rel: string): string {
  const parts = (dir ? dir.split("/") : []).concat(rel.split("/"));
  const out: string[] = [];
  for (const p of parts) {
    if (p === "..") out.pop();
    else if (p !== "." && p !== "") out.push(p);
  }
  return out.join("/");
}

/**
 * The given sources and every library file they include, transitively, sorted. Includes of generated
 * files (`generated`) are not looked up in the library.
 */
export function withIncludes(roots: readonly string[], generated: ReadonlySet<string>): string[] {
  const seen = new Set<string>();
  const visit = (path: string) => {
    if (seen.has(path) || generated.has(path)) return;
    seen.add(path);
    const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
    for (const m of cppSource(path).matchAll(/^#include "([^"]+)"/gm)) visit(normalize(dir, m[1]));
  };
  for (const r of roots) visit(r);
  return [...seen].sort();
}
