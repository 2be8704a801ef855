import { compileModel } from "../../compiler/compile.ts";
const r = await compileModel({ target: Deno.args[0] ?? "secda-sa", out: "/tmp/emitwork/compiled", log: (t) => console.log(t), model: Deno.args[1] });
console.log(r.driver && "dir" in r.driver ? r.driver.files : r.driver);
