// acc_hw.h on a real board (not built by default: `make board`, on the board or with a cross compiler).
// The host reaches the accelerator's four AXI DMA engines through /dev/mem and streams packets from
// physically contiguous buffers in the reserved DMA window (accelerators.md §1.0; SECDA's axi_api maps the
// same registers). Register offsets are those of the Xilinx AXI DMA in direct-register mode (PG021).
// Addresses default to the PYNQ-Z1 layout (DMAs at 0x40400000 + lane·0x10000, buffers in
// 0x18000000–0x1FFFFFFF); override them with -DACC_DMA_BASE=…, -DACC_DMA_STRIDE=…, -DACC_BUF_BASE=….
//
// Not exercised here: Lathe's tests run the same driver against acc_sim.cc. On a board, check the
// addresses against the bitstream's address map before running.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "acc_config.h"
#include "acc_hw.h"

#ifndef ACC_DMA_BASE
#define ACC_DMA_BASE 0x40400000u
#endif
#ifndef ACC_DMA_STRIDE
#define ACC_DMA_STRIDE 0x10000u
#endif
#ifndef ACC_BUF_BASE
#define ACC_BUF_BASE 0x18000000u
#endif
// Per lane: a send buffer and a receive buffer of this many bytes (4 lanes × 2 × 16 MB fill the window).
#ifndef ACC_BUF_BYTES
#define ACC_BUF_BYTES 0x01000000u
#endif
#ifndef ACC_TIMEOUT_MS
#define ACC_TIMEOUT_MS 2000
#endif

namespace acc {

namespace {

// AXI DMA register offsets (PG021, direct register mode).
constexpr uint32_t MM2S_DMACR = 0x00, MM2S_DMASR = 0x04, MM2S_SA = 0x18, MM2S_LENGTH = 0x28;
constexpr uint32_t S2MM_DMACR = 0x30, S2MM_DMASR = 0x34, S2MM_DA = 0x48, S2MM_LENGTH = 0x58;
constexpr uint32_t CR_RUN = 0x1, CR_RESET = 0x4, SR_HALTED = 0x1, SR_IDLE = 0x2, SR_ERRORS = 0x70;

struct Lane {
  volatile uint32_t* regs = nullptr;
  uint32_t* send = nullptr;
  uint32_t* recv = nullptr;
  uint32_t send_phys = 0, recv_phys = 0;
};

int mem_fd = -1;
Lane lanes[acc_config::kLanes];
Stats counters{};

[[noreturn]] void fail(const char* what, int lane) {
  std::fprintf(stderr, "acc_board: lane %d: %s\n", lane, what);
  std::exit(3);
}

void* map(uint32_t phys, size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, mem_fd, phys);
  if (p == MAP_FAILED) {
    std::perror("acc_board: mmap /dev/mem");
    std::exit(3);
  }
  return p;
}

void write_reg(Lane& l, uint32_t off, uint32_t v) { l.regs[off / 4] = v; }
uint32_t read_reg(const Lane& l, uint32_t off) { return l.regs[off / 4]; }

// Polls a status register until the channel is idle; a halted channel or an error bit is a failure, and
// so is a transfer that does not finish within ACC_TIMEOUT_MS (never hang).
void wait_idle(Lane& l, uint32_t sr, int lane) {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    const uint32_t s = read_reg(l, sr);
    if (s & SR_ERRORS) fail("DMA error", lane);
    if (s & SR_IDLE) return;
    if (s & SR_HALTED) fail("DMA channel halted", lane);
    if (std::chrono::steady_clock::now() - start > std::chrono::milliseconds(ACC_TIMEOUT_MS)) fail("DMA timeout", lane);
  }
}

}  // namespace

void open() {
  if (mem_fd >= 0) return;
  mem_fd = ::open("/dev/mem", O_RDWR | O_SYNC);
  if (mem_fd < 0) {
    std::perror("acc_board: open /dev/mem");
    std::exit(3);
  }
  for (int i = 0; i < acc_config::kLanes; i++) {
    Lane& l = lanes[i];
    l.regs = static_cast<volatile uint32_t*>(map(ACC_DMA_BASE + i * ACC_DMA_STRIDE, 0x10000));
    l.send_phys = ACC_BUF_BASE + 2u * i * ACC_BUF_BYTES;
    l.recv_phys = l.send_phys + ACC_BUF_BYTES;
    l.send = static_cast<uint32_t*>(map(l.send_phys, ACC_BUF_BYTES));
    l.recv = static_cast<uint32_t*>(map(l.recv_phys, ACC_BUF_BYTES));
    write_reg(l, MM2S_DMACR, CR_RESET);
    write_reg(l, S2MM_DMACR, CR_RESET);
    write_reg(l, MM2S_DMACR, CR_RUN);
    write_reg(l, S2MM_DMACR, CR_RUN);
  }
}

void close() {
  if (mem_fd < 0) return;
  for (Lane& l : lanes) {
    munmap(const_cast<uint32_t*>(l.regs), 0x10000);
    munmap(l.send, ACC_BUF_BYTES);
    munmap(l.recv, ACC_BUF_BYTES);
  }
  ::close(mem_fd);
  mem_fd = -1;
}

Stats stats() { return counters; }

void dma_send(int lane, const uint32_t* words, size_t n) {
  if (lane < 0 || lane >= acc_config::kLanes) fail("no such lane", lane);
  if (n * 4 > ACC_BUF_BYTES) fail("packet larger than the DMA buffer", lane);
  Lane& l = lanes[lane];
  std::memcpy(l.send, words, n * 4);
  write_reg(l, MM2S_SA, l.send_phys);
  write_reg(l, MM2S_LENGTH, static_cast<uint32_t>(n * 4));  // writing the length starts the transfer
  wait_idle(l, MM2S_DMASR, lane);
  counters.packets++;
  counters.words_sent += n;
}

void dma_recv(int lane, uint32_t* words, size_t n) {
  if (lane < 0 || lane >= acc_config::kLanes) fail("no such lane", lane);
  if (n * 4 > ACC_BUF_BYTES) fail("receive larger than the DMA buffer", lane);
  Lane& l = lanes[lane];
  write_reg(l, S2MM_DA, l.recv_phys);
  write_reg(l, S2MM_LENGTH, static_cast<uint32_t>(n * 4));
  wait_idle(l, S2MM_DMASR, lane);
  std::memcpy(words, l.recv, n * 4);
  counters.words_received += n;
}

}  // namespace acc
