// test_npz.cpp — the .npz reader (engine/io/npz) and Google's Flax ViT layout
// (nn/checkpoint_google.cpp): numpy-written fixtures (tests/reference/npz.py), the vit_test_tiny
// weights in Google layout reproducing PyTorch's logits, and malformed archives built here by a
// minimal zip writer so each defect is exactly the one under test.
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "engine/io/npz.h"
#include "nn/checkpoint.h"
#include "nn/vit.h"
#include "tests/helpers.h"

using namespace vt;
using namespace vt::nn;
using namespace vt::test;

namespace {

std::string fixture(const std::string& f) { return std::string(VT_FIXTURE_DIR) + "/" + f; }

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// A temporary file holding `bytes`, removed afterwards.
struct TempFile {
  std::string path;
  TempFile(const std::string& name, const std::string& bytes) : path("/tmp/vt_npz_test_" + std::to_string(getpid()) + "_" + name) {
    std::ofstream(path, std::ios::binary).write(bytes.data(), bytes.size());
  }
  ~TempFile() { std::remove(path.c_str()); }
};

// ---- a minimal zip writer (stored members unless told otherwise) ----
void put16(std::string& s, uint32_t v) { s += (char)(v & 0xff), s += (char)(v >> 8 & 0xff); }
void put32(std::string& s, uint32_t v) { put16(s, v & 0xffff), put16(s, v >> 16); }

struct Member {
  std::string name, data;  // data as stored in the archive
  uint16_t method = 0, flags = 0;
  int64_t crc = -1;          // -1: the CRC-32 of data
  int64_t usize = -1;        // -1: data.size()
};

std::string make_zip(const std::vector<Member>& members, uint16_t n_total_override = 0) {
  std::string out, cd;
  for (const Member& m : members) {
    const uint32_t crc = m.crc >= 0 ? (uint32_t)m.crc : (uint32_t)crc32(0L, (const Bytef*)m.data.data(), m.data.size());
    const uint32_t usize = m.usize >= 0 ? (uint32_t)m.usize : (uint32_t)m.data.size();
    const uint32_t offset = (uint32_t)out.size();
    put32(out, 0x04034b50), put16(out, 20), put16(out, m.flags), put16(out, m.method);
    put32(out, 0), put32(out, crc), put32(out, (uint32_t)m.data.size()), put32(out, usize);
    put16(out, (uint32_t)m.name.size()), put16(out, 0);
    out += m.name + m.data;
    put32(cd, 0x02014b50), put16(cd, 20), put16(cd, 20), put16(cd, m.flags), put16(cd, m.method);
    put32(cd, 0), put32(cd, crc), put32(cd, (uint32_t)m.data.size()), put32(cd, usize);
    put16(cd, (uint32_t)m.name.size()), put16(cd, 0), put16(cd, 0), put16(cd, 0), put16(cd, 0);
    put32(cd, 0), put32(cd, offset);
    cd += m.name;
  }
  const uint32_t cd_off = (uint32_t)out.size();
  out += cd;
  const uint16_t n = n_total_override ? n_total_override : (uint16_t)members.size();
  put32(out, 0x06054b50), put16(out, 0), put16(out, 0), put16(out, n), put16(out, n);
  put32(out, (uint32_t)cd.size()), put32(out, cd_off), put16(out, 0);
  return out;
}

// A version 1.0 .npy image: magic, header padded with spaces to a multiple of 64, then data.
std::string make_npy(const std::string& dict, const std::string& data) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::string out = std::string("\x93NUMPY\x01\x00", 8);
  put16(out, (uint32_t)header.size());
  return out + header + data;
}
std::string floats(std::vector<float> v) { return std::string((const char*)v.data(), v.size() * 4); }
const std::string kGoodDict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";

// Loads the archive `bytes` from a file named `name` and requires an error mentioning all of `parts`.
void require_npz_error(const std::string& name, const std::string& bytes, std::vector<std::string> parts) {
  TempFile f(name, bytes);
  INFO(name);
  try {
    load_npz(f.path);
    FAIL("no error for " << name);
  } catch (const Error& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find(f.path) != std::string::npos);
    for (auto& p : parts) CHECK(msg.find(p) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("npz: numpy's dtypes, shapes and member names", "[npz]") {
  auto a = load_npz(fixture("npz_dtypes.npz"));
  REQUIRE(a.size() == 9);
  REQUIRE(a.at("f4").dtype() == DType::F32);
  REQUIRE(a.at("f4").shape() == Shape{2, 3});
  REQUIRE(a.at("f4").to_vector() == std::vector<double>{-2.5, -1.5, -0.5, 0.5, 1.5, 2.5});
  REQUIRE(a.at("f8").dtype() == DType::F64);
  REQUIRE(a.at("f8").to_vector() == std::vector<double>{1e-300, -2.0, M_PI});
  // f2 is widened to F32: the smallest subnormal, the smallest normal, the largest, a negative.
  REQUIRE(a.at("f2").dtype() == DType::F32);
  REQUIRE(a.at("f2").to_vector() == std::vector<double>{std::ldexp(1.0, -24), std::ldexp(1.0, -14), 65504.0, -0.5});
  REQUIRE(a.at("i4").dtype() == DType::I32);
  REQUIRE(a.at("i4").to_vector() == std::vector<double>{-7, 0, 2147483647});
  REQUIRE(a.at("i8").dtype() == DType::I64);
  REQUIRE(a.at("i8").shape() == Shape{2, 1});
  REQUIRE(a.at("i8").to_vector() == std::vector<double>{-1099511627776.0, 5});
  REQUIRE(a.at("u1").to_vector() == std::vector<double>{0, 255});
  REQUIRE(a.at("b1").dtype() == DType::Bool);
  REQUIRE(a.at("b1").to_vector() == std::vector<double>{1, 0, 1});
  REQUIRE(a.at("group/scalar").shape() == Shape{});
  REQUIRE(a.at("group/scalar").item() == 3.25);
  REQUIRE(a.at("empty").shape() == Shape{0, 3});
}

TEST_CASE("npz: Google ViT checkpoints, stored and deflated, give PyTorch's logits", "[npz][nn][vit]") {
  auto io = load_safetensors(fixture("vit_test_tiny_io.safetensors")).tensors;
  auto timm = load_safetensors(fixture("vit_test_tiny_timm.safetensors")).tensors;
  for (const char* file : {"vit_test_tiny_google.npz", "vit_test_tiny_google_deflated.npz"}) {
    INFO(file);
    StateDict raw = read_checkpoint(fixture(file));
    REQUIRE(raw.count("Transformer/encoderblock_3/MultiHeadDotProductAttention_1/query/kernel"));
    REQUIRE(detect_vit_layout(raw) == KeyLayout::Google);
    // The mapped dict is the timm fixture exactly: same keys (pre_logits dropped), same values.
    StateDict mapped = google_vit_to_timm(raw);
    REQUIRE(mapped.size() == timm.size());
    for (auto& [k, t] : timm) {
      INFO(k);
      REQUIRE(mapped.count(k));
      require_close(mapped.at(k), t, 0, 0, k);
    }
    VisionTransformer m(ViTConfig::named("vit_test_tiny"));
    m.reset_head(10);
    REQUIRE(load_vit_checkpoint(m, fixture(file)).ok());
    m.eval();
    NoGrad ng;
    require_close(m.forward(io.at("images")), io.at("logits"), 1e-4, 1e-5, "logits");
  }
  // The format is also recognised by content, whatever the file is called.
  TempFile renamed("ckpt.bin", read_bytes(fixture("vit_test_tiny_google_deflated.npz")));
  REQUIRE(detect_vit_layout(read_checkpoint(renamed.path)) == KeyLayout::Google);
}

TEST_CASE("npz: Google layout problems name the tensor", "[npz][nn][errors]") {
  const StateDict good = read_checkpoint(fixture("vit_test_tiny_google_deflated.npz"));
  const std::string blk = "Transformer/encoderblock_1/";
  auto load = [](StateDict sd) {
    VisionTransformer m(ViTConfig::named("vit_test_tiny"));
    m.reset_head(10);
    return load_vit_state_dict(m, std::move(sd), {}, "g.npz");
  };
  StateDict sd = good;  // a Dense kernel of the wrong size: the load report names the timm key
  sd[blk + "MlpBlock_3/Dense_0/kernel"] = Tensor::zeros({64, 255});
  REQUIRE_THROWS_WITH(load(sd), Catch::Contains("g.npz") &&
                                    Catch::Contains("blocks.1.mlp.fc1.weight: file [255, 64] vs model [256, 64]"));
  sd = good;  // the wrong rank: the converter names the Google key
  sd[blk + "MultiHeadDotProductAttention_1/out/kernel"] = Tensor::zeros({64, 64});
  REQUIRE_THROWS_WITH(load(sd), Catch::Contains("'" + blk + "MultiHeadDotProductAttention_1/out/kernel' has shape [64, 64]"));
  sd = good;  // q/k/v must come as a set of equal shapes
  sd.erase(blk + "MultiHeadDotProductAttention_1/value/kernel");
  REQUIRE_THROWS_WITH(load(sd), Catch::Contains("block 1 lacks '" + blk + "MultiHeadDotProductAttention_1/value/kernel'"));
  sd = good;
  sd[blk + "MultiHeadDotProductAttention_1/key/kernel"] = Tensor::zeros({64, 2, 32});
  REQUIRE_THROWS_WITH(load(sd), Catch::Contains("key/kernel' has shape [64, 2, 32]"));
  sd = good;  // keys outside the layout are reported as unexpected
  sd["Transformer/encoderblock_1/LayerNorm_1/scale"] = Tensor::zeros({64});
  REQUIRE_THROWS_WITH(load(sd), Catch::Contains("unexpected key: Transformer/encoderblock_1/LayerNorm_1/scale"));

  // A training checkpoint: parameters under opt/target/ beside optimizer state.
  StateDict train;
  for (auto& [k, t] : good) train["opt/target/" + k] = t;
  train["opt/state/step"] = Tensor::zeros({});
  REQUIRE(detect_vit_layout(train) == KeyLayout::Google);
  REQUIRE(load(train).ok());
}

TEST_CASE("npz: malformed archives and .npy headers are refused by name", "[npz][errors]") {
  const std::string good_npy = make_npy(kGoodDict, floats({1, 2}));
  {  // the writer itself makes a readable archive
    TempFile f("ok.npz", make_zip({{"a/b.npy", good_npy}}));
    auto a = load_npz(f.path);
    REQUIRE(a.at("a/b").to_vector() == std::vector<double>{1, 2});
  }
  const std::string real = read_bytes(fixture("vit_test_tiny_google.npz"));
  require_npz_error("half.npz", real.substr(0, real.size() / 2), {"truncated or not a zip archive"});
  require_npz_error("tail.npz", real.substr(0, real.size() - 5), {"truncated or not a zip archive"});
  require_npz_error("text.npz", "this is not an archive at all", {"not a zip archive"});
  {  // the data cut short but the directory intact: offsets past the data
    std::string z = make_zip({{"x.npy", good_npy}});
    std::string cut = z;
    cut.erase(40, 30);  // drop 30 bytes of member data; the directory now points past it
    require_npz_error("cut.npz", cut, {"truncated or corrupt"});
  }
  Member bad_crc{"w.npy", good_npy};
  bad_crc.crc = 12345;
  require_npz_error("crc.npz", make_zip({bad_crc}), {"member 'w.npy'", "CRC-32 mismatch"});

  auto npy_error = [&](const std::string& name, const std::string& npy, std::vector<std::string> parts) {
    parts.push_back("member 'p/q.npy'");
    require_npz_error(name, make_zip({{"p/q.npy", npy}}), parts);
  };
  npy_error("magic.npz", "\x93NUMPX" + good_npy.substr(6), {"bad magic"});
  npy_error("dict.npz", make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,) ", floats({1, 2})),
            {"bad .npy header", "expected '}'"});
  npy_error("key.npz", make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", floats({1, 2})),
            {"unknown key 'x'"});
  npy_error("noshape.npz", make_npy("{'descr': '<f4', 'fortran_order': False}", floats({1, 2})),
            {"needs descr, fortran_order and shape"});
  npy_error("fortran.npz", make_npy("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 2), }", floats({1, 2})),
            {"fortran_order"});
  npy_error("complex.npz", make_npy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", floats({1, 2})),
            {"unsupported dtype '<c8'"});
  npy_error("bigendian.npz", make_npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", floats({1, 2})),
            {"unsupported dtype '>f4'"});
  npy_error("shape.npz", make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", floats({1, 2})),
            {"8 data bytes, but shape [3] of '<f4' needs 12"});
  npy_error("hlen.npz", good_npy.substr(0, 8) + "\xff\x7f" + good_npy.substr(10), {"overruns"});

  Member bz{"b.npy", good_npy};
  bz.method = 12;
  require_npz_error("bzip2.npz", make_zip({bz}), {"unsupported compression method 12"});
  Member enc{"e.npy", good_npy};
  enc.flags = 1;
  require_npz_error("encrypted.npz", make_zip({enc}), {"encrypted"});
  Member junk{"d.npy", "\xff\xff\xff garbage"};
  junk.method = 8;
  junk.usize = (int64_t)good_npy.size();
  require_npz_error("deflate.npz", make_zip({junk}), {"member 'd.npy'", "deflate"});
  require_npz_error("txt.npz", make_zip({{"notes.txt", "hello"}}), {"not a .npy member"});
  require_npz_error("dup.npz", make_zip({{"a.npy", good_npy}, {"a.npy", good_npy}}), {"duplicate member"});
  require_npz_error("zip64.npz", make_zip({{"a.npy", good_npy}}, 0xffff), {"zip64"});
}
