/**
 * VM tiling: input rows up to the global input buffer (and the 512-entry sum buffer), weight rows up to the
 * four units' weight buffers together (and the 512-entry crf/crx buffer).
 */
import { capacityTiles, type GemmDesign } from "../secda/gemm-program.ts";
import { SECDA_VM } from "./descriptor.ts";
import { VM_UNITS, vmComputeCycles, vmComputeSramReads } from "./timing.ts";

const B = SECDA_VM.buffers;

export const VM_DESIGN: GemmDesign = {
  params: SECDA_VM,
  inputWords: B.globalInput.words * B.globalInput.banks,
  weightWords: B.unitWeight.words * B.unitWeight.banks * VM_UNITS,
  sumsRows: B.sums.words,
  paramRows: B.requant.words,
  tiles(d) {
    return capacityTiles(d, {
      inputWords: this.inputWords,
      weightWords: this.weightWords,
      sumsRows: this.sumsRows,
      paramRows: this.paramRows,
      inputLabel: B.globalInput.doc,
      weightLabel: `${VM_UNITS} units × ${B.unitWeight.doc}`,
    });
  },
  computeCycles: vmComputeCycles,
  computeSramReads: vmComputeSramReads,
};
