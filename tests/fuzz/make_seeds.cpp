// make_seeds.cpp — writes the seed corpus of every fuzz target (tests/fuzz/fuzz_*.cpp):
// `vitune-fuzz-seeds OUT` fills OUT/<target>/ with small valid inputs made by our own writers
// (safetensors, adapters, trainer state, model directories) and by hand (CIFAR, IDX, images,
// lists, COCO annotations), laid out as each target reads its input (fuzz_util.h split/join).
// bench/fuzz.sh starts libFuzzer from them; the suite replays them through every target (meson
// test 'fuzz').
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "engine/io/safetensors.h"
#include "engine/optim.h"
#include "nn/model_zoo.h"
#include "peft/adapter_file.h"
#include "tasks/dense/visualize.h"
#include "tasks/train/trainer_state.h"
#include "tests/fuzz/fuzz_util.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using vt::fuzz::join;

namespace {

std::string out_dir;

void seed(const std::string& target, const std::string& name, const std::string& bytes) {
  static std::set<std::string> fresh;  // a target's old seeds go before its first new one
  if (fresh.insert(target).second) fs::remove_all(out_dir + "/" + target);
  fs::create_directories(out_dir + "/" + target);
  std::ofstream(out_dir + "/" + target + "/" + name, std::ios::binary).write(bytes.data(), (std::streamsize)bytes.size());
}
std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
// A scratch path for our writers (they take paths).
std::string tmp(const std::string& name) {
  const std::string d = out_dir + "/.tmp";
  fs::create_directories(d);
  return d + "/" + name;
}

std::string gzip(const std::string& raw) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);  // +16: a gzip wrapper
  std::string out(deflateBound(&z, raw.size()) + 32, '\0');
  z.next_in = (Bytef*)raw.data(), z.avail_in = (uInt)raw.size();
  z.next_out = (Bytef*)out.data(), z.avail_out = (uInt)out.size();
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}
// A version 1.0 .npy image: magic, header padded with spaces to a multiple of 64, then data.
std::string npy(std::string header, const std::string& data) {
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  return std::string("\x93NUMPY\x01\x00", 8) + (char)(header.size() & 255) + (char)(header.size() >> 8) + header + data;
}
std::string be32(uint32_t v) { return {(char)(v >> 24), (char)(v >> 16 & 255), (char)(v >> 8 & 255), (char)(v & 255)}; }

// h x w images with `comp` channels, a gradient pattern.
std::vector<unsigned char> pattern(int w, int h, int comp, int mod = 256) {
  std::vector<unsigned char> px((size_t)w * h * comp);
  for (size_t i = 0; i < px.size(); ++i) px[i] = (unsigned char)((i * 37 + i / 7) % mod);
  return px;
}
void to_string_cb(void* ctx, void* data, int size) { ((std::string*)ctx)->append((const char*)data, size); }
std::string png(int w, int h, int comp, int mod = 256) {
  std::string s;
  auto px = pattern(w, h, comp, mod);
  stbi_write_png_to_func(to_string_cb, &s, w, h, comp, px.data(), w * comp);
  return s;
}
std::string jpg(int w, int h) {
  std::string s;
  auto px = pattern(w, h, 3);
  stbi_write_jpg_to_func(to_string_cb, &s, w, h, 3, px.data(), 90);
  return s;
}
std::string bmp(int w, int h) {
  std::string s;
  auto px = pattern(w, h, 3);
  stbi_write_bmp_to_func(to_string_cb, &s, w, h, 3, px.data());
  return s;
}
std::string ppm(int w, int h) {
  auto px = pattern(w, h, 3);
  return "P6\n" + std::to_string(w) + " " + std::to_string(h) + "\n255\n" + std::string(px.begin(), px.end());
}

void data_seeds() {
  for (int which : {10, 100}) {  // two records each
    std::string f(1, which == 100 ? '\1' : '\0');
    for (int r = 0; r < 2; ++r) {
      if (which == 100) f += (char)3;  // coarse label
      f += (char)(r + 1);
      auto px = pattern(32, 32, 3);
      f.append(px.begin(), px.end());
    }
    seed("cifar", "cifar" + std::to_string(which), f);
  }
  std::string images = be32(0x803) + be32(2) + be32(28) + be32(28), labels = be32(0x801) + be32(2) + "\3\7";
  auto px = pattern(28, 28 * 2, 1);
  images.append(px.begin(), px.end());
  seed("idx", "plain", std::string(1, '\0') + join({images, labels}));
  seed("idx", "gzip", std::string(1, '\1') + join({gzip(images), gzip(labels)}));
  seed("image", "png_rgb", png(8, 6, 3));
  seed("image", "png_grey_alpha", png(5, 4, 2));
  seed("image", "jpg", jpg(8, 8));
  seed("image", "bmp", bmp(4, 3));
  seed("image", "ppm", ppm(3, 2));
  seed("image", "pgm", "P5\n2 2\n255\n\1\2\3\4");
  seed("image_list", "one", "a.ppm 0\n");
  seed("image_list", "several", "# a comment\n\na.ppm 3\na.ppm 1\n  a.ppm   2  \n");
  seed("ade20k", "jpg_png", join({jpg(8, 8), png(8, 8, 1, 7)}));
  seed("ade20k", "png_png", join({png(4, 4, 3), png(4, 4, 1, 151)}));
  std::vector<uint16_t> depth(64);
  for (size_t i = 0; i < depth.size(); ++i) depth[i] = (uint16_t)(i * 1000);
  vt::data::write_png16(tmp("d.png"), depth, 8, 8);
  seed("nyu", "pair", join({"rgb.png d.png 518.8\n", png(8, 8, 3), read_bytes(tmp("d.png"))}));
  seed("nyu", "two_lines", join({"# split\n/rgb.png /d.png\nrgb.png d.png\n", png(8, 8, 3), read_bytes(tmp("d.png"))}));
}

// COCO annotations (fuzz_coco.cpp): polygons, compressed and uncompressed RLE, a crowd region,
// a box of width 0, an image without objects; and a grey image.
void coco_seeds() {
  const json rgb = {
      {"images", {{{"id", 1}, {"file_name", "a.png"}, {"width", 8}, {"height", 6}},
                  {{"id", 2}, {"file_name", "a.png"}, {"width", 8}, {"height", 6}}}},
      {"categories", {{{"id", 3}, {"name", "car"}}, {{"id", 1}, {"name", "person"}}}},
      {"annotations",
       {{{"id", 1}, {"image_id", 1}, {"category_id", 1}, {"bbox", {1, 1, 4, 3}}, {"area", 12},
         {"iscrowd", 0}, {"segmentation", {{1, 1, 5, 1, 5, 4, 1, 4}, {6, 0, 8, 0, 7, 2}}}},
        {{"id", 2}, {"image_id", 1}, {"category_id", 3}, {"bbox", {1, 4, 2, 2}}, {"area", 5},
         {"iscrowd", 0}, {"segmentation", {{"size", {6, 8}}, {"counts", ":5Q1"}}}},
        {{"id", 3}, {"image_id", 1}, {"category_id", 3}, {"bbox", {0, 0, 8, 6}}, {"area", 48},
         {"iscrowd", 1}, {"segmentation", {{"size", {6, 8}}, {"counts", {0, 48}}}}},
        {{"id", 4}, {"image_id", 1}, {"category_id", 1}, {"bbox", {2, 2, 0, 3}}, {"area", 0},
         {"iscrowd", 0}, {"segmentation", {{2, 2, 3, 2, 3, 3}}}}}}};
  seed("coco", "polygons_rle", join({rgb.dump(), png(8, 6, 3)}));
  const json grey = {
      {"images", {{{"id", 7}, {"file_name", "a.png"}, {"width", 5}, {"height", 4}}}},
      {"categories", {{{"id", 1}, {"name", "thing"}}}},
      {"annotations", {{{"id", 9}, {"image_id", 7}, {"category_id", 1}, {"bbox", {0.5, 0.5, 3, 2.5}},
                        {"area", 7.5}, {"iscrowd", 0}, {"segmentation", {{0.5, 0.5, 3.5, 0.5, 3.5, 3, 0.5, 3}}}}}}};
  seed("coco", "grey", join({grey.dump(2), png(5, 4, 1)}));
}

void tensor_seeds() {
  std::map<std::string, vt::Tensor> ts = {
      {"a", vt::Tensor::ones({2, 3})},
      {"b", vt::Tensor::zeros({4}).to(vt::DType::BF16)},
      {"c", vt::Tensor::zeros({2, 1}).to(vt::DType::I64)},
      {"scalar", vt::Tensor::scalar(1.5)}};
  vt::save_safetensors(tmp("t.safetensors"), ts, {{"format", "pt"}, {"note", "seed"}});
  seed("safetensors", "mixed", read_bytes(tmp("t.safetensors")));
  vt::save_safetensors(tmp("e.safetensors"), {});
  seed("safetensors", "empty", read_bytes(tmp("e.safetensors")));
}

void model_seeds(const std::string& fixtures) {
  // Small configs of both families in our layout, and transformers' ViT from the fixtures.
  const json vit = {{"base", "vit_test_tiny"}, {"dim", 16}, {"depth", 1}, {"heads", 2}, {"img_size", 16}, {"num_classes", 3}};
  const json swin = {{"base", "swin_test_tiny"}, {"dim", 8}, {"depths", {1, 1}}, {"heads", {1, 2}},
                     {"img_size", 56}, {"window", 7}, {"num_classes", 3}};
  for (auto& [name, cfg] : std::vector<std::pair<std::string, json>>{{"vit", vit}, {"swin", swin}}) {
    auto m = vt::nn::create_model_from_config(cfg);
    vt::nn::save_model_dir(tmp(name), *m);
    seed("model", name, join({read_bytes(tmp(name) + "/config.json"), read_bytes(tmp(name) + "/model.safetensors")}));
    seed("model", name + "_vitune_config", join({cfg.dump(), read_bytes(tmp(name) + "/model.safetensors")}));
  }
  const std::string hf = fixtures + "/interop/hf_vit";
  if (fs::exists(hf)) seed("model", "transformers_vit", join({read_bytes(hf + "/config.json"), read_bytes(hf + "/model.safetensors")}));
}

void method_seeds() {
  for (const auto& m : vt::peft::methods()) {
    seed("tuner_config", m.name, json{{"method", m.name}, {"options", json::object()}}.dump());
    auto model = vt::nn::create_model_from_config(json::parse(vt::fuzz::kSmallVit), 10);
    vt::peft::TunerConfig cfg;
    cfg.method = m.name;
    try {
      cfg = vt::peft::apply_method(*model, cfg);
    } catch (const vt::Error&) {
      continue;  // a method for another family
    }
    seed("tuner_config", m.name + "_resolved", cfg.to_json().dump());
    const std::string dir = tmp("adapter_" + m.name);
    vt::peft::save_adapter(dir, *model, {cfg, model->name(), 10, nullptr});
    if (m.name == "lora" || m.name == "linear" || m.name == "adapter" || m.name == "ssf" || m.name == "vpt")
      seed("adapter", m.name, join({read_bytes(dir + "/adapter_config.json"), read_bytes(dir + "/adapter_model.safetensors")}));
  }
  auto model = vt::nn::create_model_from_config(json::parse(vt::fuzz::kSmallVit), 10);
  vt::peft::TunerConfig cfg;
  cfg.method = "lora";
  cfg = vt::peft::apply_method(*model, cfg);
  vt::peft::AdapterInfo info{cfg, model->name(), 10, nullptr};
  info.format = "peft";
  const std::string dir = tmp("adapter_peft");
  vt::peft::save_adapter(dir, *model, info);
  seed("adapter", "peft_lora", join({read_bytes(dir + "/adapter_config.json"), read_bytes(dir + "/adapter_model.safetensors")}));
}

void run_seeds() {
  seed("run_config", "small", R"({"model": "vit_test_tiny", "data": "fashion-mnist", "method": "lora", "epochs": 2, "lr": 0.001, "batch": 8})");
  seed("run_config", "lists", R"({"method-opt": ["r=4", "alpha=8"], "precision": "bf16", "on-nonfinite": "skip", "seed": 3, "resume": true})");
  vt::Tensor w = vt::Tensor::zeros({3, 4}).set_requires_grad(true), b = vt::Tensor::zeros({4}).set_requires_grad(true);
  vt::AdamW opt({vt::ParamGroup{{w, b}}}, 1e-3);
  w.set_grad(vt::Tensor::ones({3, 4})), b.set_grad(vt::Tensor::ones({4}));
  opt.step();
  vt::tasks::TrainerState s;
  s.epoch = 1;
  s.history = {{0, 1.5, nullptr}, {1, 1.2, {{"top1", 50.0}, {"loss", 1.1}}}};
  s.best_score = 50, s.best_epoch = 2, s.rng_seed = 7, s.rng_offset = 1234;
  s.options = {{"epochs", 4}, {"lr", 0.001}};
  s.optimizer = opt.state();
  vt::tasks::write_trainer_state(tmp("state.safetensors"), s);
  const std::string metrics = "{\"type\": \"train\", \"epoch\": 1, \"loss\": 1.5}\n{\"type\": \"eval\", \"epoch\": 2, \"top1\": 50}\n"
                              "{\"type\": \"train\", \"epoch\": 3, \"loss\": 1.0}\n";
  seed("trainer_state", "two_epochs", join({read_bytes(tmp("state.safetensors")), metrics}));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s OUT [FIXTURE_DIR]\n", argv[0]);
    return 2;
  }
  out_dir = argv[1];
  const std::string fixtures = argc > 2 ? argv[2] : "";
  data_seeds();
  coco_seeds();
  tensor_seeds();
  if (fs::exists(fixtures + "/npz_dtypes.npz")) seed("npz", "npz_dtypes", read_bytes(fixtures + "/npz_dtypes.npz"));
  seed("npz", "npy_f4", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", std::string(8, '\0')));
  seed("npz", "npy_i8_2d", npy("{'descr': '<i8', 'fortran_order': False, 'shape': (1, 2), }", std::string(16, '\1')));
  model_seeds(fixtures);
  method_seeds();
  run_seeds();
  fs::remove_all(out_dir + "/.tmp");
  std::printf("seeds written to %s\n", out_dir.c_str());
  return 0;
}
