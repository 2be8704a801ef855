// The host side of a SECDA GEMM call (accelerators.md §1.0, "tiling lives in the driver"): the command
// stream of targets/secda/gemm-program.ts issued over acc_hw.h, and the results unpacked into the layer's
// output. The tile loops are generated data (GemmCall: sizes, tile rows and weight rows, loop order); a
// stream that is not one of those loops is sent from a packet table instead (secda_run_packets).
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "acc_config.h"
#include "acc_hw.h"

namespace lathe {

static_assert(acc_config::kFlagConfig == 0, "CONFIG's header comes first in a packet");

// Operand positions of a GEMM AccelCall (GEMM_OPERANDS in gemm-program.ts).
enum GemmOperand { kOpInput = 0, kOpWeights = 1, kOpBias = 2, kOpMultiplier = 3, kOpShift = 4, kOpSums = 5 };

struct GemmCall {
  const char* id;
  uint32_t m, n, k, mp, np, kp;
  uint32_t flags;  // the CONFIG flags word
  int32_t zp_out, act_min, act_max;
  uint32_t mt, nt;     // input rows and weight rows per tile
  bool weights_outer;  // weight tiles in the outer loop (inputs reloaded under resident weights)
};

// One packet of a table-driven stream: header words and payload runs are slices of shared arrays.
struct PayloadRun {
  uint32_t operand, offset, words;
};
struct Packet {
  uint32_t opcode, lane, header_at, header_len, payload_at, payload_len, recv;
  uint32_t m0, mc, n0, nc;  // the COMPUTE tile whose results `recv` words carry
};

namespace gemm_detail {

inline uint32_t lane_rows(uint32_t count, uint32_t lane) {
  return count > lane ? (count - lane + acc_config::kLanes - 1) / acc_config::kLanes : 0;
}

// The tile's results (row-major mc x nc, 8-bit codes four to a word or int32) into the m x n output.
template <typename TOut>
void unpack(const std::vector<uint32_t>& r, bool ppu, uint32_t m, uint32_t n, uint32_t m0, uint32_t mc,
            uint32_t n0, uint32_t nc, TOut* out) {
  const uint32_t rows = m0 >= m ? 0 : (mc < m - m0 ? mc : m - m0);
  const uint32_t cols = n0 >= n ? 0 : (nc < n - n0 ? nc : n - n0);
  if (ppu) {
    const uint8_t* codes = reinterpret_cast<const uint8_t*>(r.data());
    for (uint32_t i = 0; i < rows; i++) {
      std::memcpy(out + static_cast<size_t>(m0 + i) * n + n0, codes + static_cast<size_t>(i) * nc, cols);
    }
  } else {
    const int32_t* v = reinterpret_cast<const int32_t*>(r.data());
    for (uint32_t i = 0; i < rows; i++) {
      std::memcpy(out + static_cast<size_t>(m0 + i) * n + n0, v + static_cast<size_t>(i) * nc, cols * 4);
    }
  }
}

}  // namespace gemm_detail

// Issues a GEMM call's tiled command stream and writes its m x n results into `out`.
template <typename TOut>
void secda_gemm(const GemmCall& c, const uint32_t* const ops[6], TOut* out) {
  using namespace acc_config;
  static_assert(sizeof(TOut) == 1 || sizeof(TOut) == 4, "8-bit codes or int32 results");
  const bool ppu = (c.flags & kCfgPpu) != 0, sums = (c.flags & kCfgSums) != 0;
  if (sizeof(TOut) != (ppu ? 1 : 4)) {
    std::fprintf(stderr, "GEMM %s: the output type does not match the PPU setting\n", c.id);
    std::exit(4);
  }
  const uint32_t lanes = kLanes, kw = c.kp / 4;
  const size_t in_lane_words = static_cast<size_t>((c.mp + lanes - 1) / lanes) * kw;
  const size_t w_lane_words = static_cast<size_t>((c.np + lanes - 1) / lanes) * kw;
  std::vector<uint32_t> pkt, res;
  bool first = true;  // CONFIG rides on the first packet
  const auto begin = [&](uint32_t op) {
    pkt.clear();
    pkt.push_back(first ? (op | kConfig) : op);
    if (first) {
      const uint32_t cfg[7] = {c.m, c.n, kw, c.flags, static_cast<uint32_t>(c.zp_out),
                               static_cast<uint32_t>(c.act_min), static_cast<uint32_t>(c.act_max)};
      pkt.insert(pkt.end(), cfg, cfg + 7);
      first = false;
    }
  };
  const auto header = [&](uint32_t a, uint32_t b, uint32_t d, uint32_t e) {
    const uint32_t h[4] = {a, b, d, e};
    pkt.insert(pkt.end(), h, h + 4);
  };
  const auto payload = [&](const uint32_t* src, size_t words) { pkt.insert(pkt.end(), src, src + words); };
  const auto rows_packets = [&](uint32_t op, int operand, size_t lane_words, uint32_t r0, uint32_t count) {
    for (uint32_t l = 0; l < lanes; l++) {
      const uint32_t rows = gemm_detail::lane_rows(count, l);
      if (!rows) continue;
      begin(op);
      header(kKindRows, r0, count, l);
      payload(ops[operand] + l * lane_words + static_cast<size_t>(r0 / lanes) * kw, static_cast<size_t>(rows) * kw);
      acc::dma_send(static_cast<int>(l), pkt.data(), pkt.size());
    }
  };
  const auto load_weights = [&](uint32_t n0, uint32_t count) {
    rows_packets(kLoadWgt, kOpWeights, w_lane_words, n0, count);
    begin(kLoadWgt);
    header(kKindParams, n0, count, 0);
    payload(ops[kOpBias] + n0, count);
    if (ppu) {
      payload(ops[kOpMultiplier] + n0, count);
      payload(ops[kOpShift] + n0, count);
    }
    acc::dma_send(0, pkt.data(), pkt.size());
  };
  const auto load_inputs = [&](uint32_t m0, uint32_t count) {
    rows_packets(kLoadInp, kOpInput, in_lane_words, m0, count);
    if (!sums) return;
    begin(kLoadInp);
    header(kKindSums, m0, count, 0);
    payload(ops[kOpSums] + m0, count);
    acc::dma_send(0, pkt.data(), pkt.size());
  };
  const auto compute = [&](uint32_t m0, uint32_t mc, uint32_t n0, uint32_t nc) {
    begin(kCompute);
    header(m0, mc, n0, nc);
    acc::dma_send(0, pkt.data(), pkt.size());
    res.resize(ppu ? (static_cast<size_t>(mc) * nc + 3) / 4 : static_cast<size_t>(mc) * nc);
    acc::dma_recv(0, res.data(), res.size());
    gemm_detail::unpack(res, ppu, c.m, c.n, m0, mc, n0, nc, out);
  };
  const auto tile = [](uint32_t s, uint32_t step, uint32_t total) { return step < total - s ? step : total - s; };
  const uint32_t m_tiles = (c.mp + c.mt - 1) / c.mt, n_tiles = (c.np + c.nt - 1) / c.nt;
  if (!c.weights_outer) {
    if (n_tiles == 1) load_weights(0, c.np);
    for (uint32_t m0 = 0; m0 < c.mp; m0 += c.mt) {
      load_inputs(m0, tile(m0, c.mt, c.mp));
      for (uint32_t n0 = 0; n0 < c.np; n0 += c.nt) {
        if (n_tiles > 1) load_weights(n0, tile(n0, c.nt, c.np));
        compute(m0, tile(m0, c.mt, c.mp), n0, tile(n0, c.nt, c.np));
      }
    }
  } else {
    if (m_tiles == 1) load_inputs(0, c.mp);
    for (uint32_t n0 = 0; n0 < c.np; n0 += c.nt) {
      load_weights(n0, tile(n0, c.nt, c.np));
      for (uint32_t m0 = 0; m0 < c.mp; m0 += c.mt) {
        if (m_tiles > 1) load_inputs(m0, tile(m0, c.mt, c.mp));
        compute(m0, tile(m0, c.mt, c.mp), n0, tile(n0, c.nt, c.np));
      }
    }
  }
}

// Sends a stream packet by packet from a table (for streams that are not one of secda_gemm's loops).
template <typename TOut>
void secda_run_packets(const char* id, uint32_t m, uint32_t n, bool ppu, const Packet* packets, size_t count,
                       const uint32_t* headers, const PayloadRun* runs, const uint32_t* const ops[6], TOut* out) {
  std::vector<uint32_t> pkt, res;
  for (size_t i = 0; i < count; i++) {
    const Packet& p = packets[i];
    pkt.assign(1, p.opcode);
    pkt.insert(pkt.end(), headers + p.header_at, headers + p.header_at + p.header_len);
    for (uint32_t j = 0; j < p.payload_len; j++) {
      const PayloadRun& r = runs[p.payload_at + j];
      if (!ops[r.operand]) {
        std::fprintf(stderr, "GEMM %s: packet %zu reads absent operand %u\n", id, i, r.operand);
        std::exit(4);
      }
      pkt.insert(pkt.end(), ops[r.operand] + r.offset, ops[r.operand] + r.offset + r.words);
    }
    acc::dma_send(static_cast<int>(p.lane), pkt.data(), pkt.size());
    if (p.recv) {
      res.resize(p.recv);
      acc::dma_recv(static_cast<int>(p.lane), res.data(), res.size());
      gemm_detail::unpack(res, ppu, m, n, p.m0, p.mc, p.n0, p.nc, out);
    }
  }
}

}  // namespace lathe
