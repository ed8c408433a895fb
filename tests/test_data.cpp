// test_data.cpp — the data set readers (CIFAR, IDX/Fashion-MNIST, image lists) on files the
// test writes, their error messages on malformed files, and the data set views (subset,
// select_classes, sample_per_class). Transforms and the loader: test_data_transforms.cpp.
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "tasks/data/readers.h"
#include "tests/helpers.h"

using namespace vt;
using namespace vt::data;
using vt::test::error_of;
using vt::test::write_file;
namespace fs = std::filesystem;

namespace {

struct TempDir : vt::test::TempDir {
  TempDir() : vt::test::TempDir("vitune_data_") {}
};

void write_gzip(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f);
  REQUIRE(gzwrite(f, bytes.data(), (unsigned)bytes.size()) == (int)bytes.size());
  gzclose(f);
}
std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The byte at pixel k of record r: a pattern that differs between records and pixels.
uint8_t pixel(int64_t r, int64_t k) { return (uint8_t)((r * 7 + k * 13) % 256); }

// CIFAR records: label byte(s) then 3,072 pixels.
std::string cifar_records(int64_t first, const std::vector<std::vector<uint8_t>>& labels) {
  std::string s;
  for (size_t r = 0; r < labels.size(); ++r) {
    for (uint8_t l : labels[r]) s.push_back((char)l);
    for (int64_t k = 0; k < 3072; ++k) s.push_back((char)pixel(first + (int64_t)r, k));
  }
  return s;
}

std::string be32(uint32_t v) { return {(char)(v >> 24), (char)(v >> 16), (char)(v >> 8), (char)v}; }
// An IDX image file whose header says n images of rows x cols, holding `stored` of them.
std::string idx_images(uint32_t n, uint32_t rows, uint32_t cols, int64_t stored) {
  std::string s = be32(0x803) + be32(n) + be32(rows) + be32(cols);
  const int64_t px = rows * cols;
  for (int64_t i = 0; i < stored * px; ++i) s.push_back((char)pixel(i / px, i % px));
  return s;
}
std::string idx_labels(const std::vector<uint8_t>& labels) {
  std::string s = be32(0x801) + be32((uint32_t)labels.size());
  for (uint8_t l : labels) s.push_back((char)l);
  return s;
}


void require_pixels(const Example& e, int64_t record, const Shape& shape) {
  REQUIRE(e.image.dtype() == DType::F32);
  REQUIRE(e.image.shape() == shape);
  const auto v = e.image.to_vector();
  for (size_t k = 0; k < v.size(); ++k) REQUIRE(v[k] == (float)pixel(record, (int64_t)k) / 255.0f);
}

}  // namespace

TEST_CASE("read_cifar: CIFAR-10 and CIFAR-100 binaries", "[data]") {
  TempDir t;
  // CIFAR-10 under the archive's folder; batches of 2, 1, 3, 1, 2 records.
  const std::vector<int> sizes{2, 1, 3, 1, 2};
  int64_t first = 0;
  std::vector<int64_t> want_labels;
  for (int b = 0; b < 5; ++b) {
    std::vector<std::vector<uint8_t>> labels;
    for (int r = 0; r < sizes[b]; ++r) {
      labels.push_back({(uint8_t)((first + r) % 10)});
      want_labels.push_back((first + r) % 10);
    }
    write_file(t / ("cifar-10-batches-bin/data_batch_" + std::to_string(b + 1) + ".bin"),
                cifar_records(first, labels));
    first += sizes[b];
  }
  write_file(t / "cifar-10-batches-bin/test_batch.bin", cifar_records(100, {{3}, {9}}));
  for (const std::string& dir : {t.path.string(), t / "cifar-10-batches-bin"}) {
    DatasetPtr d = read_cifar(dir, 10, true);
    REQUIRE(d->size() == 9);
    REQUIRE(d->num_classes() == 10);
    REQUIRE(d->describe() == "cifar10:" + dir + " (train, 9 images)");
    for (int64_t i = 0; i < 9; ++i) {
      const Example e = d->get(i);
      REQUIRE(e.label == want_labels[i]);
      REQUIRE(d->label(i) == want_labels[i]);
      require_pixels(e, i, {3, 32, 32});
    }
  }
  DatasetPtr test = read_cifar(t.path.string(), 10, false);
  REQUIRE(test->size() == 2);
  REQUIRE(test->get(1).label == 9);
  require_pixels(test->get(1), 101, {3, 32, 32});

  // CIFAR-100 in the folder itself: coarse label, fine label; the fine one is used.
  write_file(t / "c100/train.bin", cifar_records(0, {{19, 99}, {0, 42}, {5, 7}}));
  DatasetPtr c = read_cifar(t / "c100", 100, true);
  REQUIRE(c->size() == 3);
  REQUIRE(c->num_classes() == 100);
  REQUIRE(c->get(0).label == 99);
  REQUIRE(c->get(1).label == 42);
  require_pixels(c->get(2), 2, {3, 32, 32});
  // ... and through open_dataset, with the parent folder.
  write_file(t / "p/cifar-100-binary/test.bin", cifar_records(0, {{1, 2}}));
  REQUIRE(open_dataset("cifar100:" + (t / "p"), false)->get(0).label == 2);
}

TEST_CASE("read_cifar: malformed files name the file and the byte offset", "[data]") {
  TempDir t;
  const std::string f = t / "cifar-100-binary/train.bin";
  // Missing.
  std::string msg = error_of([&] { read_cifar(t.path.string(), 100, true); });
  CHECK_THAT(msg, Catch::Contains("cannot open train.bin") && Catch::Contains(t.path.string()));
  // Truncated: two whole records then 100 bytes.
  write_file(f, cifar_records(0, {{1, 2}, {3, 4}}) + std::string(100, '\0'));
  msg = error_of([&] { read_cifar(t.path.string(), 100, true); });
  CHECK_THAT(msg, Catch::Contains(f) && Catch::Contains("truncated") &&
                      Catch::Contains("not a whole number of 3074-byte records") &&
                      Catch::Contains("offset 6148"));
  // Fine label out of range in the third record (offset 2·3074 + 1).
  write_file(f, cifar_records(0, {{1, 2}, {3, 4}, {5, 100}}));
  msg = error_of([&] { read_cifar(t.path.string(), 100, true); });
  CHECK_THAT(msg, Catch::Contains(f) && Catch::Contains("label 100 at offset 6149 is out of range"));
  // Coarse label out of range.
  write_file(f, cifar_records(0, {{1, 2}, {20, 4}}));
  msg = error_of([&] { read_cifar(t.path.string(), 100, true); });
  CHECK_THAT(msg, Catch::Contains("coarse label 20 at offset 3074"));
  // CIFAR-10: label 10, second record.
  write_file(t / "test_batch.bin", cifar_records(0, {{1}, {10}}));
  msg = error_of([&] { read_cifar(t.path.string(), 10, false); });
  CHECK_THAT(msg, Catch::Contains("test_batch.bin") && Catch::Contains("label 10 at offset 3073"));
  // Empty file, bad `which`.
  write_file(t / "test_batch.bin", "");
  CHECK_THAT(error_of([&] { read_cifar(t.path.string(), 10, false); }), Catch::Contains("empty"));
  CHECK_THAT(error_of([&] { read_cifar(t.path.string(), 20, false); }),
             Catch::Contains("10 or 100"));
}

TEST_CASE("read_fashion_mnist: IDX files, gzip and plain", "[data]") {
  TempDir t;
  const std::vector<uint8_t> labels{3, 0, 9, 1, 5};
  write_gzip(t / "gz/train-images-idx3-ubyte.gz", idx_images(5, 4, 3, 5));
  write_gzip(t / "gz/train-labels-idx1-ubyte.gz", idx_labels(labels));
  write_file(t / "plain/t10k-images-idx3-ubyte", idx_images(5, 4, 3, 5));
  write_file(t / "plain/t10k-labels-idx1-ubyte", idx_labels(labels));
  for (auto [d, train] : {std::pair{read_fashion_mnist(t / "gz", true), true},
                          std::pair{open_dataset("fashion-mnist:" + (t / "plain"), false), false}}) {
    INFO("train " << train);
    REQUIRE(d->size() == 5);
    REQUIRE(d->num_classes() == 10);
    for (int64_t i = 0; i < 5; ++i) {
      REQUIRE(d->get(i).label == labels[i]);
      require_pixels(d->get(i), i, {1, 4, 3});
    }
  }
}

TEST_CASE("read_fashion_mnist: malformed files name the file and the byte offset", "[data]") {
  TempDir t;
  const std::string img = t / "train-images-idx3-ubyte.gz", lab = t / "train-labels-idx1-ubyte.gz";
  auto msg_of = [&] { return error_of([&] { read_fashion_mnist(t.path.string(), true); }); };
  write_gzip(lab, idx_labels({1, 2, 3, 4, 5}));
  // Missing image file.
  CHECK_THAT(msg_of(), Catch::Contains("no train-images-idx3-ubyte") && Catch::Contains(t.path.string()));
  // The header promises 5 images of 4x3 but only 4 are there: data ends at 16 + 48.
  write_gzip(img, idx_images(5, 4, 3, 4));
  CHECK_THAT(msg_of(), Catch::Contains(img) && Catch::Contains("truncated") &&
                           Catch::Contains("at offset 16") && Catch::Contains("ends at offset 64"));
  // Wrong magic (an IDX of another element type).
  std::string bad = idx_images(5, 4, 3, 5);
  bad[3] = 0x04;
  write_gzip(img, bad);
  CHECK_THAT(msg_of(), Catch::Contains(img) && Catch::Contains("bad IDX magic at offset 0: 0x00000804"));
  // Corrupt gzip: a valid stream with the deflate data after its first bytes overwritten.
  write_gzip(img, idx_images(5, 4, 3, 5) + std::string(4000, 'x'));
  std::string gz = read_bytes(img);
  for (size_t k = 12; k < gz.size() - 8; ++k) gz[k] = (char)(0xA5 ^ k);
  write_file(img, gz);
  CHECK_THAT(msg_of(), Catch::Contains(img) && Catch::Contains("zlib") && Catch::Contains("offset"));
  // A gzip stream cut short.
  write_gzip(img, idx_images(5, 4, 3, 5));
  gz = read_bytes(img);
  write_file(img, gz.substr(0, gz.size() - 20));
  CHECK_THAT(msg_of(), Catch::Contains(img) && Catch::Contains("offset"));
  // A gzip stream without its trailer (CRC and size): every byte of data is there, and yet the
  // file is cut short.
  write_gzip(img, idx_images(5, 4, 3, 5));
  gz = read_bytes(img);
  write_file(img, gz.substr(0, gz.size() - 8));
  CHECK_THAT(msg_of(), Catch::Contains(img) && Catch::Contains("corrupt gzip stream"));
  // A plain file whose header claims far more than it holds: refused before the buffer exists.
  fs::remove(img);
  write_file(t / "train-images-idx3-ubyte", idx_images(4000000, 28, 28, 1));
  CHECK_THAT(msg_of(), Catch::Contains("claims 4000000 images of 28x28, more than the file can hold"));
  fs::remove(t / "train-images-idx3-ubyte");
  // Trailing garbage after the last image.
  write_gzip(img, idx_images(5, 4, 3, 5) + "extra");
  CHECK_THAT(msg_of(), Catch::Contains("after the last record, at offset 76"));
  // Label out of range at label 2 (offset 8 + 2); label count mismatch.
  write_gzip(img, idx_images(5, 4, 3, 5));
  write_gzip(lab, idx_labels({1, 2, 10, 4, 5}));
  CHECK_THAT(msg_of(), Catch::Contains(lab) && Catch::Contains("label 10 at offset 10 is out of range"));
  write_gzip(lab, idx_labels({1, 2, 3}));
  CHECK_THAT(msg_of(), Catch::Contains("3 labels") && Catch::Contains("5 images"));
}

TEST_CASE("read_fashion_mnist: the Debian data set", "[data]") {
  if (!fs::exists(std::string(kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz")) {
    WARN("SKIPPED: " << kFashionMnistDir << " is not installed (Debian dataset-fashion-mnist)");
    return;
  }
  DatasetPtr test = open_dataset("fashion-mnist", false);
  REQUIRE(test->size() == 10000);
  REQUIRE(class_counts(*test) == std::vector<int64_t>(10, 1000));
  const Example e = test->get(0);
  REQUIRE(e.label == 9);  // the first test image is an ankle boot
  REQUIRE(e.image.shape() == Shape{1, 28, 28});
  const auto v = e.image.to_vector();
  REQUIRE(*std::min_element(v.begin(), v.end()) == 0.0);
  REQUIRE(*std::max_element(v.begin(), v.end()) <= 1.0);
  REQUIRE(*std::max_element(v.begin(), v.end()) > 0.5);
}

TEST_CASE("read_image_list: PNG/JPEG lists decoded to RGB", "[data]") {
  TempDir t;
  // A 3x2 RGB PNG (with a space in its name), a 2x2 grayscale PNG and a 16x8 JPEG.
  std::vector<uint8_t> rgb(2 * 3 * 3), gray{0, 85, 170, 255}, jpg(8 * 16 * 3, 128);
  for (size_t k = 0; k < rgb.size(); ++k) rgb[k] = (uint8_t)(k * 11);
  fs::create_directories(t.path / "img");
  REQUIRE(stbi_write_png((t / "img/a b.png").c_str(), 3, 2, 3, rgb.data(), 3 * 3));
  REQUIRE(stbi_write_png((t / "img/g.png").c_str(), 2, 2, 1, gray.data(), 2));
  REQUIRE(stbi_write_jpg((t / "img/c.jpg").c_str(), 16, 8, 3, jpg.data(), 95));
  write_file(t / "train800val200.txt", "img/a b.png 2\r\n\n# comment\nimg/g.png 0\n  img/c.jpg\t4  \n");
  write_file(t / "test.txt", "img/g.png 1\n");

  DatasetPtr d = read_image_list(t.path.string(), t / "train800val200.txt");
  REQUIRE(d->size() == 3);
  REQUIRE(d->num_classes() == 5);
  REQUIRE(d->label(0) == 2);
  REQUIRE(d->label(2) == 4);
  const Example a = d->get(0);
  REQUIRE(a.image.shape() == Shape{3, 2, 3});  // (C, H, W) from the file's (H, W, C)
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < 2; ++y)
      for (int64_t x = 0; x < 3; ++x)
        REQUIRE(a.image.data<float>()[(c * 2 + y) * 3 + x] == rgb[(y * 3 + x) * 3 + c] / 255.0f);
  const Example g = d->get(1);
  REQUIRE(g.image.shape() == Shape{3, 2, 2});  // grayscale becomes RGB
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t p = 0; p < 4; ++p) REQUIRE(g.image.data<float>()[c * 4 + p] == gray[p] / 255.0f);
  const Example j = d->get(2);
  REQUIRE(j.image.shape() == Shape{3, 8, 16});
  for (double v : j.image.to_vector()) REQUIRE(std::abs(v - 128 / 255.0) < 3 / 255.0);  // lossy

  // open_dataset: an explicit list relative to ROOT, and the VTAB-1K default names.
  REQUIRE(open_dataset("list:" + t.path.string() + ":test.txt", true)->size() == 1);
  REQUIRE(open_dataset("list:" + t.path.string(), true)->size() == 3);
  REQUIRE(open_dataset("list:" + t.path.string(), false)->label(0) == 1);
}

TEST_CASE("read_image_list: bad lines and undecodable images name the list and line", "[data]") {
  TempDir t;
  std::vector<uint8_t> px(4 * 4 * 3, 7);
  REQUIRE(stbi_write_png((t / "ok.png").c_str(), 4, 4, 3, px.data(), 12));
  const std::string list = t / "list.txt";
  auto msg_for = [&](const std::string& text) {
    write_file(list, text);
    return error_of([&] { read_image_list(t.path.string(), list); });
  };
  CHECK_THAT(msg_for("ok.png 1\nok.png\n"), Catch::Contains(list + ":2: no label"));
  CHECK_THAT(msg_for("ok.png 1\n\nok.png cat\n"), Catch::Contains(list + ":3: label 'cat' is not an integer"));
  CHECK_THAT(msg_for("ok.png -1\n"), Catch::Contains(list + ":1: negative label"));
  CHECK_THAT(msg_for("ok.png 2\nmissing.png 0\n"), Catch::Contains(list + ":2: no such image file") &&
                                                       Catch::Contains("missing.png"));
  CHECK_THAT(msg_for("\n\n"), Catch::Contains("names no image"));
  CHECK_THAT(error_of([&] { read_image_list(t.path.string(), t / "nope.txt"); }),
             Catch::Contains("nope.txt: cannot open"));

  // A file that is not an image: the list reads, get() throws naming list, line and file.
  write_file(t / "bad.jpg", std::string("\xFF\xD8\xFF garbage, not a JPEG", 24));
  write_file(list, "ok.png 0\nbad.jpg 1\n");
  DatasetPtr d = read_image_list(t.path.string(), list);
  REQUIRE(d->get(0).image.shape() == Shape{3, 4, 4});
  CHECK_THAT(error_of([&] { d->get(1); }), Catch::Contains(list + ":2: cannot decode") &&
                                                Catch::Contains("bad.jpg"));
  CHECK_THAT(error_of([&] { d->get(2); }), Catch::Contains("index 2 out of range"));
}

TEST_CASE("image files: truncated, oversized and unsupported images are refused, not decoded", "[data][errors]") {
  // tasks/data/image_file.h: every image checked before stb_image decodes it.
  TempDir t;
  std::vector<uint8_t> px(8 * 6 * 3);
  for (size_t k = 0; k < px.size(); ++k) px[k] = (uint8_t)(k * 7);
  REQUIRE(stbi_write_png((t / "a.png").c_str(), 8, 6, 3, px.data(), 8 * 3));
  REQUIRE(stbi_write_jpg((t / "a.jpg").c_str(), 8, 6, 3, px.data(), 90));
  REQUIRE(stbi_write_bmp((t / "a.bmp").c_str(), 8, 6, 3, px.data()));
  REQUIRE(stbi_write_tga((t / "a.tga").c_str(), 8, 6, 3, px.data()));
  write_file(t / "a.ppm", "P6\n8 6\n255\n" + std::string(px.begin(), px.end()));
  const std::string list = t / "list.txt";
  // One image through the list reader: its error, or "" when it decodes.
  auto decode = [&](const std::string& name, const std::string& bytes) -> std::string {
    write_file(t / name, bytes);
    write_file(list, name + " 0\n");
    try {
      read_image_list(t.path.string(), list)->get(0);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  for (const char* f : {"a.png", "a.jpg", "a.bmp", "a.ppm"}) {
    const std::string whole = read_bytes(t / f);
    INFO(f);
    CHECK(decode(std::string("copy_") + f, whole).empty());  // whole: decodes
    // Cut anywhere past the header: never an image with a made-up tail.
    for (size_t cut : {whole.size() - 1, whole.size() - 2, whole.size() / 2, whole.size() * 3 / 4}) {
      INFO("cut at " << cut << " of " << whole.size());
      const std::string msg = decode(std::string("cut_") + f, whole.substr(0, cut));
      CHECK_THAT(msg, Catch::Contains(list + ":1: cannot decode") && Catch::Contains(std::string("cut_") + f));
    }
  }
  CHECK_THAT(decode("cut2_a.png", read_bytes(t / "a.png").substr(0, 60)), Catch::Contains("truncated PNG") || Catch::Contains("past the end"));
  CHECK_THAT(decode("cut2_a.ppm", read_bytes(t / "a.ppm").substr(0, 100)), Catch::Contains("truncated PNM"));
  CHECK_THAT(decode("cut2_a.bmp", read_bytes(t / "a.bmp").substr(0, 100)), Catch::Contains("truncated BMP"));
  CHECK_THAT(decode("cut2_a.jpg", read_bytes(t / "a.jpg").substr(0, read_bytes(t / "a.jpg").size() - 2)),
             Catch::Contains("truncated JPEG"));
  {  // A scan that names a Huffman table the file never defines: stb would decode with an
     // uninitialised table and read out of bounds (fuzz finding, tests/fuzz/regressions/image).
    std::string jpg = read_bytes(t / "a.jpg");
    const size_t sos = jpg.find("\xFF\xDA");
    REQUIRE(sos != std::string::npos);
    REQUIRE((uint8_t)jpg[sos + 6] == 0x00);  // component 1: DC 0, AC 0
    jpg[sos + 6] = 0x02;                     // AC table 2: never defined
    CHECK_THAT(decode("undefined_table.jpg", jpg), Catch::Contains("uses a Huffman table (DC 0, AC 2) that was not defined"));
    jpg[sos + 6] = 0x00;
    jpg[sos + 5] = 9;  // a component the frame does not have
    CHECK_THAT(decode("no_component.jpg", jpg), Catch::Contains("component 9 is not in the frame"));
  }
  // Formats nobody here needs are refused by name; GIF and TGA would be decoded by guesswork.
  CHECK_THAT(decode("b.tga", read_bytes(t / "a.tga")), Catch::Contains("not a PNG, JPEG, BMP or binary PPM/PGM"));
  CHECK_THAT(decode("b.gif", "GIF89a\x08\x00\x06\x00"), Catch::Contains("not a PNG, JPEG, BMP or binary PPM/PGM"));
  CHECK_THAT(decode("p16.pgm", std::string("P5\n2 1\n65535\n\x01\x02\x03\x04", 17)), Catch::Contains("only 8-bit"));
  // Sizes from the header, refused before anything is allocated.
  CHECK_THAT(decode("big.ppm", "P6\n16000 16000\n255\n"), Catch::Contains("at most 8192 a side"));
  CHECK_THAT(decode("mp.ppm", "P5\n8192 8192\n255\n" + std::string(64, '\0')), Catch::Contains("truncated PNM"));
  // A PNG chunk claiming a gigabyte (stb_image would allocate it): fuzz_nyu found this.
  std::string png = read_bytes(t / "a.png");
  png[33] = 0x40;  // the length of the chunk after IHDR: 0x40xxxxxx bytes
  CHECK_THAT(decode("huge_chunk.png", png), Catch::Contains("past the end of the file"));
}

TEST_CASE("open_dataset: unknown kinds and missing arguments", "[data]") {
  CHECK_THAT(error_of([] { open_dataset("imagenet:/x", true); }),
             Catch::Contains("unknown kind 'imagenet'") && Catch::Contains("cifar100:DIR") &&
                 Catch::Contains("fashion-mnist") && Catch::Contains("list:ROOT"));
  CHECK_THAT(error_of([] { open_dataset("cifar10", true); }), Catch::Contains("needs DIR"));
  CHECK_THAT(error_of([] { open_dataset("list:", true); }), Catch::Contains("needs ROOT"));
}

// ---------------------------------------------------------------- views

namespace {
// n images (1, 1, 1) whose pixel is the example's index, labels[i].
DatasetPtr tiny(const std::vector<int64_t>& labels, int64_t classes) {
  const int64_t n = (int64_t)labels.size();
  Tensor img = Tensor::empty({n, 1, 1, 1}, DType::U8);
  for (int64_t i = 0; i < n; ++i) img.data<uint8_t>()[i] = (uint8_t)i;
  return std::make_shared<ImageTensorDataset>(img, labels, classes, "tiny");
}
int64_t id_of(const Example& e) { return (int64_t)std::lround(e.image.item() * 255); }
}  // namespace

TEST_CASE("data set views: subset, select_classes, sample_per_class", "[data]") {
  // 3 classes with 6, 4 and 2 examples.
  DatasetPtr d = tiny({0, 1, 0, 2, 1, 0, 0, 1, 2, 0, 1, 0}, 3);
  REQUIRE(class_counts(*d) == std::vector<int64_t>{6, 4, 2});

  DatasetPtr s = subset(d, {5, 3, 3});
  REQUIRE(s->size() == 3);
  REQUIRE(id_of(s->get(0)) == 5);
  REQUIRE(s->get(1).label == 2);
  REQUIRE(s->num_classes() == 3);

  // Classes 2 and 1, relabelled 0 and 1, in the original order.
  DatasetPtr c = select_classes(d, {2, 1});
  REQUIRE(c->num_classes() == 2);
  std::vector<int64_t> ids, ls;
  for (int64_t i = 0; i < c->size(); ++i) {
    ids.push_back(id_of(c->get(i)));
    ls.push_back(c->label(i));
    REQUIRE(c->get(i).label == c->label(i));
  }
  REQUIRE(ids == std::vector<int64_t>{1, 3, 4, 7, 8, 10});
  REQUIRE(ls == std::vector<int64_t>{1, 0, 1, 1, 0, 1});

  // Stratified: 7 = 2 + 2 + 2 + 1 extra; 10 = class 2 gives its 2, the rest share 8 -> 4 + 4.
  DatasetPtr p = sample_per_class(d, 7, 1);
  const auto counts = class_counts(*p);
  REQUIRE(p->size() == 7);
  REQUIRE(std::min({counts[0], counts[1], counts[2]}) == 2);
  REQUIRE(class_counts(*sample_per_class(d, 10, 1)) == std::vector<int64_t>{4, 4, 2});
  REQUIRE(sample_per_class(d, 100, 1)->size() == 12);
  // Deterministic with a seed, in the original order, and other seeds pick other examples.
  auto picked = [&](uint64_t seed) {
    DatasetPtr q = sample_per_class(d, 6, seed);
    std::vector<int64_t> v;
    for (int64_t i = 0; i < q->size(); ++i) v.push_back(id_of(q->get(i)));
    return v;
  };
  const std::vector<int64_t> p3 = picked(3);
  REQUIRE(picked(3) == p3);
  REQUIRE(p3.size() == 6);
  REQUIRE(std::is_sorted(p3.begin(), p3.end()));
  bool differs = false;
  for (uint64_t seed = 4; seed < 10; ++seed) differs = differs || picked(seed) != p3;
  REQUIRE(differs);
}

TEST_CASE("data set views and ImageTensorDataset: bad arguments", "[data]") {
  DatasetPtr d = tiny({0, 1, 2}, 3);
  CHECK_THAT(error_of([&] { subset(d, {0, 3}); }), Catch::Contains("index 3 out of range [0, 3)"));
  CHECK_THAT(error_of([&] { select_classes(d, {1, 1}); }), Catch::Contains("class 1 is listed twice"));
  CHECK_THAT(error_of([&] { select_classes(d, {3}); }), Catch::Contains("class 3 out of range"));
  CHECK_THAT(error_of([&] { sample_per_class(d, 0, 1); }), Catch::Contains("n_total must be >= 1"));
  CHECK_THAT(error_of([&] { d->get(-1); }), Catch::Contains("index -1 out of range"));
  Tensor img = Tensor::zeros({2, 1, 1, 1}, DType::U8);
  CHECK_THAT(error_of([&] { ImageTensorDataset(img, {0, 5}, 3, "x"); }),
             Catch::Contains("label 5 of example 1 is out of range [0, 3)"));
  CHECK_THAT(error_of([&] { ImageTensorDataset(img, {0}, 3, "x"); }),
             Catch::Contains("2 images but 1 labels"));
  CHECK_THAT(error_of([&] { ImageTensorDataset(Tensor::zeros({2, 1, 1}), {0, 0}, 3, "x"); }),
             Catch::Contains("(N, C, H, W) U8") && Catch::Contains("[2, 1, 1]"));
}
