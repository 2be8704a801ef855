// A host-side model of the PoTAcc shift-PE accelerator behind acc_hw.h (accelerators.md §1.5, §4.1; "one
// driver, two targets"): it interprets each packet exactly as Lathe's functional model does (targets/potacc/
// functional.ts). CONFIG names the layer's sizes and its PoT method (flags bits 4-5), which must be the
// bitstream's when acc_config.h fixes one; LOAD_INP copies signed 8-bit input rows into the global input
// banks; LOAD_WGT unpacks weight rows of 4-bit codes (8 to a word, low nibble first) into the units' weight
// buffers, or a run of column sums into the sum buffers; COMPUTE runs the shift PEs over the resident tile:
// each product is the activation shifted by the code's terms, each term held in its register width, the sum
// held in the method's product width, added or subtracted by the code's sign bit into a wrapping 32-bit
// accumulator, and the column sum added. The whole mc x nc tile of int32 accumulators goes back with row r
// on lane r mod 4 (gemm_driver.h Store_Results), padded rows and columns included.
//
// A stream that computes on rows it never loaded, overflows a buffer, or was built for another bitstream's
// method is refused with the packet's index in its call (CONFIG is packet 0). With LATHE_ACC_TRACE=<file>
// every packet's lane, opcode, header and payload length, and every receive, is logged for comparison with
// the compiler's Program.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "acc_config.h"
#include "acc_hw.h"
#include "acc_trace.h"

namespace acc {

namespace {

using namespace acc_config;

struct Tile {
  int64_t r0 = -1;
  uint32_t count = 0;
  uint32_t rows = 0;
  bool params = false;
};

struct Config {
  uint32_t m = 0, n = 0, in_row = 0, kp = 0;
  const ShiftDecode* decode = nullptr;
  uint32_t max_mt = 0, max_nt = 0;
};

struct Model {
  std::vector<int8_t> ibuf;
  std::vector<uint8_t> wcodes;
  std::vector<int32_t> sums;
  // What the shift PE makes of each (code, activation) pair, for the configured method: the tile loop
  // reads the PE's output instead of recomputing the shifts for every product.
  int32_t product[16][256];
  bool have_cfg = false;
  Config cfg;
  Tile in, wt;
  uint64_t call_packet = 0;  // the packet's index in its call (CONFIG is 0)
  std::vector<std::vector<uint32_t>> rx;
  std::vector<size_t> rx_head;
  Stats stats{};
  PacketTrace trace;
};

Model* model = nullptr;

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "potacc_sim: %s, packet %llu: %s\n", kTarget,
               static_cast<unsigned long long>(model->call_packet), why.c_str());
  std::exit(3);
}

uint32_t lane_rows(uint32_t count, uint32_t lane) {
  return count > lane ? (count - lane + kLanes - 1) / kLanes : 0;
}

void view(Tile& t, uint32_t r0, uint32_t count) {
  if (t.r0 != r0 || t.count != count) {
    t.r0 = r0;
    t.count = count;
    t.rows = 0;
    t.params = false;
  }
}

const uint32_t* take(const uint32_t*& p, size_t& left, size_t words, const std::string& what) {
  if (words > left) {
    fail(what + " needs " + std::to_string(words) + " payload words, the packet has " + std::to_string(left));
  }
  const uint32_t* at = p;
  p += words;
  left -= words;
  return at;
}

// v held in a register of 32 - w bits, sign-extended (two's complement wraps as the hardware's do).
int32_t wrap(int32_t v, int32_t w) { return static_cast<int32_t>(static_cast<uint32_t>(v) << w) >> w; }

int32_t shl(int32_t v, int32_t s) { return static_cast<int32_t>(static_cast<uint32_t>(v) << s); }

// The shift PE (vm_gemm.sc.h mul_lut) for every code and every signed 8-bit activation.
void decode_products(const ShiftDecode& d) {
  for (int c = 0; c < 16; c++) {
    for (int x = -128; x < 128; x++) {
      const int32_t t1 = wrap(shl(x, d.s1[c]), d.w1) & d.m1[c];
      const int32_t t2 = wrap(shl(x, d.s2[c]), d.w2) & d.m2[c];
      model->product[c][x + 128] = d.sign[c] * wrap(t1 + t2, d.wp);
    }
  }
}

void configure(const uint32_t* h) {
  const uint32_t m = h[0], n = h[1], in_row = h[2], flags = h[3];
  const uint32_t code = (flags >> kMethodShift) & kMethodMask;
  const ShiftDecode* d = nullptr;
  for (const ShiftDecode& e : kDecodes) {
    if (e.code == code) d = &e;
  }
  if (!d) fail("CONFIG flags 0x" + [&] {
    char b[16];
    std::snprintf(b, sizeof b, "%x", flags);
    return std::string(b);
  }() + " name no PoT method");
  if (kOnlyMethod && code != kOnlyMethod) {
    const char* built = "?";
    for (const ShiftDecode& e : kDecodes) {
      if (e.code == kOnlyMethod) built = e.label;
    }
    fail(std::string("the stream is for the ") + d->label + " PE; this bitstream is " + built);
  }
  if (!(flags & kCfgXSigned)) fail("the shift PE reads signed activations (CFG_X_SIGNED)");
  if (in_row == 0) fail("CONFIG gives rows of 0 words");
  Config& c = model->cfg;
  c.m = m;
  c.n = n;
  c.in_row = in_row;
  c.kp = in_row * 4;
  c.max_mt = kGinpBufLen / in_row * 4;
  const uint64_t nt = uint64_t{kWgtBufLen / in_row} * kBlockWidth * kUnits;
  c.max_nt = nt < kParamColumns ? static_cast<uint32_t>(nt) : kParamColumns;
  if (c.decode != d) decode_products(*d);
  c.decode = d;
  model->have_cfg = true;
  // CONFIG opens a call: nothing loaded before it counts as resident.
  model->in = Tile{};
  model->wt = Tile{};
}

void load_weights(const uint32_t* h, const uint32_t*& p, size_t& left) {
  const Config& c = model->cfg;
  const uint32_t kind = h[0], r0 = h[1], count = h[2], lane = h[3];
  view(model->wt, r0, count);
  if (kind == kKindRows) {
    if (count > c.max_nt) {
      fail(std::to_string(count) + " weight rows of " + std::to_string(c.kp) +
           " codes exceed the units' weight buffers");
    }
    if (lane >= static_cast<uint32_t>(kLanes)) fail("weight rows for lane " + std::to_string(lane));
    const size_t kp = c.kp, row_words = kp / kCodesPerWord;
    if (model->wcodes.size() < count * kp) model->wcodes.resize(count * kp);
    const uint32_t rows = lane_rows(count, lane);
    const uint32_t* src = take(p, left, rows * row_words, "lane " + std::to_string(lane) + " weight rows");
    for (uint32_t j = 0; j < rows; j++) {
      uint8_t* dst = model->wcodes.data() + (lane + static_cast<size_t>(j) * kLanes) * kp;
      for (size_t q = 0; q < row_words; q++) {
        const uint32_t word = src[j * row_words + q];
        for (uint32_t e = 0; e < kCodesPerWord; e++) dst[q * kCodesPerWord + e] = (word >> (e * 4)) & 15;
      }
    }
    model->wt.rows += rows;
  } else if (kind == kKindParams) {
    if (count > kParamColumns) {
      fail(std::to_string(count) + " column sums exceed the " + std::to_string(kParamColumns) +
           "-entry sum buffers");
    }
    std::memcpy(model->sums.data(), take(p, left, count, "column sums"), size_t{count} * 4);
    model->wt.params = true;
  } else {
    fail("unknown weight packet kind " + std::to_string(kind));
  }
}

void load_inputs(const uint32_t* h, const uint32_t*& p, size_t& left) {
  const Config& c = model->cfg;
  const uint32_t kind = h[0], r0 = h[1], count = h[2], lane = h[3];
  if (kind != kKindRows) fail("unknown input packet kind " + std::to_string(kind));
  view(model->in, r0, count);
  if (count > c.max_mt) {
    fail(std::to_string(count) + " input rows of " + std::to_string(c.in_row) +
         " words exceed the global input banks");
  }
  if (lane >= static_cast<uint32_t>(kLanes)) fail("input rows for lane " + std::to_string(lane));
  const uint32_t rows = lane_rows(count, lane);
  const uint32_t* src = take(p, left, size_t{rows} * c.in_row, "lane " + std::to_string(lane) + " input rows");
  for (uint32_t j = 0; j < rows; j++) {
    std::memcpy(model->ibuf.data() + (lane + static_cast<size_t>(j) * kLanes) * c.kp, src + size_t{j} * c.in_row,
                c.kp);
  }
  model->in.rows += rows;
}

// The shift PEs over the resident mc x nc tile; row r of the results goes to lane r mod 4.
void compute(uint32_t mc, uint32_t nc) {
  const Config& c = model->cfg;
  const size_t kp = c.kp;
  for (uint32_t r = 0; r < mc; r++) {
    std::vector<uint32_t>& out = model->rx[r % kLanes];
    const size_t base = out.size();
    out.resize(base + nc);
    const int8_t* x = model->ibuf.data() + r * kp;
    for (uint32_t col = 0; col < nc; col++) {
      const uint8_t* w = model->wcodes.data() + col * kp;
      uint32_t acc = 0;  // the 32-bit accumulator wraps
      for (size_t k = 0; k < kp; k++) acc += static_cast<uint32_t>(model->product[w[k]][x[k] + 128]);
      out[base + col] = acc + static_cast<uint32_t>(model->sums[col]);
    }
  }
}

}  // namespace

void open() {
  if (model) return;
  model = new Model();
  model->ibuf.assign(static_cast<size_t>(kGinpBufLen) * 4 * 4, 0);
  model->sums.assign(kParamColumns, 0);
  model->rx.resize(kLanes);
  model->rx_head.assign(kLanes, 0);
  model->trace.open("potacc_sim");
}

void close() {
  if (!model) return;
  model->trace.close();
  delete model;
  model = nullptr;
}

Stats stats() { return model ? model->stats : Stats{}; }

void dma_send(int lane, const uint32_t* words, size_t n) {
  if (!model) open();
  if (n >= 1 && (words[0] & kConfig)) model->call_packet = 0;
  if (lane < 0 || lane >= kLanes) fail("lane " + std::to_string(lane) + " does not exist");
  if (n < 1) fail("empty packet");
  const uint32_t op = words[0];
  if (op & ~(kConfig | kLoadWgt | kLoadInp | kCompute)) fail("unknown opcode bits " + std::to_string(op));
  const uint32_t* header[4] = {nullptr, nullptr, nullptr, nullptr};
  size_t at = 1;
  for (int f = 0; f < 4; f++) {
    if (!(op & kFlagOrder[f].flag)) continue;
    header[f] = words + at;
    at += kFlagOrder[f].header_words;
  }
  if (at > n) fail("packet of " + std::to_string(n) + " words is shorter than its header");
  model->trace.send(lane, op, words + 1, at - 1, n - at);
  const uint32_t* p = words + at;
  size_t left = n - at;
  if (header[kFlagConfig]) configure(header[kFlagConfig]);
  if (!model->have_cfg) fail("data before CONFIG");
  if (header[kFlagLoadWgt]) load_weights(header[kFlagLoadWgt], p, left);
  if (header[kFlagLoadInp]) load_inputs(header[kFlagLoadInp], p, left);
  if (const uint32_t* h = header[kFlagCompute]) {
    const uint32_t m0 = h[0], mc = h[1], n0 = h[2], nc = h[3];
    if (model->in.r0 != m0 || model->in.count != mc || model->in.rows != mc) {
      fail("input rows [" + std::to_string(m0) + ", +" + std::to_string(mc) + ") are not all resident");
    }
    if (model->wt.r0 != n0 || model->wt.count != nc || model->wt.rows != nc || !model->wt.params) {
      fail("weight rows [" + std::to_string(n0) + ", +" + std::to_string(nc) +
           ") and their sums are not all resident");
    }
    for (int l = 0; l < kLanes; l++) {
      if (model->rx_head[l] == model->rx[l].size()) {
        model->rx[l].clear();
        model->rx_head[l] = 0;
      }
    }
    compute(mc, nc);
  }
  if (left) fail(std::to_string(left) + " payload words left unread");
  model->call_packet++;
  model->stats.packets++;
  model->stats.words_sent += n;
}

void dma_recv(int lane, uint32_t* words, size_t n) {
  if (!model) open();
  if (lane < 0 || lane >= kLanes) fail("lane " + std::to_string(lane) + " does not exist");
  const std::vector<uint32_t>& q = model->rx[lane];
  const size_t pending = q.size() - model->rx_head[lane];
  if (pending < n) {
    fail("receive of " + std::to_string(n) + " words on lane " + std::to_string(lane) + " with " +
         std::to_string(pending) + " pending");
  }
  std::memcpy(words, q.data() + model->rx_head[lane], n * 4);
  model->rx_head[lane] += n;
  model->stats.words_received += n;
  model->trace.recv(lane, n);
}

}  // namespace acc
