/** Dead code elimination as a pass (the engine also runs it after every rewrite). */
import { graphPass, registerPass } from "./pass-manager.ts";
import { deadCodeElimination } from "./rewrite.ts";

export const dce = registerPass(
  graphPass(
    "dce",
    "remove nodes whose outputs nothing uses, and unused constants",
    (g) => deadCodeElimination(g),
  ),
);
