// open_dataset.cpp — data set specs as the command line writes them ("cifar100:/data/cifar").
#include <filesystem>

#include "tasks/data/readers.h"
#include "tasks/dense/dense_data.h"

namespace vt::data {

DatasetPtr open_dataset(const std::string& spec, bool train) {
  const size_t colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  const std::string arg = colon == std::string::npos ? "" : spec.substr(colon + 1);
  auto need_arg = [&](const char* what) {
    if (arg.empty())
      throw Error("open_dataset: '" + spec + "' needs " + what + " (" + kind + ":" + what + ")");
  };
  if (kind == "cifar10" || kind == "cifar100") {
    need_arg("DIR");
    return read_cifar(arg, kind == "cifar10" ? 10 : 100, train);
  }
  if (kind == "fashion-mnist") return read_fashion_mnist(arg.empty() ? kFashionMnistDir : arg, train);
  if (kind == "list") {
    need_arg("ROOT");
    const size_t sep = arg.find(':');
    const std::string root = arg.substr(0, sep);
    std::string list;
    if (sep == std::string::npos) {
      list = (std::filesystem::path(root) / (train ? "train800val200.txt" : "test.txt")).string();
    } else {
      list = arg.substr(sep + 1);
      const auto in_root = std::filesystem::path(root) / list;
      if (std::filesystem::path(list).is_relative() && std::filesystem::is_regular_file(in_root))
        list = in_root.string();
    }
    return read_image_list(root, list);
  }
  // The synthetic scenes, labelled by the shape that covers the most pixels.
  if (kind == "scenes") return open_dense_dataset(spec, train, "classification");
  throw Error("open_dataset: unknown kind '" + kind + "' in '" + spec +
              "' (known: cifar10:DIR, cifar100:DIR, fashion-mnist[:DIR], list:ROOT[:LISTFILE], "
              "scenes:N[:SIZE])");
}

}  // namespace vt::data
