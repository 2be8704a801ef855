// A host-side model of SECDA-LLM's BFP MatMul accelerator (F-BFQ) behind acc_hw.h: it interprets each
// packet as Lathe's functional model does (targets/bfp/functional.ts, super-block-unit.ts). Lane 0 carries
// opcode packets (CONFIG, LOAD_INP, LOAD_WGT, COMPUTE; each set flag's header in the protocol's order, then
// the loads' payloads in the same order); lanes 1..3 carry only weight words for the M-tile the last
// LOAD_WGT announced. Activation super-blocks (Q8_K) are unpacked into the input buffer as they arrive; on
// COMPUTE the tile's weight super-blocks (block i from lane i mod 4) are unpacked by the weight mapper for
// the variant CONFIG's wgt_type names (2..6 = Q2_K..Q6_K), and each weight row times each activation row
// is the SBVP's dot product: integer sub-block sums with ggml's f32 epilogue, so the results are bit-exact
// with the runtime. They stream back on lane 0, activation row by activation row.
//
// A malformed stream (a header that disagrees with CONFIG, lane sizes that do not add up, a tile over the
// buffers, weights before LOAD_WGT, a call that leaves weight rows uncomputed) is refused with the packet's
// index. With LATHE_ACC_TRACE=<file> every packet's lane, opcode, header and payload length, and every
// receive, is logged in acc_sim.cc's format (a data-only packet has opcode 0 and no header).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "acc_config.h"
#include "acc_hw.h"
#include "acc_trace.h"
#include "kernels/ggml_fp16.h"

namespace acc {

namespace {

using namespace acc_config;
using lathe::ggml::rd_f16;

struct Config {
  uint32_t kb, m, n, variant;
};

struct Tile {
  bool open = false;
  uint32_t kmb = 0, bw = 0;
  uint32_t sizes[kLanes] = {};
  size_t got[kLanes] = {};
  std::vector<uint8_t> lanes[kLanes];
};

struct Model {
  // The input buffer: SUP_KNB Q8_K super-blocks.
  std::vector<int8_t> iq;
  std::vector<int32_t> isums;
  std::vector<float> id;
  // The weight buffer: SUP_KMB unpacked super-blocks.
  std::vector<int8_t> wq;
  std::vector<int32_t> wscale, wmin;
  std::vector<float> wd, wdmin;
  bool have_cfg = false;
  Config cfg{};
  uint32_t input_blocks = 0, m0 = 0;
  Tile tile;
  std::vector<uint32_t> rx;
  size_t rx_head = 0;
  Stats stats{};
  PacketTrace trace;
};

Model* model = nullptr;

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "bfp_sim: packet %llu: %s\n", static_cast<unsigned long long>(model->stats.packets),
               why.c_str());
  std::exit(3);
}

std::string str(uint64_t v) { return std::to_string(v); }

uint32_t block_words(uint32_t variant) {
  for (int i = 0; i < kVariantCount; i++) {
    if (kVariants[i].wgt_type == variant) return kVariants[i].block_words;
  }
  return 0;
}

void load_input(uint32_t slot, const uint8_t* b) {
  Model& s = *model;
  s.id[slot] = lathe::ggml::rd_f32(b);
  std::memcpy(s.iq.data() + static_cast<size_t>(slot) * kQkK, b + 4, kQkK);
  for (int g = 0; g < 16; g++) s.isums[slot * 16 + g] = lathe::ggml::rd_i16(b + 260 + 2 * g);
}

// Q4_K/Q5_K's 6-bit sub-block scale (min false) or min (min true) of 32-element sub-block j.
int32_t scale_min6(const uint8_t* s, int j, bool min) {
  if (j < 4) return s[j + (min ? 4 : 0)] & 63;
  return min ? (s[j + 4] >> 4) | ((s[j] >> 6) << 4) : (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
}

// The weight mapper: a super-block of `variant` at b into weight slot `slot`.
void load_weight(uint32_t slot, uint32_t variant, const uint8_t* b) {
  Model& s = *model;
  int8_t* q = s.wq.data() + static_cast<size_t>(slot) * kQkK;
  int32_t* sc = s.wscale.data() + slot * 16;
  int32_t* mn = s.wmin.data() + slot * 16;
  switch (variant) {
    case 2:
      for (int e = 0; e < 256; e++) {
        const int h = e >> 7, j = (e & 127) >> 5, l = e & 31;
        q[e] = static_cast<int8_t>((b[16 + 32 * h + l] >> (2 * j)) & 3);
      }
      for (int g = 0; g < 16; g++) sc[g] = b[g] & 15, mn[g] = b[g] >> 4;
      s.wd[slot] = rd_f16(b + 80);
      s.wdmin[slot] = rd_f16(b + 82);
      return;
    case 3:
      for (int e = 0; e < 256; e++) {
        const int h = e >> 7, j = (e & 127) >> 5, l = e & 31;
        const int low = (b[32 + 32 * h + l] >> (2 * j)) & 3;
        q[e] = static_cast<int8_t>(low - (((b[l] >> (4 * h + j)) & 1) ? 0 : 4));
      }
      for (int g = 0; g < 16; g++) {
        const int low = g < 8 ? b[96 + g] & 15 : b[96 + g - 8] >> 4;
        const int high = (b[104 + (g & 3)] >> (2 * (g >> 2))) & 3;
        sc[g] = (low | (high << 4)) - 32;
        mn[g] = 0;
      }
      s.wd[slot] = rd_f16(b + 108);
      s.wdmin[slot] = 0;
      return;
    case 4:
    case 5: {
      const bool five = variant == 5;
      const uint8_t* qs = b + (five ? 48 : 16);
      for (int e = 0; e < 256; e++) {
        const int c = e >> 6, r = e & 63, l = r & 31, byte = qs[32 * c + l];
        int v = r < 32 ? byte & 15 : byte >> 4;
        if (five && ((b[16 + l] >> (2 * c + (r >> 5))) & 1)) v += 16;
        q[e] = static_cast<int8_t>(v);
      }
      for (int g = 0; g < 16; g++) {
        sc[g] = scale_min6(b + 4, g >> 1, false);
        mn[g] = scale_min6(b + 4, g >> 1, true);
      }
      s.wd[slot] = rd_f16(b);
      s.wdmin[slot] = rd_f16(b + 2);
      return;
    }
    case 6:
      for (int e = 0; e < 256; e++) {
        const int h = e >> 7, quarter = (e & 127) >> 5, l = e & 31;
        const int lo = b[64 * h + (quarter & 1) * 32 + l];
        const int low = quarter < 2 ? lo & 15 : lo >> 4;
        const int high = (b[128 + 32 * h + l] >> (2 * quarter)) & 3;
        q[e] = static_cast<int8_t>((low | (high << 4)) - 32);
      }
      for (int g = 0; g < 16; g++) sc[g] = static_cast<int8_t>(b[192 + g]), mn[g] = 0;
      s.wd[slot] = rd_f16(b + 208);
      s.wdmin[slot] = 0;
      return;
    default:
      fail("wgt_type " + str(variant) + " is not a variant of the unit (2..6)");
  }
}

// One output: weight slots w0..w0+kb-1 against input slots x0..x0+kb-1 (SuperBlockUnit.dot).
float dot(uint32_t variant, uint32_t w0, uint32_t x0, uint32_t kb) {
  const Model& s = *model;
  float sumf = 0;
  if (variant == 2) {
    for (uint32_t k = 0; k < kb; k++) {
      const uint32_t w = w0 + k, x = x0 + k;
      const int8_t* wq = s.wq.data() + static_cast<size_t>(w) * kQkK;
      const int8_t* iq = s.iq.data() + static_cast<size_t>(x) * kQkK;
      int32_t isum = 0, summs = 0;
      for (int g = 0; g < 16; g++) {
        int32_t t = 0;
        for (int e = 16 * g; e < 16 * g + 16; e++) t += iq[e] * wq[e];
        isum += s.wscale[w * 16 + g] * t;
        summs += s.isums[x * 16 + g] * s.wmin[w * 16 + g];
      }
      const float yd = s.id[x];
      const float dall = yd * s.wd[w], dmin = yd * s.wdmin[w];
      sumf = sumf + (dall * static_cast<float>(isum) - dmin * static_cast<float>(summs));
    }
    return sumf;
  }
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  const bool mins = variant == 4 || variant == 5;
  for (uint32_t k = 0; k < kb; k++) {
    const uint32_t w = w0 + k, x = x0 + k;
    const int8_t* wq = s.wq.data() + static_cast<size_t>(w) * kQkK;
    const int8_t* iq = s.iq.data() + static_cast<size_t>(x) * kQkK;
    int32_t l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int g = 0; g < 16; g++) {
      const int32_t sc = s.wscale[w * 16 + g];
      const int8_t* a = iq + 16 * g;
      const int8_t* c = wq + 16 * g;
      for (int e = 0; e < 8; e++) l[e] += sc * (a[e] * c[e] + a[e + 8] * c[e + 8]);
    }
    const float d = s.wd[w] * s.id[x];
    for (int e = 0; e < 8; e++) acc[e] = acc[e] + d * static_cast<float>(l[e]);
    if (mins) {
      int32_t summs = 0;
      for (int g = 0; g < 16; g++) summs += s.isums[x * 16 + g] * s.wmin[w * 16 + g];
      sumf = sumf - (s.wdmin[w] * s.id[x]) * static_cast<float>(summs);
    }
  }
  for (int e = 0; e < 8; e++) sumf = sumf + acc[e];
  return sumf;
}

void check_call_done() {
  if (model->have_cfg && model->m0 != model->cfg.m) {
    fail("the previous call computed " + str(model->m0) + " of " + str(model->cfg.m) + " weight rows");
  }
}

void append_lane(uint32_t lane, const uint32_t* words, size_t n) {
  Tile& t = model->tile;
  if (t.got[lane] + n * 4 > static_cast<size_t>(t.sizes[lane]) * 4) {
    fail("lane " + str(lane) + " delivers more than the " + str(t.sizes[lane]) + " words LOAD_WGT announced");
  }
  std::memcpy(t.lanes[lane].data() + t.got[lane], words, n * 4);
  t.got[lane] += n * 4;
}

const uint32_t* take(const uint32_t*& p, size_t& left, size_t words, const char* what) {
  if (words > left) fail(std::string(what) + " needs " + str(words) + " payload words, the packet has " + str(left));
  const uint32_t* at = p;
  p += words;
  left -= words;
  return at;
}

}  // namespace

void open() {
  if (model) return;
  model = new Model();
  model->iq.assign(static_cast<size_t>(kSupKnb) * kQkK, 0);
  model->isums.assign(static_cast<size_t>(kSupKnb) * 16, 0);
  model->id.assign(kSupKnb, 0);
  model->wq.assign(static_cast<size_t>(kSupKmb) * kQkK, 0);
  model->wscale.assign(static_cast<size_t>(kSupKmb) * 16, 0);
  model->wmin.assign(static_cast<size_t>(kSupKmb) * 16, 0);
  model->wd.assign(kSupKmb, 0);
  model->wdmin.assign(kSupKmb, 0);
  model->trace.open("bfp_sim");
}

void close() {
  if (!model) return;
  check_call_done();
  model->trace.close();
  delete model;
  model = nullptr;
}

Stats stats() { return model ? model->stats : Stats{}; }

void dma_send(int lane, const uint32_t* words, size_t n) {
  if (!model) open();
  Model& s = *model;
  if (lane < 0 || lane >= kLanes) fail("lane " + std::to_string(lane) + " does not exist");
  if (lane != 0) {
    // Weight words straight into the lane's FIFO for the weight mapper.
    s.trace.send(lane, 0, nullptr, 0, n);
    if (!s.tile.open) fail("lane " + std::to_string(lane) + " sends weight words before any LOAD_WGT");
    append_lane(static_cast<uint32_t>(lane), words, n);
    s.stats.packets++;
    s.stats.words_sent += n;
    return;
  }
  if (n < 1) fail("empty packet");
  const uint32_t op = words[0];
  if (op == 0) fail("a lane-0 packet without an opcode");
  if (op & ~(kConfig | kLoadInp | kLoadWgt | kCompute | kStore)) fail("unknown opcode bits " + str(op));
  const uint32_t* header[kFlagCount] = {};
  size_t at = 1;
  for (int f = 0; f < kFlagCount; f++) {
    if (!(op & kFlagOrder[f].flag)) continue;
    header[f] = words + at;
    at += kFlagOrder[f].header_words;
  }
  if (at > n) fail("packet of " + str(n) + " words is shorter than its header");
  s.trace.send(lane, op, words + 1, at - 1, n - at);
  const uint32_t* p = words + at;
  size_t left = n - at;
  if (const uint32_t* h = header[kFlagConfig]) {
    check_call_done();
    const uint32_t kb = h[0], m = h[1], nn = h[2], variant = h[3];
    if (!block_words(variant)) fail("CONFIG wgt_type " + str(variant) + " is not a variant (2..6)");
    if (!(kb >= 1 && m >= 1 && nn >= 1)) {
      fail("CONFIG kb " + str(kb) + ", M " + str(m) + ", N " + str(nn) + " is empty");
    }
    s.cfg = Config{kb, m, nn, variant};
    s.have_cfg = true;
    s.m0 = 0;
  }
  if (!s.have_cfg) fail("a packet before CONFIG");
  const Config& c = s.cfg;
  if (const uint32_t* h = header[kFlagLoadInp]) {
    const uint32_t knb = h[0];
    if (knb > kSupKnb) fail("LOAD_INP of " + str(knb) + " super-blocks overflows SUP_KNB " + str(kSupKnb));
    const uint8_t* b = reinterpret_cast<const uint8_t*>(take(p, left, static_cast<size_t>(knb) * kQ8kWords, "LOAD_INP"));
    for (uint32_t i = 0; i < knb; i++) load_input(i, b + static_cast<size_t>(i) * kQ8kWords * 4);
    s.input_blocks = knb;
  }
  if (const uint32_t* h = header[kFlagLoadWgt]) {
    const uint32_t kmb = h[0], bw = h[1];
    const uint32_t want = block_words(c.variant);
    if (bw != want) fail("LOAD_WGT blocks of " + str(bw) + " words; wgt_type " + str(c.variant) + " blocks are " + str(want));
    if (kmb > kSupKmb) fail("LOAD_WGT of " + str(kmb) + " super-blocks overflows SUP_KMB " + str(kSupKmb));
    uint64_t total = 0;
    for (int l = 0; l < kLanes; l++) total += h[2 + l];
    if (total != uint64_t{kmb} * bw) {
      fail("LOAD_WGT lane sizes do not add up to " + str(kmb) + " blocks of " + str(bw) + " words");
    }
    Tile& t = s.tile;
    t.open = true;
    t.kmb = kmb;
    t.bw = bw;
    for (int l = 0; l < kLanes; l++) {
      t.sizes[l] = h[2 + l];
      t.got[l] = 0;
      t.lanes[l].assign(static_cast<size_t>(t.sizes[l]) * 4, 0);
    }
    append_lane(0, take(p, left, t.sizes[0], "LOAD_WGT"), t.sizes[0]);
  }
  if (const uint32_t* h = header[kFlagCompute]) {
    const uint32_t kmb = h[0], knb = h[1], mstep = h[2], nstep = h[3];
    Tile& t = s.tile;
    if (!t.open) fail("COMPUTE without weights");
    if (kmb != t.kmb || uint64_t{kmb} != uint64_t{mstep} * c.kb) {
      fail("COMPUTE kmb " + str(kmb) + " disagrees with the tile (" + str(t.kmb) + ") or mstep " + str(mstep) +
           " x kb " + str(c.kb));
    }
    if (uint64_t{knb} != uint64_t{nstep} * c.kb || knb > s.input_blocks || nstep != c.n) {
      fail("COMPUTE knb " + str(knb) + ", nstep " + str(nstep) + " disagree with the " + str(s.input_blocks) +
           " loaded input super-blocks");
    }
    if (uint64_t{s.m0} + mstep > c.m) {
      fail("COMPUTE rows " + str(s.m0) + ".." + str(uint64_t{s.m0} + mstep) + " exceed M " + str(c.m));
    }
    for (int l = 0; l < kLanes; l++) {
      if (t.got[l] != static_cast<size_t>(t.sizes[l]) * 4) {
        fail("lane " + str(l) + " delivered " + str(t.got[l] / 4) + " of " + str(t.sizes[l]) + " words before COMPUTE");
      }
    }
    const size_t stride = static_cast<size_t>(t.bw) * 4;
    for (uint32_t i = 0; i < t.kmb; i++) load_weight(i, c.variant, t.lanes[i % kLanes].data() + (i / kLanes) * stride);
    if (s.rx_head == s.rx.size()) {
      s.rx.clear();
      s.rx_head = 0;
    }
    for (uint32_t nn = 0; nn < nstep; nn++) {
      for (uint32_t m = 0; m < mstep; m++) {
        const float v = dot(c.variant, m * c.kb, nn * c.kb, c.kb);
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        s.rx.push_back(bits);
      }
    }
    s.m0 += mstep;
    t.open = false;
  }
  if (left) fail(str(left) + " payload words left unread");
  s.stats.packets++;
  s.stats.words_sent += n;
}

void dma_recv(int lane, uint32_t* words, size_t n) {
  if (!model) open();
  Model& s = *model;
  if (lane != 0) fail("receive on lane " + std::to_string(lane) + "; results come back on lane 0");
  const size_t pending = s.rx.size() - s.rx_head;
  if (pending < n) fail("receive of " + str(n) + " words on lane 0 with " + str(pending) + " pending");
  std::memcpy(words, s.rx.data() + s.rx_head, n * 4);
  s.rx_head += n;
  s.stats.words_received += n;
  s.trace.recv(lane, n);
}

}  // namespace acc
