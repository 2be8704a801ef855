// The accelerator as the driver sees it (accelerators.md §1.0): four AXI DMA lanes of 32-bit words. A packet
// (opcode bitmask, header words, payload) goes out with dma_send on a lane; results come back on the same
// lane's receive channel with dma_recv. Two implementations sit behind this header: acc_sim.cc, a host-side
// model of the accelerator that interprets the packets (the `sim` build), and acc_board.cc, which maps the
// AXI DMA engines of a real board through /dev/mem (the `board` build). The driver is the same in both.
#pragma once
#include <cstddef>
#include <cstdint>

namespace acc {

// Maps the DMA engines and buffers (board) or creates the accelerator model (sim).
void open();
void close();

// Streams n words to the accelerator on `lane` and returns when the transfer has completed.
void dma_send(int lane, const uint32_t* words, size_t n);

// Receives exactly n words from the accelerator on `lane`, blocking until they have arrived.
void dma_recv(int lane, uint32_t* words, size_t n);

struct Stats {
  uint64_t packets;
  uint64_t words_sent;
  uint64_t words_received;
};
Stats stats();

}  // namespace acc
