// test_safetensors.cpp — the format's test vectors, round trips, and every malformed-file path.
#include <cstdio>
#include <cstring>
#include <fstream>

#include "tests/helpers.h"

using namespace vt;

namespace {
std::string read_all(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
void write_raw(const std::string& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary);
  f << s;
}
std::string with_header(const std::string& json, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out[i] = (char)((n >> (8 * i)) & 0xff);
  return out + json + data;
}
std::string tmp(const char* name) { return std::string("/tmp/vitune_test_") + name; }
}  // namespace

TEST_CASE("safetensors test vectors", "[io][safetensors]") {
  save_safetensors(tmp("empty.st"), {}, {});
  std::string e = read_all(tmp("empty.st"));
  REQUIRE(e.size() == 16);
  REQUIRE(e.substr(0, 8) == std::string("\x08\0\0\0\0\0\0\0", 8));
  REQUIRE(e.substr(8) == "{}      ");

  auto t = Tensor::arange(6).reshape({1, 2, 3});
  save_safetensors(tmp("one.st"), {{"attn.0", t}}, {});
  std::string o = read_all(tmp("one.st"));
  REQUIRE((unsigned char)o[0] == 64);
  REQUIRE(o.substr(8, 64).find(R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})") == 0);
  REQUIRE(o.size() == 8 + 64 + 24);
  auto back = load_safetensors(tmp("one.st"));
  REQUIRE(back.tensors.at("attn.0").to_vector() == t.to_vector());
}

TEST_CASE("safetensors round trip keeps dtypes, shapes and metadata", "[io][safetensors]") {
  std::map<std::string, Tensor> m = {
      {"a", test::rand_tensor({3, 4}, 1, DType::F32)},
      {"b", test::rand_tensor({2}, 2, DType::F64)},
      {"idx", Tensor::from_vector(std::vector<int64_t>{5, -1, 7}, {3})},
      {"scalar", Tensor::scalar(3.5)},
      {"strided", test::rand_strided({3, 2}, 3, 0, 1, DType::F32)}};
  save_safetensors(tmp("rt.st"), m);
  auto f = load_safetensors(tmp("rt.st"));
  REQUIRE(f.metadata.at("format") == "pt");
  for (auto& [k, v] : m) {
    INFO(k);
    REQUIRE(f.tensors.at(k).dtype() == v.dtype());
    REQUIRE(f.tensors.at(k).shape() == v.shape());
    REQUIRE(f.tensors.at(k).to_vector() == v.to_vector());
  }
}

TEST_CASE("safetensors reads F16 as F32, BF16 as BF16, and writes BF16 back unchanged", "[io][safetensors][bf16]") {
  // 1.0, -2.0, 0.5 in f16: 0x3c00, 0xc000, 0x3800; in bf16: 0x3f80, 0xc000, 0x3f00
  std::string f16("\x00\x3c\x00\xc0\x00\x38", 6), bf16("\x80\x3f\x00\xc0\x00\x3f", 6);
  std::string js = R"({"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"BF16","shape":[3],"data_offsets":[6,12]}})";
  write_raw(tmp("half.st"), with_header(js, f16 + bf16));
  auto f = load_safetensors(tmp("half.st"));
  REQUIRE(f.tensors.at("h").dtype() == DType::F32);
  REQUIRE(f.tensors.at("h").to_vector() == std::vector<double>{1.0, -2.0, 0.5});
  REQUIRE(f.tensors.at("b").dtype() == DType::BF16);
  REQUIRE(f.tensors.at("b").to_vector() == std::vector<double>{1.0, -2.0, 0.5});
  // Written as BF16: the same two bytes per element, no detour through F32.
  save_safetensors(tmp("b16.st"), {{"b", f.tensors.at("b")}});
  auto g = load_safetensors(tmp("b16.st"));
  REQUIRE(g.tensors.at("b").dtype() == DType::BF16);
  REQUIRE(std::memcmp(g.tensors.at("b").raw(), bf16.data(), 6) == 0);
}

TEST_CASE("malformed safetensors files are rejected with a clear message", "[io][safetensors][errors]") {
  auto check = [](const char* name, const std::string& bytes, const char* msg) {
    INFO(name);
    write_raw(tmp(name), bytes);
    REQUIRE_THROWS_WITH(load_safetensors(tmp(name)),
                        Catch::Contains(tmp(name)) && Catch::Contains(msg));
  };
  std::string data(24, '\0');
  std::string good = R"({"x":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})";
  check("short", "abc", "not a safetensors file");
  check("trunc_header", with_header(good, data).substr(0, 30), "truncated");
  check("trunc_data", with_header(good, data.substr(0, 20)), "outside");
  check("bad_json", with_header("{\"x\": [1, 2", data), "bad JSON");
  check("bad_dtype", with_header(R"({"x":{"dtype":"Q7","shape":[2,3],"data_offsets":[0,24]}})", data), "unsupported dtype");
  check("bad_shape", with_header(R"({"x":{"dtype":"F32","shape":[2,4],"data_offsets":[0,24]}})", data), "bytes for shape");
  check("overlap", with_header(R"({"x":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"y":{"dtype":"F32","shape":[1],"data_offsets":[20,24]}})", data), "overlap");
  check("hole", with_header(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", std::string(8, '\0')), "hole");
  check("extra_data", with_header(good, data + "xxxx"), "tensors cover");
  check("neg_shape", with_header(R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", std::string(4, '\0')), "negative");
  std::string huge(8, '\xff');
  check("huge_header", huge, "exceeds");
  REQUIRE_THROWS_WITH(load_safetensors("/nonexistent/x.st"), Catch::Contains("/nonexistent/x.st"));
}
