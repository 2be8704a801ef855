// What every emitted driver shares: the model's tables (constants in files, inputs, outputs, values), the
// activation arena, loading constants, reading inputs from .npy and writing outputs (and, with --dump,
// every value) as .npy.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lathe {

// A constant: `bytes` at `offset` of constant file `file` (a path relative to the model folder).
struct ConstantRef {
  uint32_t file;
  uint64_t offset;
  uint64_t bytes;
};

// A tensor in the arena: its value name, numpy dtype, shape, and bytes at `offset`.
struct TensorDesc {
  const char* name;
  const char* descr;
  uint32_t rank;
  int64_t shape[8];
  uint64_t offset;
  uint64_t bytes;
};

struct ModelDesc {
  const char* name;
  const char* target;
  const char* const* files;
  uint32_t n_files;
  const ConstantRef* constants;
  uint32_t n_constants;
  const TensorDesc* inputs;
  uint32_t n_inputs;
  const TensorDesc* outputs;
  uint32_t n_outputs;
  uint64_t arena_bytes;
};

struct RunContext {
  uint8_t* arena;
  const uint8_t* const* constants;
  const char* dump_dir;  // null unless --dump
};

// Writes a value as DUMP_DIR/<name>.npy when dumping.
void dump_value(const RunContext& rc, const TensorDesc& v);

// Parses the command line, loads constants and inputs, runs `run` and writes the outputs.
int driver_main(int argc, char** argv, const ModelDesc& m, void (*run)(const RunContext&));

}  // namespace lathe
