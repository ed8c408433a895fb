// read_fashion_mnist.cpp — Fashion-MNIST (and MNIST) IDX files into an in-memory U8 data set.
//
// IDX layout, all integers big-endian:
//   images: magic 0x00000803, count, rows, cols, then count·rows·cols pixel bytes
//   labels: magic 0x00000801, count, then count label bytes
// Files are read through zlib's gzread, which reads gzip and plain files alike. Byte offsets in
// errors ("at offset N") are offsets in the uncompressed IDX stream.
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "tasks/data/readers.h"

namespace vt::data {

namespace {

// A gzip-or-plain file read front to back, with the position kept for error messages.
class IdxFile {
 public:
  explicit IdxFile(std::string path) : path_(std::move(path)) {
    f_ = gzopen(path_.c_str(), "rb");
    if (!f_) throw Error("fashion-mnist: cannot open " + path_);
  }
  ~IdxFile() { gzclose(f_); }
  IdxFile(const IdxFile&) = delete;
  // The most bytes the file can hold once decompressed: its size, or for gzip 1032 times it
  // (deflate's largest ratio). A header claiming more is refused before its buffer exists.
  int64_t max_bytes() {
    std::error_code ec;
    const int64_t size = (int64_t)std::filesystem::file_size(path_, ec);
    if (ec) return 0;
    return gzdirect(f_) ? size : size * 1032;  // (decided by now: the header has been read)
  }
  IdxFile& operator=(const IdxFile&) = delete;

  // Reads exactly n bytes of `what` or throws (truncated file or corrupt gzip stream).
  void read(void* dst, int64_t n, const std::string& what) {
    int64_t got = 0;
    while (got < n) {
      const unsigned chunk = (unsigned)std::min<int64_t>(n - got, 1 << 30);
      const int r = gzread(f_, static_cast<char*>(dst) + got, chunk);
      if (r < 0) fail_corrupt(pos_ + got);
      if (r == 0) break;
      got += r;
    }
    if (got < n) {
      int errnum = 0;
      const char* msg = gzerror(f_, &errnum);
      const std::string zlib = errnum != Z_OK ? std::string(" (zlib: ") + msg + ")" : "";
      throw Error("fashion-mnist: " + path_ + " is truncated: expected " + std::to_string(n) +
                  " bytes of " + what + " at offset " + std::to_string(pos_) +
                  ", the data ends at offset " + std::to_string(pos_ + got) + zlib);
    }
    pos_ += n;
  }
  uint32_t read_u32(const std::string& what) {
    unsigned char b[4];
    read(b, 4, what);
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
  }
  // Throws if anything follows the last record, or the gzip stream does not end properly (a
  // missing trailer: zlib reads the data but reports the truncation at the end).
  void expect_end() {
    char c;
    const int r = gzread(f_, &c, 1);
    int errnum = Z_OK;
    gzerror(f_, &errnum);
    if (r < 0 || errnum != Z_OK) fail_corrupt(pos_);
    if (r > 0)
      throw Error("fashion-mnist: " + path_ + ": unexpected data after the last record, at "
                  "offset " + std::to_string(pos_));
  }
  int64_t pos() const { return pos_; }
  const std::string& path() const { return path_; }

 private:
  [[noreturn]] void fail_corrupt(int64_t at) {
    int errnum = 0;
    const char* msg = gzerror(f_, &errnum);
    throw Error("fashion-mnist: " + path_ + ": corrupt gzip stream near uncompressed offset " +
                std::to_string(at) + " (zlib: " + msg + ")");
  }
  std::string path_;
  gzFile f_ = nullptr;
  int64_t pos_ = 0;
};

std::string locate(const std::string& dir, const std::string& name) {
  namespace fs = std::filesystem;
  for (const std::string& n : {name + ".gz", name})
    if (fs::is_regular_file(fs::path(dir) / n)) return (fs::path(dir) / n).string();
  throw Error("fashion-mnist: no " + name + "[.gz] in " + dir);
}

void check_magic(IdxFile& f, uint32_t want) {
  const uint32_t magic = f.read_u32("the magic number");
  if (magic != want) {
    char got[16], exp[16];
    std::snprintf(got, sizeof got, "0x%08x", magic);
    std::snprintf(exp, sizeof exp, "0x%08x", want);
    throw Error("fashion-mnist: " + f.path() + ": bad IDX magic at offset 0: " + got +
                " (expected " + exp + "; is this the right IDX file?)");
  }
}

}  // namespace

DatasetPtr read_fashion_mnist(const std::string& dir, bool train) {
  const std::string prefix = train ? "train" : "t10k";
  IdxFile img(locate(dir, prefix + "-images-idx3-ubyte"));
  IdxFile lab(locate(dir, prefix + "-labels-idx1-ubyte"));

  check_magic(img, 0x00000803);
  const int64_t count = img.read_u32("the image count");
  const int64_t rows = img.read_u32("the row count"), cols = img.read_u32("the column count");
  // Bound the header before allocating: a corrupt header must not ask for terabytes.
  if (rows < 1 || cols < 1 || rows > 4096 || cols > 4096 || count * rows * cols > (1ll << 34))
    throw Error("fashion-mnist: " + img.path() + ": implausible header at offset 4: " +
                std::to_string(count) + " images of " + std::to_string(rows) + "x" +
                std::to_string(cols));
  if (count * rows * cols > img.max_bytes())
    throw Error("fashion-mnist: " + img.path() + ": the header (offset 4) claims " + std::to_string(count) +
                " images of " + std::to_string(rows) + "x" + std::to_string(cols) + ", more than the file can hold");
  check_magic(lab, 0x00000801);
  const int64_t nlabels = lab.read_u32("the label count");
  if (nlabels != count)
    throw Error("fashion-mnist: " + lab.path() + " holds " + std::to_string(nlabels) +
                " labels (offset 4) but " + img.path() + " holds " + std::to_string(count) +
                " images");

  Tensor images = Tensor::empty({count, 1, rows, cols}, DType::U8);  // (N, 1, rows, cols)
  img.read(images.data<uint8_t>(), count * rows * cols,
           std::to_string(count) + " images of " + std::to_string(rows) + "x" +
               std::to_string(cols));
  img.expect_end();

  std::vector<unsigned char> raw(count);
  lab.read(raw.data(), count, std::to_string(count) + " labels");
  lab.expect_end();
  std::vector<int64_t> labels(count);
  for (int64_t i = 0; i < count; ++i) {
    if (raw[i] >= 10)
      throw Error("fashion-mnist: " + lab.path() + ": label " + std::to_string(raw[i]) +
                  " at offset " + std::to_string(8 + i) + " is out of range [0, 10)");
    labels[i] = raw[i];
  }
  const std::string desc = "fashion-mnist:" + dir + " (" + (train ? "train" : "test") + ", " +
                           std::to_string(count) + " images)";
  return std::make_shared<ImageTensorDataset>(images, std::move(labels), 10, desc);
}

}  // namespace vt::data
