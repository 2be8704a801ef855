// The packet log every host model of an accelerator writes when LATHE_ACC_TRACE names a file, in the one
// format Lathe's tests compare with the compiler's Programs: `send LANE OPCODE HEADER... : PAYLOAD_WORDS` for
// each packet (header words as signed 32-bit values) and `recv LANE WORDS` for each receive.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace acc {

class PacketTrace {
 public:
  // Opens (appending) the file LATHE_ACC_TRACE names, if it names one; `model` names the model in the error.
  void open(const char* model) {
    const char* path = std::getenv("LATHE_ACC_TRACE");
    if (!path || !*path) return;
    file_ = std::fopen(path, "a");
    if (!file_) {
      std::fprintf(stderr, "%s: cannot open trace file %s\n", model, path);
      std::exit(3);
    }
  }

  void close() {
    if (file_) std::fclose(file_);
    file_ = nullptr;
  }

  // A packet: its opcode word, the header words after it, and how many payload words follow the header.
  void send(int lane, uint32_t opcode, const uint32_t* header, size_t header_words, size_t payload_words) {
    if (!file_) return;
    std::fprintf(file_, "send %d %u", lane, opcode);
    for (size_t i = 0; i < header_words; i++) std::fprintf(file_, " %d", static_cast<int32_t>(header[i]));
    std::fprintf(file_, " : %zu\n", payload_words);
  }

  void recv(int lane, size_t words) {
    if (file_) std::fprintf(file_, "recv %d %zu\n", lane, words);
  }

 private:
  FILE* file_ = nullptr;
};

}  // namespace acc
