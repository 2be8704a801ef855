// A host-side model of the MM2IM v12 accelerator behind acc_hw.h (accelerators.md §1.6, "one driver, two
// targets"): it interprets each packet exactly as Lathe's functional model does (targets/mm2im/
// functional.ts). LOAD_CON sets the geometry and starts a layer; LOAD_WGT fills each PE's weight-column
// buffer with its filter's KS·KS columns of kUf-code rows and their sums, and the group's bias, multiplier
// (crf) and shift (crx); inside a schedule, every input pixel with its map row is multiplied in each PE with
// only the columns whose map entry is not −1, and dot product plus column sum is added into the PE's
// accumulators at the mapped output (slot = output mod kAccEntries, cleared on first use); STORE
// requantizes a run of outputs (TFLite's double-rounding MultiplyByQuantizedMultiplier, output zero point,
// int8 clamp), frees their slots and returns them one sign-extended code a word, output outer, filter
// inner, then kStoreTrailerWords zero words. Accumulators are 32-bit and wrap (built with -fwrapv).
//
// Streams that compute before their weights, store outside a schedule, overflow a buffer, mix images in one
// schedule, leave outputs unstored or results unreceived are refused with the packet's index (counted from
// open(), and from the layer's LOAD_CON as the functional model counts). With LATHE_ACC_TRACE=<file> every
// packet's lane, opcode, header and payload length, and every receive, is logged as acc_sim.cc logs them.
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

struct Config {
  uint32_t steps, ow, taps, pixels, oh, ks;
  int32_t out_zero;
};

struct Model {
  // Per PE: weight columns (kUf codes a row), column sums, bias/crf/crx and accumulators; one slot table
  // (which output each accumulator slot holds, −1 free) shared by the PEs, which run in lockstep.
  std::vector<int8_t> wcols[kPeCount];
  std::vector<int32_t> col_sum[kPeCount];
  std::vector<int32_t> acc[kPeCount];
  int32_t bias[kPeCount] = {}, crf[kPeCount] = {}, crx[kPeCount] = {};
  std::vector<int64_t> slot;
  size_t held = 0;  // slots in use
  bool have_cfg = false, weights = false, scheduling = false;
  Config cfg{};
  uint32_t filters = 0;
  int64_t image = -1;
  uint64_t layer_packets = 0, layer_stores = 0;
  std::vector<uint32_t> rx;
  size_t rx_head = 0;
  Stats stats{};
  PacketTrace trace;
};

Model* model = nullptr;

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "mm2im_sim: packet %llu (%llu of the layer): %s\n",
               static_cast<unsigned long long>(model->stats.packets),
               static_cast<unsigned long long>(model->layer_packets), why.c_str());
  std::exit(3);
}

std::string str(int64_t v) { return std::to_string(v); }

// Consumes `words` payload words, or refuses the packet.
const uint32_t* take(const uint32_t*& p, size_t& left, size_t words, const char* what) {
  if (words > left) fail(std::string(what) + " needs " + str(words) + " payload words, the packet has " + str(left));
  const uint32_t* at = p;
  p += words;
  left -= words;
  return at;
}

// The end of a layer: its schedule closed and something stored (the functional model's end-of-program checks).
void end_layer(const char* why) {
  if (!model->have_cfg) return;
  if (model->scheduling) fail(std::string(why) + " inside a schedule");
  if (model->layer_stores == 0) fail(std::string(why) + " after a layer that stores nothing");
}

void load_weights(const uint32_t* h, const uint32_t*& p, size_t& left) {
  const Config& c = model->cfg;
  const uint32_t rows = h[0], steps = h[1], fs = h[2];
  if (model->scheduling) fail("weights loaded inside a schedule");
  if (steps != c.steps || fs < 1 || fs > kPeCount || rows != fs * c.taps) {
    fail("LOAD_WGT of " + str(rows) + " rows, " + str(steps) + " depth steps for " + str(fs) +
         " filters does not match the config");
  }
  if (uint64_t{c.taps} * c.steps > kWgtColRows) fail("the weight columns exceed a PE's buffer");
  const size_t row_words = static_cast<size_t>(c.steps) * (kUf / 4), kp = static_cast<size_t>(c.steps) * kUf;
  const uint32_t* w = take(p, left, static_cast<size_t>(rows) * (row_words + 1), "LOAD_WGT weight columns");
  for (uint32_t f = 0; f < fs; f++) {
    for (uint32_t t = 0; t < c.taps; t++) {
      const uint32_t* row = w + (static_cast<size_t>(f) * c.taps + t) * (row_words + 1);
      std::memcpy(model->wcols[f].data() + t * kp, row, kp);
      model->col_sum[f][t] = static_cast<int32_t>(row[row_words]);
    }
  }
  const uint32_t* b = take(p, left, fs, "LOAD_WGT bias");
  const uint32_t* m = take(p, left, fs, "LOAD_WGT multipliers");
  const int8_t* s = reinterpret_cast<const int8_t*>(take(p, left, (fs + 3) / 4, "LOAD_WGT shifts"));
  for (uint32_t f = 0; f < fs; f++) {
    model->bias[f] = static_cast<int32_t>(b[f]);
    model->crf[f] = static_cast<int32_t>(m[f]);
    model->crx[f] = s[f];
  }
  model->filters = fs;
  model->weights = true;
  model->image = -1;
}

void compute(const uint32_t* hi, const uint32_t* hm, const uint32_t*& p, size_t& left) {
  const Config& c = model->cfg;
  if (!model->scheduling || !model->weights) fail("inputs outside a schedule or before weights");
  const uint32_t rows = hi[0], steps = hi[1], first = hi[2], map_first = hm[0], map_rows = hm[1];
  if (steps != c.steps || map_rows != rows) fail("input and map packets disagree");
  if (c.pixels == 0) fail("a layer of no pixels");
  const int64_t n = first / c.pixels;
  if (first % c.pixels != map_first) fail("input row " + str(first) + " is not map row " + str(map_first));
  if (model->image == -1) model->image = n;
  else if (model->image != n) fail("image " + str(n) + " inside the schedule of image " + str(model->image));
  if (uint64_t{map_first} + rows > c.pixels) fail("input rows beyond the image");
  const size_t row_words = static_cast<size_t>(c.steps) * (kUf / 4), kp = static_cast<size_t>(c.steps) * kUf;
  const int8_t* x = reinterpret_cast<const int8_t*>(take(p, left, rows * row_words, "input pixels"));
  const int32_t* map = reinterpret_cast<const int32_t*>(take(p, left, static_cast<size_t>(rows) * c.taps, "map rows"));
  const int64_t plane = static_cast<int64_t>(c.oh) * c.ow;
  for (uint32_t j = 0; j < rows; j++) {
    const int8_t* xr = x + j * kp;
    for (uint32_t t = 0; t < c.taps; t++) {
      const int32_t dst = map[static_cast<size_t>(j) * c.taps + t];
      if (dst < 0) continue;
      if (dst >= plane) fail("map entry " + str(dst) + " is outside the " + str(c.oh) + "x" + str(c.ow) + " output");
      const size_t s = static_cast<size_t>(dst) % kAccEntries;
      if (model->slot[s] != dst) {
        if (model->slot[s] != -1) fail("accumulator slot " + str(s) + " still holds output " + str(model->slot[s]));
        model->slot[s] = dst;
        model->held++;
        for (uint32_t f = 0; f < kPeCount; f++) model->acc[f][s] = 0;
      }
      for (uint32_t f = 0; f < model->filters; f++) {
        const int8_t* wr = model->wcols[f].data() + t * kp;
        int32_t sum = model->col_sum[f][t];
        for (size_t d = 0; d < kp; d++) sum += static_cast<int32_t>(xr[d]) * static_cast<int32_t>(wr[d]);
        model->acc[f][s] += sum;  // wraps like the 32-bit accumulators
      }
    }
  }
}

void store(uint32_t op, const uint32_t* h) {
  const Config& c = model->cfg;
  if (!model->scheduling) fail("STORE outside a schedule");
  const uint32_t start = h[0], count = h[1];
  if (uint64_t{start} + count > uint64_t{c.oh} * c.ow) {
    fail("outputs [" + str(start) + ", +" + str(count) + ") beyond the plane");
  }
  if (model->image < 0) fail("STORE before any input of the schedule");
  const uint32_t fs = model->filters;
  model->rx.assign(static_cast<size_t>(count) * fs + kStoreTrailerWords, 0);
  model->rx_head = 0;
  for (uint32_t i = 0; i < count; i++) {
    const int64_t dst = static_cast<int64_t>(start) + i;
    const size_t s = static_cast<size_t>(dst) % kAccEntries;
    const bool held = model->slot[s] == dst;
    for (uint32_t f = 0; f < fs; f++) {
      const int32_t v = (held ? model->acc[f][s] : 0) + model->bias[f];
      const int32_t q = lathe::mbqm(v, model->crf[f], model->crx[f]) + c.out_zero;
      model->rx[static_cast<size_t>(i) * fs + f] = static_cast<uint32_t>(lathe::clamp_i32(q, -128, 127));
    }
    if (held) {
      model->slot[s] = -1;
      model->held--;
    }
  }
  model->layer_stores++;
  if (!(op & kSchedule)) {
    model->scheduling = false;
    if (model->held) fail("the schedule ends with outputs never stored");
  }
}

}  // namespace

void open() {
  if (model) return;
  model = new Model();
  for (uint32_t f = 0; f < kPeCount; f++) {
    model->wcols[f].assign(static_cast<size_t>(kWgtColRows) * kUf, 0);
    model->col_sum[f].assign(kOutDexEntries, 0);
    model->acc[f].assign(kAccEntries, 0);
  }
  model->slot.assign(kAccEntries, -1);
  model->trace.open("mm2im_sim");
}

void close() {
  if (!model) return;
  end_layer("the stream ends");
  model->trace.close();
  delete model;
  model = nullptr;
}

Stats stats() { return model ? model->stats : Stats{}; }

void dma_send(int lane, const uint32_t* words, size_t n) {
  if (!model) open();
  if (lane < 0 || lane >= kLanes) fail("lane " + str(lane) + " does not exist");
  if (n < 1) fail("empty packet");
  const uint32_t op = words[0];
  uint32_t known = 0;
  for (const FlagSpec& f : kFlagOrder) known |= f.flag;
  if (op & ~known) fail("unknown opcode bits " + str(op));
  if (op & kLoadColMap) fail("LOAD_COL_MAP is not modelled: the PEs derive the column lists from LOAD_MAP rows");
  if (model->rx_head < model->rx.size()) {
    fail(str(model->rx.size() - model->rx_head) + " result words of the last STORE were never received");
  }
  // Each set flag's header, in the protocol's order.
  const uint32_t* header[kFlagCount] = {};
  size_t at = 1;
  for (int f = 0; f < kFlagCount; f++) {
    if (!(op & kFlagOrder[f].flag)) continue;
    header[f] = words + at;
    at += kFlagOrder[f].header_words;
  }
  if (at > n) fail("packet of " + str(n) + " words is shorter than its header");
  model->trace.send(lane, op, words + 1, at - 1, n - at);
  const auto field = [&](uint32_t flag) {
    for (int f = 0; f < kFlagCount; f++) {
      if (kFlagOrder[f].flag == flag) return header[f];
    }
    return static_cast<const uint32_t*>(nullptr);
  };
  const uint32_t* p = words + at;
  size_t left = n - at;
  if (const uint32_t* h = field(kLoadCon)) {
    end_layer("LOAD_CON");
    model->layer_packets = 0;
    model->layer_stores = 0;
    const uint32_t steps = h[0], ow = h[1], taps = h[2], pixels = h[3], oh = h[5], ks = h[7];
    if (steps > kInpRowEntries) fail(str(steps) + " depth steps exceed the input-row buffer");
    if (uint64_t{oh} * ow > kAccEntries) fail(str(oh) + "x" + str(ow) + " outputs exceed the accumulation buffer");
    if (uint64_t{ks} * ks != taps || taps > kOutDexEntries) fail(str(taps) + " taps for kernel " + str(ks));
    model->cfg = Config{steps, ow, taps, pixels, oh, ks, static_cast<int32_t>(h[4])};
    model->have_cfg = true;
    // A new layer: nothing loaded or accumulated before it counts.
    model->weights = false;
    model->scheduling = false;
    model->image = -1;
    model->filters = 0;
    model->slot.assign(kAccEntries, -1);
    model->held = 0;
  }
  if (!model->have_cfg) fail("data before LOAD_CON");
  if (const uint32_t* h = field(kLoadWgt)) load_weights(h, p, left);
  const uint32_t *hi = field(kLoadInp), *hm = field(kLoadMap), *hs = field(kStore);
  if (hi || hm) {
    if (!hi || !hm) fail("input pixels and their map rows travel together");
    compute(hi, hm, p, left);
  }
  if ((op & kSchedule) && !hi && !hs) {
    if (model->scheduling) fail("StartSchedule inside a schedule");
    if (!model->weights) fail("StartSchedule before LoadWeight");
    model->scheduling = true;
    model->image = -1;
  }
  if (hs) store(op, hs);
  if (left) fail(str(left) + " payload words left unread");
  model->stats.packets++;
  model->layer_packets++;
  model->stats.words_sent += n;
}

void dma_recv(int lane, uint32_t* words, size_t n) {
  if (!model) open();
  if (lane < 0 || lane >= kLanes) fail("lane " + str(lane) + " does not exist");
  const size_t pending = model->rx.size() - model->rx_head;
  if (pending < n) {
    fail("receive of " + str(n) + " words on lane " + str(lane) + " with " + str(pending) + " pending");
  }
  std::memcpy(words, model->rx.data() + model->rx_head, n * 4);
  model->rx_head += n;
  model->stats.words_received += n;
  model->trace.recv(lane, n);
}

}  // namespace acc
