// readers.h — data set readers for the formats the benchmarks ship in (docs/FORMATS.md).
//
// Each reader validates its input as untrusted: a missing file, a truncated file, a wrong magic
// number, a corrupt gzip stream, a label out of range, a bad list line or an undecodable image
// throws vt::Error naming the file and the byte offset ("at offset N", binary formats) or the
// line ("LIST:LINE: ...", image lists).
//   read_cifar.cpp          CIFAR-10 / CIFAR-100 binary batches (in memory, U8)
//   read_fashion_mnist.cpp  IDX files, gzip or plain (in memory, U8)
//   read_image_list.cpp     "relative/path.jpg label" lists (VTAB-1K, FGVC), decoded lazily
//   open_dataset.cpp        open_dataset(spec): the command line's data set names
#pragma once
#include <string>

#include "tasks/data/dataset.h"

namespace vt::data {

// DIR holds data_batch_{1..5}.bin / test_batch.bin (CIFAR-10) or train.bin / test.bin
// (CIFAR-100), or is the parent of cifar-10-batches-bin/ or cifar-100-binary/. CIFAR-100 uses
// the fine labels (100 classes). Images (3, 32, 32).
DatasetPtr read_cifar(const std::string& dir, int which /*10 or 100*/, bool train);

// DIR holds {train,t10k}-{images-idx3,labels-idx1}-ubyte, each gzip (.gz, preferred) or plain.
// Images (1, 28, 28), 10 classes.
DatasetPtr read_fashion_mnist(const std::string& dir, bool train);

// One "relative/path label" a line (the path may contain spaces: the label is the last field;
// blank lines and lines starting with # are skipped), paths relative to ROOT. Images are decoded in get() with stb_image
// and converted to RGB (3, H, W); num_classes = max label + 1. Every listed file must exist.
DatasetPtr read_image_list(const std::string& root, const std::string& list_file);

// spec is KIND:ARGS with
//   cifar10:DIR, cifar100:DIR        read_cifar
//   fashion-mnist[:DIR]              read_fashion_mnist, DIR defaults to kFashionMnistDir
//   list:ROOT:LISTFILE               read_image_list (LISTFILE relative to ROOT if it is there)
//   list:ROOT                        VTAB-1K layout: ROOT/train800val200.txt (train) or
//                                    ROOT/test.txt (not train)
// `train` picks the split where the format has one (ignored by list:ROOT:LISTFILE).
DatasetPtr open_dataset(const std::string& spec, bool train);

// Interleaved RGB bytes (H, W, 3), as load_image_u8(..., 3) returns them (image_file.h), to
// (3, H, W) F32 in [0, 1]. Shared by the image-file readers.
Tensor rgb_bytes_to_tensor(const unsigned char* px, int w, int h);

inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

}  // namespace vt::data
