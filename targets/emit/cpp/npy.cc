#include "npy.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace lathe {

namespace {

bool fail(std::string& error, const std::string& path, const std::string& why) {
  error = path + ": " + why;
  return false;
}

// The quoted value after 'key': in a header dict, or "" when absent.
std::string quoted_field(const std::string& header, const std::string& key) {
  const size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) return "";
  const size_t a = header.find('\'', header.find(':', k) + 1);
  if (a == std::string::npos) return "";
  const size_t b = header.find('\'', a + 1);
  return b == std::string::npos ? "" : header.substr(a + 1, b - a - 1);
}

size_t descr_size(const std::string& d) {
  if (d.size() < 3) return 0;
  const char kind = d[1];
  if (kind != 'i' && kind != 'u' && kind != 'f' && kind != 'b') return 0;
  const size_t n = static_cast<size_t>(std::atoi(d.c_str() + 2));
  return n == 1 || n == 2 || n == 4 || n == 8 ? n : 0;
}

}  // namespace

bool npy_read(const std::string& path, NpyArray& out, std::string& error) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return fail(error, path, "cannot open");
  std::vector<uint8_t> bytes;
  uint8_t chunk[1 << 16];
  size_t got;
  while ((got = std::fread(chunk, 1, sizeof chunk, f)) > 0) bytes.insert(bytes.end(), chunk, chunk + got);
  std::fclose(f);
  if (bytes.size() < 10 || bytes[0] != 0x93 || std::memcmp(bytes.data() + 1, "NUMPY", 5) != 0) {
    return fail(error, path, "not a .npy file (bad magic)");
  }
  const int major = bytes[6];
  if (major < 1 || major > 3) return fail(error, path, "unknown .npy version " + std::to_string(major));
  size_t start = major == 1 ? 10 : 12;
  if (bytes.size() < start) return fail(error, path, "truncated header");
  size_t hlen = bytes[8] | (static_cast<size_t>(bytes[9]) << 8);
  if (major > 1) hlen |= (static_cast<size_t>(bytes[10]) << 16) | (static_cast<size_t>(bytes[11]) << 24);
  if (start + hlen > bytes.size()) return fail(error, path, "header length past the end of the file");
  const std::string header(reinterpret_cast<const char*>(bytes.data() + start), hlen);
  out.descr = quoted_field(header, "descr");
  const size_t fo = header.find("'fortran_order'");
  const size_t sh = header.find("'shape'");
  if (out.descr.empty() || fo == std::string::npos || sh == std::string::npos) {
    return fail(error, path, "unreadable header");
  }
  if (header.compare(header.find(':', fo) + 1, 6, " False") != 0 &&
      header.compare(header.find(':', fo) + 1, 5, "False") != 0) {
    return fail(error, path, "Fortran-order arrays are not supported");
  }
  if (out.descr[0] == '>') return fail(error, path, "big-endian arrays are not supported");
  const size_t item = descr_size(out.descr);
  if (!item) return fail(error, path, "numpy dtype " + out.descr + " is not supported");
  const size_t open = header.find('(', sh), close = header.find(')', sh);
  if (open == std::string::npos || close == std::string::npos || close < open) {
    return fail(error, path, "unreadable shape");
  }
  out.shape.clear();
  uint64_t count = 1;
  const char* p = header.c_str() + open + 1;
  const char* end = header.c_str() + close;
  while (p < end) {
    while (p < end && (*p == ' ' || *p == ',')) p++;
    if (p >= end) break;
    char* next = nullptr;
    const long long d = std::strtoll(p, &next, 10);
    if (next == p || d < 0 || d > (int64_t{1} << 40)) return fail(error, path, "bad shape");
    out.shape.push_back(d);
    count *= static_cast<uint64_t>(d);
    if (count > (uint64_t{1} << 40)) return fail(error, path, "shape too large");
    p = next;
  }
  const uint64_t need = count * item;
  const size_t data_start = start + hlen;
  if (need > bytes.size() - data_start) {
    return fail(error, path, "shape needs " + std::to_string(need) + " bytes, the file has " +
                                 std::to_string(bytes.size() - data_start));
  }
  out.data.assign(bytes.begin() + data_start, bytes.begin() + data_start + need);
  return true;
}

bool npy_write(const std::string& path, const std::string& descr, const std::vector<int64_t>& shape,
               const void* bytes, size_t nbytes, std::string& error) {
  std::string dims;
  if (shape.size() == 1) {
    dims = "(" + std::to_string(shape[0]) + ",)";
  } else {
    dims = "(";
    for (size_t i = 0; i < shape.size(); i++) dims += (i ? ", " : "") + std::to_string(shape[i]);
    dims += ")";
  }
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + dims + ", }";
  const size_t pad = (64 - (10 + header.size() + 1) % 64) % 64;
  header.append(pad, ' ');
  header += '\n';
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return fail(error, path, "cannot create");
  const uint8_t magic[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<uint8_t>(header.size() & 0xff),
                             static_cast<uint8_t>(header.size() >> 8)};
  bool ok = std::fwrite(magic, 1, 10, f) == 10 && std::fwrite(header.data(), 1, header.size(), f) == header.size() &&
            (nbytes == 0 || std::fwrite(bytes, 1, nbytes, f) == nbytes);
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return fail(error, path, "write failed");
  }
  return true;
}

}  // namespace lathe
