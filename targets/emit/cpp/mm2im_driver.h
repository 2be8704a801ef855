// The host side of an MM2IM call (accelerators.md §1.6; TileMM2IM in the v12 delegate's mm2im_driver.h):
// the command stream of targets/mm2im/program.ts issued over acc_hw.h. LoadConfig once; per group of up to
// kPeCount filters a LoadWeight of the group's KS·KS weight columns (each with its sum), bias, multipliers
// and shifts; per image a StartSchedule, then per output row the input pixels up to the last one the row
// needs (with their col2IM map rows) and StoreOutTileRow, whose ow·filters results (one sign-extended code
// a word, output position outer, filter inner) and kStoreTrailerWords trailing words come back and are
// written into the NHWC output. Which pixels a row needs is read from the map the host computed
// (lathe.Col2ImMap), as the delegate derives its row ends from its col2im mapping.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "acc_config.h"
#include "acc_hw.h"

namespace lathe {

// Operand positions of an MM2IM AccelCall (MM2IM_OPERANDS in targets/mm2im/program.ts).
enum Mm2imOperand { kMmInput = 0, kMmMap = 1, kMmWeights = 2, kMmBias = 3, kMmMultiplier = 4, kMmShift = 5 };

struct Mm2imCall {
  const char* id;
  uint32_t batch, ih, iw, oh, ow, ks, sh, sw, pt, pl;
  uint32_t depth, kp;  // the input depth and its padding to kUf
  uint32_t filters;
  int32_t out_zero;
};

// Issues an MM2IM call's command stream and writes its batch x oh x ow x filters int8 results into `out`.
inline void mm2im_call(const Mm2imCall& c, const uint32_t* const ops[6], int8_t* out) {
  using namespace acc_config;
  for (int i = 0; i < 6; i++) {
    if (!ops[i]) {
      std::fprintf(stderr, "MM2IM %s: operand %d is absent\n", c.id, i);
      std::exit(4);
    }
  }
  const uint32_t pixels = c.ih * c.iw, taps = c.ks * c.ks, row_words = c.kp / 4, steps = c.kp / kUf;
  const size_t plane = static_cast<size_t>(c.oh) * c.ow;
  const int32_t* map = reinterpret_cast<const int32_t*>(ops[kMmMap]);
  // For each output row, the last input pixel (row-major) that lands in it, made non-decreasing.
  std::vector<int64_t> ends(c.oh, -1);
  for (uint32_t p = 0; p < pixels; p++) {
    for (uint32_t t = 0; t < taps; t++) {
      const int32_t o = map[static_cast<size_t>(p) * taps + t];
      if (o < 0) continue;
      if (static_cast<size_t>(o) >= plane) {
        std::fprintf(stderr, "MM2IM %s: map entry %d is outside the %ux%u output\n", c.id, o, c.oh, c.ow);
        std::exit(4);
      }
      int64_t& e = ends[static_cast<uint32_t>(o) / c.ow];
      if (p > e) e = p;
    }
  }
  for (uint32_t oy = 1; oy < c.oh; oy++) {
    if (ends[oy] < ends[oy - 1]) ends[oy] = ends[oy - 1];
  }
  std::vector<uint32_t> pkt, res;
  const auto send = [&]() { acc::dma_send(0, pkt.data(), pkt.size()); };
  const auto words = [&](const uint32_t* src, size_t n) { pkt.insert(pkt.end(), src, src + n); };
  pkt = {kLoadCon, steps, c.ow, taps, pixels, static_cast<uint32_t>(c.out_zero), c.oh, c.ow, c.ks, c.sh, c.sw, c.pt,
         c.pl, c.iw};
  send();
  for (uint32_t o3 = 0; o3 < c.filters; o3 += kPeCount) {
    const uint32_t fs = c.filters - o3 < kPeCount ? c.filters - o3 : kPeCount;
    pkt = {kLoadWgt, fs * taps, steps, fs};
    words(ops[kMmWeights] + static_cast<size_t>(o3) * taps * (row_words + 1),
          static_cast<size_t>(fs) * taps * (row_words + 1));
    words(ops[kMmBias] + o3, fs);
    words(ops[kMmMultiplier] + o3, fs);
    words(ops[kMmShift] + o3 / 4, (fs + 3) / 4);
    send();
    for (uint32_t n = 0; n < c.batch; n++) {
      pkt = {kSchedule};
      send();
      int64_t next = 0;
      for (uint32_t oy = 0; oy < c.oh; oy++) {
        const int64_t end = ends[oy];
        if (end >= next) {
          const uint32_t rows = static_cast<uint32_t>(end + 1 - next), from = static_cast<uint32_t>(next);
          const uint32_t first = n * pixels + from;
          pkt = {kLoadInp | kLoadMap | kSchedule, rows, steps, first, from, rows};
          words(ops[kMmInput] + static_cast<size_t>(first) * row_words, static_cast<size_t>(rows) * row_words);
          words(ops[kMmMap] + static_cast<size_t>(from) * taps, static_cast<size_t>(rows) * taps);
          send();
          next = end + 1;
        }
        const bool last = oy + 1 == c.oh;
        pkt = {kStore | (last ? 0u : kSchedule), oy * c.ow, c.ow};
        send();
        res.resize(static_cast<size_t>(c.ow) * fs + kStoreTrailerWords);
        acc::dma_recv(0, res.data(), res.size());
        for (uint32_t ox = 0; ox < c.ow; ox++) {
          int8_t* dst = out + ((static_cast<size_t>(n) * c.oh + oy) * c.ow + ox) * c.filters + o3;
          for (uint32_t f = 0; f < fs; f++) dst[f] = static_cast<int8_t>(res[static_cast<size_t>(ox) * fs + f]);
        }
      }
    }
  }
}

}  // namespace lathe
