/**
 * simulateTopology over the shipped topologies (ResNet-18: 21 layers; MobileNetV2: 53 layers, 17 of them
 * depthwise DP rows), each dataflow at 16x16 and 8x8 with 64 kB and 4 kB buffers (the small buffers take
 * the DRAM estimate's per-slice footprint paths). SCALE-Sim v2 itself, the peer, is Python and needs
 * seconds to minutes per layer; it cannot run inside `deno bench`, so its timings are quoted in the
 * notes of targets/systolic/topologies/README.md rather than measured here.
 */
import { simulateTopology } from "../compiler/simulate.ts";

const dir = new URL("../targets/systolic/topologies/", import.meta.url);
const resnet = Deno.readTextFileSync(new URL("resnet18.csv", dir));
const mobilenet = Deno.readTextFileSync(new URL("mobilenet_v2.csv", dir));

for (const [name, text] of [["resnet18", resnet], ["mobilenet_v2", mobilenet]] as const) {
  for (const df of ["os", "ws", "is"]) {
    Deno.bench(`${name} sa:16x16:${df} 64 kB`, { group: `${name} 64kB`, baseline: df === "os" }, async () => {
      await simulateTopology({ topologyText: text, array: "16x16", dataflow: df });
    });
    Deno.bench(`${name} sa:8x8:${df} 4 kB`, { group: `${name} 4kB`, baseline: df === "os" }, async () => {
      await simulateTopology({ topologyText: text, array: "8x8", dataflow: df, sram: "4,4,4" });
    });
  }
}
