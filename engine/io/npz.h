// npz.h — read NumPy .npz archives: a zip of .npy arrays, as np.savez (members stored) and
// np.savez_compressed (members deflated) write them. Google's ViT checkpoints (ViT-B_16.npz,
// the augreg in21k files) are in this format.
//
// The file is untrusted input. The zip's central directory is the authority for names, sizes
// and offsets; every offset and size is bounds-checked against the file, each member's CRC-32
// is verified, and each .npy header is parsed strictly (little-endian f4/f8/f2/i4/i8/u1/b1,
// C order only; f2 is converted to F32). Archives that need zip64 (a member or the archive over
// 4 GiB, or over 65535 members), encrypted or multi-disk archives, and compression methods
// other than stored/deflate are refused. Errors are vt::Error naming the file and the member.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "engine/tensor.h"

namespace vt {

// Arrays by member name without the ".npy" suffix ("Transformer/encoder_norm/scale"), sorted.
std::map<std::string, Tensor> load_npz(const std::string& path);
// Parses an in-memory archive image; `name` is used in error messages.
std::map<std::string, Tensor> parse_npz(const uint8_t* data, size_t size, const std::string& name);
// Parses one .npy image into a fresh contiguous tensor; `where` names it in error messages.
Tensor parse_npy(const uint8_t* data, size_t size, const std::string& where);

// True when the file starts like a zip archive ("PK\3\4", or "PK\5\6" for an empty one).
bool is_zip_file(const std::string& path);

}  // namespace vt
