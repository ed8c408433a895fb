// read_cifar.cpp — CIFAR-10 and CIFAR-100 binary batches into an in-memory U8 data set.
//
// A record is the label byte(s) then 3,072 pixel bytes, already in (C, H, W) = (3, 32, 32)
// order (1,024 R, then G, then B, each row-major). CIFAR-10: 1 label byte (3,073-byte records);
// CIFAR-100: coarse label, fine label (3,074 bytes). The file size must be a whole number of
// records; every label is range-checked with its record's byte offset in the error.
#include <cstring>
#include <filesystem>
#include <fstream>

#include "tasks/data/readers.h"

namespace vt::data {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kPixels = 3 * 32 * 32;

// The file `name` in dir or in dir/sub (the archive's folder).
std::string locate(const std::string& dir, const std::string& sub, const std::string& name,
                   const std::string& kind) {
  const fs::path a = fs::path(dir) / name, b = fs::path(dir) / sub / name;
  if (fs::is_regular_file(a)) return a.string();
  if (fs::is_regular_file(b)) return b.string();
  throw Error(kind + ": cannot open " + name + ": it is neither in " + dir + " nor in " +
              b.parent_path().string());
}

}  // namespace

DatasetPtr read_cifar(const std::string& dir, int which, bool train) {
  if (which != 10 && which != 100)
    throw Error("read_cifar: which must be 10 or 100, got " + std::to_string(which));
  const std::string kind = "cifar" + std::to_string(which);
  const int64_t label_bytes = which == 10 ? 1 : 2;
  const int64_t record = label_bytes + kPixels;
  std::vector<std::string> files;
  if (which == 10) {
    const char* sub = "cifar-10-batches-bin";
    if (train)
      for (int k = 1; k <= 5; ++k)
        files.push_back(locate(dir, sub, "data_batch_" + std::to_string(k) + ".bin", kind));
    else
      files.push_back(locate(dir, sub, "test_batch.bin", kind));
  } else {
    files.push_back(locate(dir, "cifar-100-binary", train ? "train.bin" : "test.bin", kind));
  }

  // Sizes first, so the tensor is allocated once and a bad file fails before any reading.
  std::vector<int64_t> counts;
  int64_t total = 0;
  for (const std::string& f : files) {
    const int64_t bytes = (int64_t)fs::file_size(f);
    if (bytes == 0) throw Error(kind + ": " + f + " is empty");
    if (bytes % record != 0)
      throw Error(kind + ": " + f + " is truncated: " + std::to_string(bytes) +
                  " bytes is not a whole number of " + std::to_string(record) +
                  "-byte records (the record at offset " +
                  std::to_string(bytes / record * record) + " is incomplete)");
    counts.push_back(bytes / record);
    total += bytes / record;
  }

  Tensor images = Tensor::empty({total, 3, 32, 32}, DType::U8);  // (N, 3, 32, 32)
  std::vector<int64_t> labels(total);
  std::vector<unsigned char> buf(record);
  int64_t n = 0;
  for (size_t f = 0; f < files.size(); ++f) {
    std::ifstream in(files[f], std::ios::binary);
    if (!in) throw Error(kind + ": cannot open " + files[f]);
    for (int64_t r = 0; r < counts[f]; ++r, ++n) {
      const int64_t offset = r * record;
      if (!in.read(reinterpret_cast<char*>(buf.data()), record))
        throw Error(kind + ": " + files[f] + ": read failed at offset " +
                    std::to_string(offset));
      if (which == 100 && buf[0] >= 20)
        throw Error(kind + ": " + files[f] + ": coarse label " + std::to_string(buf[0]) +
                    " at offset " + std::to_string(offset) + " is out of range [0, 20)");
      const int64_t label = buf[label_bytes - 1];
      if (label >= which)
        throw Error(kind + ": " + files[f] + ": label " + std::to_string(label) + " at offset " +
                    std::to_string(offset + label_bytes - 1) + " is out of range [0, " +
                    std::to_string(which) + ")");
      labels[n] = label;
      std::memcpy(images.data<uint8_t>() + n * kPixels, buf.data() + label_bytes, kPixels);
    }
  }
  const std::string desc = kind + ":" + dir + " (" + (train ? "train" : "test") + ", " +
                           std::to_string(total) + " images)";
  return std::make_shared<ImageTensorDataset>(images, std::move(labels), which, desc);
}

}  // namespace vt::data
