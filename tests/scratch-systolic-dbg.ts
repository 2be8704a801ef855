import { parseTopology } from "../targets/systolic/topology.ts";
import { pixelRunFootprints, ifmapFootprint } from "../targets/systolic/compute.ts";
import { activeWords } from "../targets/systolic/array.ts";
const ls = parseTopology(await Deno.readTextFile("/tmp/scalesim/sel.csv"));
for (const l of ls) console.log(l.name, ifmapFootprint(l), pixelRunFootprints(l, 16), activeWords(4, 1));
