#include "driver_runtime.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "acc_hw.h"
#include "npy.h"

namespace lathe {

namespace {

const char* kUsage =
    "usage: %s [--data DIR] [--dump DIR] [--repeat N] [--quiet] OUT_DIR INPUT.npy...\n"
    "  Runs %s on %s: reads one .npy per graph input (in order), writes each output as OUT_DIR/<name>.npy.\n"
    "  --data DIR   the compiled model's folder holding the constant files (default: the binary's parent)\n"
    "  --dump DIR   also write every intermediate value as DIR/<name>.npy\n"
    "  --repeat N   run N times (timing); outputs are those of the last run\n";

[[noreturn]] void die(const std::string& why, int code = 1) {
  std::fprintf(stderr, "lathe driver: %s\n", why.c_str());
  std::exit(code);
}

// Value names become file names: anything but [A-Za-z0-9_.-] turns into '_'.
std::string file_name(const char* name) {
  std::string s(name);
  for (char& ch : s) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                    ch == '_' || ch == '.' || ch == '-';
    if (!ok) ch = '_';
  }
  if (s.empty() || s[0] == '.') s = "_" + s;
  return s;
}

std::string dir_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

void write_tensor(const std::string& dir, const TensorDesc& v, const uint8_t* arena) {
  std::string error;
  const std::vector<int64_t> shape(v.shape, v.shape + v.rank);
  if (!npy_write(dir + "/" + file_name(v.name) + ".npy", v.descr, shape, arena + v.offset, v.bytes, error)) {
    die(error);
  }
}

}  // namespace

void dump_value(const RunContext& rc, const TensorDesc& v) {
  if (rc.dump_dir) write_tensor(rc.dump_dir, v, rc.arena);
}

int driver_main(int argc, char** argv, const ModelDesc& m, void (*run)(const RunContext&)) {
  std::string data = dir_of(dir_of(argv[0])), dump;
  int repeat = 1;
  bool quiet = false;
  std::vector<std::string> pos;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    const bool more = i + 1 < argc;
    if (a == "--help" || a == "-h") {
      std::printf(kUsage, argv[0], m.name, m.target);
      return 0;
    }
    if (a == "--data" && more) data = argv[++i];
    else if (a == "--dump" && more) dump = argv[++i];
    else if (a == "--repeat" && more) repeat = std::atoi(argv[++i]);
    else if (a == "--quiet") quiet = true;
    else if (a.size() > 1 && a[0] == '-') die("unknown option " + a + " (see --help)", 2);
    else pos.push_back(a);
  }
  if (pos.size() != 1 + m.n_inputs || repeat < 1) {
    std::fprintf(stderr, kUsage, argv[0], m.name, m.target);
    return 2;
  }
  // Constants, each at a 64-byte aligned slot of one buffer.
  std::vector<uint64_t> slot(m.n_constants);
  uint64_t total = 0;
  for (uint32_t i = 0; i < m.n_constants; i++) {
    total = (total + 63) / 64 * 64;
    slot[i] = total;
    total += m.constants[i].bytes;
  }
  uint8_t* cbuf = static_cast<uint8_t*>(std::aligned_alloc(64, (total + 63) / 64 * 64 + 64));
  std::vector<const uint8_t*> cptr(m.n_constants);
  for (uint32_t f = 0; f < m.n_files; f++) {
    const std::string path = data + "/" + m.files[f];
    FILE* fp = std::fopen(path.c_str(), "rb");
    if (!fp) die("cannot open constant file " + path);
    std::fseek(fp, 0, SEEK_END);
    const uint64_t size = static_cast<uint64_t>(std::ftell(fp));
    for (uint32_t i = 0; i < m.n_constants; i++) {
      const ConstantRef& c = m.constants[i];
      if (c.file != f) continue;
      if (c.offset > size || c.bytes > size - c.offset) {
        die(path + ": constant " + std::to_string(i) + " at " + std::to_string(c.offset) + " (+" +
            std::to_string(c.bytes) + ") is past the end of the file (" + std::to_string(size) + " bytes)");
      }
      std::fseek(fp, static_cast<long>(c.offset), SEEK_SET);
      if (c.bytes && std::fread(cbuf + slot[i], 1, c.bytes, fp) != c.bytes) die(path + ": read failed");
    }
    std::fclose(fp);
  }
  for (uint32_t i = 0; i < m.n_constants; i++) cptr[i] = cbuf + slot[i];
  uint8_t* arena = static_cast<uint8_t*>(std::aligned_alloc(64, (m.arena_bytes + 63) / 64 * 64 + 64));
  std::memset(arena, 0, m.arena_bytes);
  for (uint32_t i = 0; i < m.n_inputs; i++) {
    const TensorDesc& v = m.inputs[i];
    NpyArray a;
    std::string error;
    if (!npy_read(pos[1 + i], a, error)) die(error);
    bool same = a.descr == v.descr && a.shape.size() == v.rank;
    for (uint32_t d = 0; same && d < v.rank; d++) same = a.shape[d] == v.shape[d];
    if (!same || a.data.size() != v.bytes) {
      std::string want = std::string(v.descr) + " (";
      for (uint32_t d = 0; d < v.rank; d++) want += (d ? ", " : "") + std::to_string(v.shape[d]);
      die(pos[1 + i] + ": input " + v.name + " must be " + want + ")");
    }
    std::memcpy(arena + v.offset, a.data.data(), v.bytes);
  }
  acc::open();
  const RunContext rc{arena, cptr.data(), nullptr};
  const RunContext dump_rc{arena, cptr.data(), dump.c_str()};
  const auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < repeat; r++) {
    // Inputs may share arena space with later values: restore them before each repeated run.
    if (r > 0) {
      for (uint32_t i = 0; i < m.n_inputs; i++) {
        NpyArray a;
        std::string error;
        if (!npy_read(pos[1 + i], a, error)) die(error);
        std::memcpy(arena + m.inputs[i].offset, a.data.data(), m.inputs[i].bytes);
      }
    }
    run(!dump.empty() && r == repeat - 1 ? dump_rc : rc);
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  for (uint32_t i = 0; i < m.n_outputs; i++) write_tensor(pos[0], m.outputs[i], arena);
  const acc::Stats s = acc::stats();
  acc::close();
  if (!quiet) {
    std::fprintf(stderr, "%s on %s: %.3f ms per run (%d runs); %llu packets, %llu words sent, %llu received\n",
                 m.name, m.target, ms / repeat, repeat, static_cast<unsigned long long>(s.packets),
                 static_cast<unsigned long long>(s.words_sent), static_cast<unsigned long long>(s.words_received));
  }
  std::free(arena);
  std::free(cbuf);
  return 0;
}

}  // namespace lathe
