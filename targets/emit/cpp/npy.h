// NumPy .npy files: format 1.0 written (C order, little-endian, the array's own dtype, the header laid out as
// Lathe's compiler/npy.ts writes it), 1.0/2.0/3.0 read.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lathe {

struct NpyArray {
  std::string descr;  // numpy dtype, e.g. "|i1", "<f4"
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};

// Reads `path`; on a malformed or unsupported file, returns false with the reason in `error`.
bool npy_read(const std::string& path, NpyArray& out, std::string& error);

// Writes `bytes` as an array of `descr` and `shape`; returns false with the reason in `error`.
bool npy_write(const std::string& path, const std::string& descr, const std::vector<int64_t>& shape,
               const void* bytes, size_t nbytes, std::string& error);

}  // namespace lathe
