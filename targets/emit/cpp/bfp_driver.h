// The host side of a BFP MatMul call (bfpp_acc v3 driver/acc_driver.h `MM`, acc_driver_mt.h): the command
// stream of targets/bfp/program.ts issued over acc_hw.h. One LOAD_INP|CONFIG packet on lane 0 with the
// call's shape, its variant and all N*kb Q8_K activation super-blocks; then per M-tile of up to tile_m weight
// rows a LOAD_WGT packet on lane 0 (the tile's size, block words and each lane's word count, then lane 0's
// blocks), lanes 1..3's blocks as data-only transfers, and a COMPUTE packet whose mstep*N f32 results come
// back on lane 0, activation row by activation row, into Y [N, M]. The weights are the preloaded DMA region
// compile packed (targets/bfp/lower.ts packWeightLanes): per lane, each tile's blocks back to back.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

#include "acc_config.h"
#include "acc_hw.h"

namespace lathe {

struct BfpCall {
  const char* id;
  uint32_t m, n, kb;  // weight rows, activation rows, super-blocks per row
  uint32_t variant;   // wgt_type 2..6
  uint32_t tile_m;    // weight rows per M-tile
  uint32_t lane_words;
};

// Blocks lane `lane` carries of a tile of `count` blocks dealt round-robin from lane 0.
inline uint32_t bfp_lane_blocks(uint32_t count, uint32_t lane) {
  return count > lane ? (count - lane + acc_config::kLanes - 1) / acc_config::kLanes : 0;
}

inline void bfp_matmul(const BfpCall& c, const uint32_t* act, const uint32_t* weights, float* y) {
  using namespace acc_config;
  static_assert(kFlagOrder[kFlagLoadWgt].header_words == 2 + kLanes, "LOAD_WGT carries one size per lane");
  uint32_t bw = 0;
  for (int i = 0; i < kVariantCount; i++) {
    if (kVariants[i].wgt_type == c.variant) bw = kVariants[i].block_words;
  }
  const uint32_t knb = c.n * c.kb;
  std::vector<uint32_t> pkt = {kConfig | kLoadInp, c.kb, c.m, c.n, c.variant, knb};
  pkt.insert(pkt.end(), act, act + static_cast<size_t>(knb) * kQ8kWords);
  acc::dma_send(0, pkt.data(), pkt.size());
  size_t at[kLanes] = {};
  std::vector<uint32_t> res;
  for (uint32_t m0 = 0; m0 < c.m; m0 += c.tile_m) {
    const uint32_t mstep = c.m - m0 < c.tile_m ? c.m - m0 : c.tile_m, kmb = mstep * c.kb;
    uint32_t sizes[kLanes];
    for (int l = 0; l < kLanes; l++) sizes[l] = bfp_lane_blocks(kmb, l) * bw;
    pkt = {kLoadWgt, kmb, bw};
    pkt.insert(pkt.end(), sizes, sizes + kLanes);
    pkt.insert(pkt.end(), weights + at[0], weights + at[0] + sizes[0]);
    acc::dma_send(0, pkt.data(), pkt.size());
    for (int l = 1; l < kLanes; l++) {
      if (sizes[l]) acc::dma_send(l, weights + static_cast<size_t>(l) * c.lane_words + at[l], sizes[l]);
    }
    pkt = {kCompute, kmb, knb, mstep, c.n};
    acc::dma_send(0, pkt.data(), pkt.size());
    res.resize(static_cast<size_t>(mstep) * c.n);
    acc::dma_recv(0, res.data(), res.size());
    for (uint32_t r = 0; r < c.n; r++) {
      std::memcpy(y + static_cast<size_t>(r) * c.m + m0, res.data() + static_cast<size_t>(r) * mstep, mstep * 4);
    }
    for (int l = 0; l < kLanes; l++) at[l] += sizes[l];
  }
}

}  // namespace lathe
