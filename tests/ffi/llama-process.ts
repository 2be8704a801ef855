/**
 * llama.cpp in a child process. libllama keeps process-wide state (its logger, the ggml backend registry,
 * static initializers that must not run twice), which test files running side by side in one process
 * would share and tear down under each other; a child per request keeps every llama.cpp call apart.
 * The child (this file run as a script) answers one JSON request on stdin with one JSON line on stdout;
 * float arrays travel as base64 of their little-endian bytes.
 */
import { type Llama, type LlamaRunOptions, loadLlama } from "./llama.ts";

type Request =
  | { kind: "probe" }
  | { kind: "loads"; path: string }
  | { kind: "logits"; path: string; tokens: number[]; opts?: LlamaRunOptions }
  | { kind: "trace"; path: string; tokens: number[]; names: string[]; opts?: LlamaRunOptions };

function b64(a: Float32Array): string {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return btoa(s);
}
const unb64 = (s: string) => {
  const bin = atob(s);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Float32Array(bytes.buffer);
};

function answer(l: Llama, r: Request): unknown {
  switch (r.kind) {
    case "probe":
      return { dir: l.dir };
    case "loads":
      return { loads: l.loads(r.path) };
    case "logits": {
      const { vocab, logits } = l.logits(r.path, r.tokens, r.opts);
      return { vocab, logits: b64(logits) };
    }
    case "trace": {
      const t = l.trace(r.path, r.tokens, r.opts);
      return Object.fromEntries(
        r.names.map((n) => [n, (t.get(n) ?? []).map((x) => ({ ne: x.ne, data: b64(x.data) }))]),
      );
    }
  }
}

if (import.meta.main) {
  const req = JSON.parse(
    new TextDecoder().decode(await new Response(Deno.stdin.readable).arrayBuffer()),
  ) as Request;
  const l = loadLlama();
  const out = typeof l === "string" ? { unavailable: l } : (() => {
    try {
      return { ok: answer(l, req) };
    } catch (e) {
      return { error: e instanceof Error ? e.message : String(e) };
    }
  })();
  console.log(JSON.stringify(out));
  Deno.exit(0);
}

async function ask(req: Request): Promise<any> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", new URL(import.meta.url).pathname],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(req)));
  await w.close();
  const r = await child.output();
  const line = new TextDecoder().decode(r.stdout).trim().split("\n").pop() ?? "";
  if (!line) throw new Error(`llama.cpp child exited with code ${r.code} and no answer`);
  const msg = JSON.parse(line);
  if (msg.error) throw new Error(`llama.cpp child: ${msg.error}`);
  return msg;
}

/** The subset of the binding the tests use, each call in a fresh child process. */
export interface LlamaRemote {
  logits(
    path: string,
    tokens: readonly number[],
    opts?: LlamaRunOptions,
  ): Promise<{ vocab: number; logits: Float32Array }>;
  loads(path: string): Promise<boolean>;
  /** The named tensors llama.cpp computed (every occurrence, in order). */
  trace(
    path: string,
    tokens: readonly number[],
    names: string[],
    opts?: LlamaRunOptions,
  ): Promise<Map<string, Float32Array[]>>;
}

/** A remote binding, or why llama.cpp cannot be loaded (asked of a child once). */
export async function llamaRemote(): Promise<LlamaRemote | string> {
  const probe = await ask({ kind: "probe" }).catch((e) => ({ unavailable: (e as Error).message }));
  if (probe.unavailable) return probe.unavailable as string;
  return {
    async logits(path, tokens, opts) {
      const r = (await ask({ kind: "logits", path, tokens: [...tokens], opts })).ok;
      return { vocab: r.vocab, logits: unb64(r.logits) };
    },
    async loads(path) {
      return (await ask({ kind: "loads", path })).ok.loads;
    },
    async trace(path, tokens, names, opts) {
      const r = (await ask({ kind: "trace", path, tokens: [...tokens], names, opts })).ok;
      return new Map(names.map((n) => [n, (r[n] as { data: string }[]).map((x) => unb64(x.data))]));
    },
  };
}
