import { mutateModel } from "../../compiler/mutate/mutate.ts";
const r = await mutateModel({ model: Deno.args[0] || undefined, out: Deno.args[1], count: Number(Deno.args[2] ?? 1), seed: 0, progress: (l) => console.error(l) });
console.log(r.ms, r.manifest.skipped);
