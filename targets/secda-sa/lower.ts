/**
 * SA tiling: as many input rows as IN_BUF holds (and the sum buffer), as many weight rows as WE_BUF holds.
 */
import { capacityTiles, type GemmDesign } from "../secda/gemm-program.ts";
import { SECDA_SA } from "./descriptor.ts";
import { saComputeCycles, saComputeSramReads } from "./timing.ts";

const B = SECDA_SA.buffers;

export const SA_DESIGN: GemmDesign = {
  params: SECDA_SA,
  inputWords: B.input.words * B.input.banks,
  weightWords: B.weight.words * B.weight.banks,
  sumsRows: B.sums.words * B.sums.banks,
  paramRows: B.sums.words * B.sums.banks,
  tiles(d) {
    return capacityTiles(d, {
      inputWords: this.inputWords,
      weightWords: this.weightWords,
      sumsRows: this.sumsRows,
      paramRows: this.paramRows,
      inputLabel: B.input.doc,
      weightLabel: B.weight.doc,
    });
  },
  computeCycles: saComputeCycles,
  computeSramReads: saComputeSramReads,
};
