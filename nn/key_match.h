// key_match.h — checkpoint keys matched against simple patterns (the key maps of
// nn/checkpoint.cpp, checkpoint_google.cpp and swin_checkpoint.cpp), without std::regex: its
// recursive matcher can overflow the stack on a long key from an untrusted file, and a
// number too long for stoll must not become an exception that says only "stoll".
//
// A pattern is literal text with placeholders, each of which captures what it matched:
//   {n}        1 to 9 decimal digits (so every captured number fits in an int64_t)
//   {a|b|c}    one of the listed words (each tried in turn)
//   {*}        one or more characters, to the end of the key (only last in a pattern)
// A match covers the whole key. Matching time is linear in the key's length.
#pragma once
#include <string>
#include <vector>

namespace vt::nn {

bool match_key(const std::string& pattern, const std::string& key, std::vector<std::string>& captures);

}  // namespace vt::nn
