// safetensors.h — read and write the safetensors checkpoint format (docs/FORMATS.md).
//
// Reading memory-maps the file and validates the header as untrusted input: header size,
// JSON syntax, dtypes, shapes, and that data offsets tile the buffer with no hole, overlap or
// overrun. Tensors are returned as views on the mapping (zero copy), BF16 as BF16; F16 is
// widened to F32 on load (no kernel takes F16). BF16 is written as BF16. Writing goes to a temp file that is renamed over the target (atomic).
#pragma once
#include <map>
#include <string>

#include "engine/tensor.h"

namespace vt {

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;           // sorted by name
  std::map<std::string, std::string> metadata;     // "__metadata__"
};

SafetensorsFile load_safetensors(const std::string& path);
// Parses an in-memory file image; `name` is used in error messages.
SafetensorsFile parse_safetensors(const std::shared_ptr<Storage>& bytes, const std::string& name);
void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// Writes `bytes` to path atomically: path.tmp.<pid>, fsync, rename.
void write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace vt
