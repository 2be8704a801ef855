/**
 * Runs one CLI command in this process and then reports the process's peak resident memory (VmHWM from
 * /proc/self/status) on stderr as `PEAK_RSS_KB=<n>`, for memory tests that run the CLI as a subprocess.
 */
import { main } from "../../compiler/cli.ts";

const code = await main(Deno.args);
let peak = "unknown";
try {
  peak = /VmHWM:\s*(\d+)\s*kB/.exec(Deno.readTextFileSync("/proc/self/status"))?.[1] ?? "unknown";
} catch {
  // Not Linux: no /proc.
}
console.error(`PEAK_RSS_KB=${peak}`);
Deno.exit(code);
