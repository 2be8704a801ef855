// The host side of a PoTAcc call (targets/potacc/program.ts): the command stream issued over acc_hw.h and
// the int32 accumulators gathered into the layer's m x n output. Each COMPUTE's mc x nc results come back
// over the four lanes, row r of the tile on lane r mod 4 (gemm_driver.h Store_Results reads dma_out0..3).
// The tile loops are generated data (PotCall: sizes, tile rows and columns, loop order); a stream that is
// not one of those loops is sent from a packet table instead (potacc_run_packets).
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "acc_config.h"
#include "acc_hw.h"

namespace lathe {
namespace potacc {

static_assert(acc_config::kFlagConfig == 0, "CONFIG's header comes first in a packet");

// Operand positions of a PoTAcc AccelCall (POT_OPERANDS in program.ts).
enum PotOperand { kOpInput = 0, kOpWeights = 1, kOpSums = 2 };

struct PotCall {
  const char* id;
  uint32_t m, n, mp, np, kp;
  uint32_t flags;  // the CONFIG flags word (signed activations, the method)
  uint32_t mt, nt;
  bool weights_outer;  // weight tiles in the outer loop (inputs reloaded under resident weights)
};

struct PayloadRun {
  uint32_t operand, offset, words;
};
struct Packet {
  uint32_t opcode, lane, header_at, header_len, payload_at, payload_len, recv;
  uint32_t m0, mc, n0, nc;  // the COMPUTE tile whose results `recv` words carry
};

namespace detail {

inline uint32_t lane_rows(uint32_t count, uint32_t lane) {
  return count > lane ? (count - lane + acc_config::kLanes - 1) / acc_config::kLanes : 0;
}

// Receives a COMPUTE tile lane by lane and keeps the rows and columns inside the m x n output.
inline void receive(uint32_t m, uint32_t n, uint32_t m0, uint32_t mc, uint32_t n0, uint32_t nc, int32_t* out,
                    std::vector<uint32_t>& buf) {
  const uint32_t cols = n0 >= n ? 0 : (nc < n - n0 ? nc : n - n0);
  for (uint32_t l = 0; l < static_cast<uint32_t>(acc_config::kLanes); l++) {
    const uint32_t rows = lane_rows(mc, l);
    if (!rows) continue;
    buf.resize(static_cast<size_t>(rows) * nc);
    acc::dma_recv(static_cast<int>(l), buf.data(), buf.size());
    for (uint32_t j = 0; j < rows; j++) {
      const uint32_t r = m0 + l + j * acc_config::kLanes;
      if (r >= m) break;
      std::memcpy(out + static_cast<size_t>(r) * n + n0, buf.data() + static_cast<size_t>(j) * nc, cols * 4);
    }
  }
}

}  // namespace detail

// Issues a PoTAcc call's tiled command stream and writes its m x n accumulators into `out`.
inline void potacc_gemm(const PotCall& c, const uint32_t* const ops[3], int32_t* out) {
  using namespace acc_config;
  const uint32_t lanes = kLanes, in_row = c.kp / 4, w_row = c.kp / kCodesPerWord;
  const size_t in_lane_words = static_cast<size_t>((c.mp + lanes - 1) / lanes) * in_row;
  const size_t w_lane_words = static_cast<size_t>((c.np + lanes - 1) / lanes) * w_row;
  std::vector<uint32_t> pkt, res;
  bool first = true;  // CONFIG rides on the first packet
  const auto begin = [&](uint32_t op) {
    pkt.clear();
    pkt.push_back(first ? (op | kConfig) : op);
    if (first) {
      const uint32_t cfg[7] = {c.m, c.n, in_row, c.flags, 0, 0, 0};
      pkt.insert(pkt.end(), cfg, cfg + 7);
      first = false;
    }
  };
  const auto header = [&](uint32_t a, uint32_t b, uint32_t d, uint32_t e) {
    const uint32_t h[4] = {a, b, d, e};
    pkt.insert(pkt.end(), h, h + 4);
  };
  const auto rows_packets = [&](uint32_t op, int operand, size_t lane_words, uint32_t row_words, uint32_t r0,
                                uint32_t count) {
    for (uint32_t l = 0; l < lanes; l++) {
      const uint32_t rows = detail::lane_rows(count, l);
      if (!rows) continue;
      begin(op);
      header(kKindRows, r0, count, l);
      const uint32_t* src = ops[operand] + l * lane_words + static_cast<size_t>(r0 / lanes) * row_words;
      pkt.insert(pkt.end(), src, src + static_cast<size_t>(rows) * row_words);
      acc::dma_send(static_cast<int>(l), pkt.data(), pkt.size());
    }
  };
  const auto load_weights = [&](uint32_t n0, uint32_t count) {
    rows_packets(kLoadWgt, kOpWeights, w_lane_words, w_row, n0, count);
    begin(kLoadWgt);
    header(kKindParams, n0, count, 0);
    pkt.insert(pkt.end(), ops[kOpSums] + n0, ops[kOpSums] + n0 + count);
    acc::dma_send(0, pkt.data(), pkt.size());
  };
  const auto load_inputs = [&](uint32_t m0, uint32_t count) {
    rows_packets(kLoadInp, kOpInput, in_lane_words, in_row, m0, count);
  };
  const auto compute = [&](uint32_t m0, uint32_t mc, uint32_t n0, uint32_t nc) {
    begin(kCompute);
    header(m0, mc, n0, nc);
    acc::dma_send(0, pkt.data(), pkt.size());
    detail::receive(c.m, c.n, m0, mc, n0, nc, out, res);
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

// Sends a stream packet by packet from a table (for streams that are not one of potacc_gemm's loops).
inline void potacc_run_packets(const char* id, uint32_t m, uint32_t n, const Packet* packets, size_t count,
                               const uint32_t* headers, const PayloadRun* runs, const uint32_t* const ops[3],
                               int32_t* out) {
  std::vector<uint32_t> pkt, res;
  for (size_t i = 0; i < count; i++) {
    const Packet& p = packets[i];
    pkt.assign(1, p.opcode);
    pkt.insert(pkt.end(), headers + p.header_at, headers + p.header_at + p.header_len);
    for (uint32_t j = 0; j < p.payload_len; j++) {
      const PayloadRun& r = runs[p.payload_at + j];
      if (r.operand > kOpSums || !ops[r.operand]) {
        std::fprintf(stderr, "PoTAcc %s: packet %zu reads absent operand %u\n", id, i, r.operand);
        std::exit(4);
      }
      pkt.insert(pkt.end(), ops[r.operand] + r.offset, ops[r.operand] + r.offset + r.words);
    }
    acc::dma_send(static_cast<int>(p.lane), pkt.data(), pkt.size());
    if (p.recv) detail::receive(m, n, p.m0, p.mc, p.n0, p.nc, out, res);
  }
}

}  // namespace potacc
}  // namespace lathe
