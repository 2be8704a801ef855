// A host-side model of the SECDA GEMM accelerator behind acc_hw.h (accelerators.md §2.2, "one driver, two
// targets"): it interprets each packet exactly as Lathe's functional model does (targets/secda/
// gemm-model.ts): the opcode bitmask, each set flag's header in the protocol's order, payload words into
// on-chip input, weight, sum and parameter buffers of the design's capacity, and on COMPUTE the tile's int32
// sums, bias and row sums (wrapping like 32-bit accumulators) and the PPU (TFLite's double-rounding
// MultiplyByQuantizedMultiplier, output zero point, clamp). The whole mc x nc tile, padded rows and columns
// included, goes back row-major on the packet's lane: 8-bit codes four to a little-endian word, or int32.
//
// A stream that computes on rows never loaded or overflows a buffer is refused with the packet's index, as
// the functional model refuses it. With LATHE_ACC_TRACE=<file> every packet's lane, opcode, header and
// payload length, and every receive, is logged for comparison with the compiler's Program.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "acc_config.h"
#include "acc_hw.h"
#include "acc_trace.h"
#include "fixed_point.h"

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
  uint32_t m, n, kw, flags;
  int32_t zp, lo, hi;
};

struct Model {
  std::vector<uint8_t> ibuf, wbuf;
  std::vector<int32_t> bias, mult, shift, sums;
  std::vector<int32_t> acc;
  bool have_cfg = false;
  Config cfg{};
  Tile in, wt;
  std::vector<std::vector<uint32_t>> rx;
  std::vector<size_t> rx_head;
  Stats stats{};
  PacketTrace trace;
};

Model* model = nullptr;

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "acc_sim: packet %llu: %s\n", static_cast<unsigned long long>(model->stats.packets),
               why.c_str());
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

// Consumes `words` payload words, or refuses the packet.
const uint32_t* take(const uint32_t*& p, size_t& left, size_t words, const char* what) {
  if (words > left) {
    fail(std::string(what) + " needs " + std::to_string(words) + " payload words, the packet has " +
         std::to_string(left));
  }
  const uint32_t* at = p;
  p += words;
  left -= words;
  return at;
}

// A LOAD_WGT or LOAD_INP header: rows into `bytes` (true) or a parameter run (false, r0/count returned).
bool load_rows(const uint32_t* h, Tile& tile, std::vector<uint8_t>& bytes, uint32_t capacity, const char* what,
               const uint32_t*& p, size_t& left) {
  const uint32_t kind = h[0], r0 = h[1], count = h[2], lane = h[3];
  view(tile, r0, count);
  if (kind == kKindRows) {
    const uint64_t kw = model->cfg.kw;
    if (uint64_t{count} * kw > capacity) {
      fail(std::to_string(count) + " " + what + " rows of " + std::to_string(kw) + " words exceed the " +
           std::to_string(capacity) + "-word buffer");
    }
    const uint32_t rows = lane_rows(count, lane);
    const uint32_t* src = take(p, left, rows * kw, what);
    const size_t kp = kw * 4;
    for (uint32_t j = 0; j < rows; j++) {
      std::memcpy(bytes.data() + (lane + static_cast<size_t>(j) * kLanes) * kp, src + j * kw, kp);
    }
    tile.rows += rows;
    return true;
  }
  if (kind != kKindParams) fail(std::string("unknown ") + what + " packet kind " + std::to_string(kind));
  return false;
}

template <typename TX, typename TW>
void compute_tile(uint32_t mc, uint32_t nc, std::vector<uint32_t>& out) {
  const Config& c = model->cfg;
  const size_t kp = static_cast<size_t>(c.kw) * 4;
  const TX* x = reinterpret_cast<const TX*>(model->ibuf.data());
  const TW* w = reinterpret_cast<const TW*>(model->wbuf.data());
  const bool ppu = (c.flags & kCfgPpu) != 0, sums = (c.flags & kCfgSums) != 0;
  const size_t base = out.size();
  const size_t words = ppu ? (static_cast<size_t>(mc) * nc + 3) / 4 : static_cast<size_t>(mc) * nc;
  out.resize(base + words, 0);
  uint8_t* codes = reinterpret_cast<uint8_t*>(out.data() + base);
  int32_t* ints = reinterpret_cast<int32_t*>(out.data() + base);
  for (uint32_t r = 0; r < mc; r++) {
    const TX* xr = x + r * kp;
    const int32_t row_sum = sums ? model->sums[r] : 0;
    for (uint32_t col = 0; col < nc; col++) {
      const TW* wr = w + col * kp;
      int32_t a = 0;  // wraps (built with -fwrapv) like the accelerator's 32-bit accumulators
      for (size_t k = 0; k < kp; k++) a += static_cast<int32_t>(xr[k]) * static_cast<int32_t>(wr[k]);
      const int32_t v = a + model->bias[col] + row_sum;
      const size_t at = static_cast<size_t>(r) * nc + col;
      if (!ppu) {
        ints[at] = v;
      } else {
        const int32_t q = lathe::mbqm(v, model->mult[col], model->shift[col]) + c.zp;
        codes[at] = static_cast<uint8_t>(lathe::clamp_i32(q, c.lo, c.hi));
      }
    }
  }
}

}  // namespace

void open() {
  if (model) return;
  model = new Model();
  model->ibuf.assign(static_cast<size_t>(kInputWords) * 4, 0);
  model->wbuf.assign(static_cast<size_t>(kWeightWords) * 4, 0);
  model->bias.assign(kParamRows, 0);
  model->mult.assign(kParamRows, 0);
  model->shift.assign(kParamRows, 0);
  model->sums.assign(kSumsRows, 0);
  model->rx.resize(kLanes);
  model->rx_head.assign(kLanes, 0);
  model->trace.open("acc_sim");
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
  if (lane < 0 || lane >= kLanes) fail("lane " + std::to_string(lane) + " does not exist");
  if (n < 1) fail("empty packet");
  const uint32_t op = words[0];
  if (op & ~(kConfig | kLoadWgt | kLoadInp | kCompute)) fail("unknown opcode bits " + std::to_string(op));
  // Each set flag's header, in the protocol's order.
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
  const uint32_t* hc = header[kFlagConfig];
  if (hc) {
    model->cfg = Config{hc[0], hc[1], hc[2], hc[3], static_cast<int32_t>(hc[4]), static_cast<int32_t>(hc[5]),
                        static_cast<int32_t>(hc[6])};
    model->have_cfg = true;
    // CONFIG starts a layer: nothing loaded before it counts as resident.
    model->in = Tile{};
    model->wt = Tile{};
  }
  if (!model->have_cfg) fail("data before CONFIG");
  const Config& c = model->cfg;
  if (const uint32_t* h = header[kFlagLoadWgt]) {
    if (!load_rows(h, model->wt, model->wbuf, kWeightWords, "weight", p, left)) {
      const uint32_t count = h[2];
      if (count > kParamRows) {
        fail(std::to_string(count) + " channels exceed the " + std::to_string(kParamRows) +
             "-entry parameter buffer");
      }
      std::vector<int32_t>* dst[3] = {&model->bias, &model->mult, &model->shift};
      const int runs = c.flags & kCfgPpu ? 3 : 1;
      for (int r = 0; r < runs; r++) std::memcpy(dst[r]->data(), take(p, left, count, "parameters"), count * 4);
      model->wt.params = true;
    }
  }
  if (const uint32_t* h = header[kFlagLoadInp]) {
    if (!load_rows(h, model->in, model->ibuf, kInputWords, "input", p, left)) {
      const uint32_t count = h[2];
      if (count > kSumsRows) {
        fail(std::to_string(count) + " row sums exceed the " + std::to_string(kSumsRows) + "-entry sum buffer");
      }
      std::memcpy(model->sums.data(), take(p, left, count, "row sums"), count * 4);
      model->in.params = true;
    }
  }
  if (const uint32_t* h = header[kFlagCompute]) {
    const uint32_t m0 = h[0], mc = h[1], n0 = h[2], nc = h[3];
    if (model->in.r0 != m0 || model->in.count != mc || model->in.rows != mc) {
      fail("input rows [" + std::to_string(m0) + ", +" + std::to_string(mc) + ") are not all resident");
    }
    if (model->wt.r0 != n0 || model->wt.count != nc || model->wt.rows != nc || !model->wt.params) {
      fail("weight rows [" + std::to_string(n0) + ", +" + std::to_string(nc) + ") are not all resident");
    }
    if ((c.flags & kCfgSums) && !model->in.params) fail("row sums were not loaded");
    std::vector<uint32_t>& out = model->rx[lane];
    if (model->rx_head[lane] == out.size()) {
      out.clear();
      model->rx_head[lane] = 0;
    }
    const bool xs = c.flags & kCfgXSigned, ws = c.flags & kCfgWSigned;
    if (xs && ws) compute_tile<int8_t, int8_t>(mc, nc, out);
    else if (xs) compute_tile<int8_t, uint8_t>(mc, nc, out);
    else if (ws) compute_tile<uint8_t, int8_t>(mc, nc, out);
    else compute_tile<uint8_t, uint8_t>(mc, nc, out);
  }
  if (left) fail(std::to_string(left) + " payload words left unread");
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
