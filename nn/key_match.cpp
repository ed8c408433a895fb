// key_match.cpp — see key_match.h.
#include "nn/key_match.h"

#include "engine/dtype.h"

namespace vt::nn {

namespace {

// Matches pattern[p..] against key[k..]; recursion only at {a|b} (once per placeholder).
bool match_from(const std::string& pat, size_t p, const std::string& key, size_t k,
                std::vector<std::string>& caps) {
  while (p < pat.size()) {
    if (pat[p] != '{') {
      if (k >= key.size() || key[k] != pat[p]) return false;
      ++p, ++k;
      continue;
    }
    const size_t close = pat.find('}', p);
    if (close == std::string::npos) throw Error("match_key: unclosed '{' in pattern " + pat);
    const std::string ph = pat.substr(p + 1, close - p - 1);
    p = close + 1;
    if (ph == "n") {
      size_t e = k;
      while (e < key.size() && e - k < 10 && key[e] >= '0' && key[e] <= '9') ++e;
      if (e == k || e - k > 9) return false;
      caps.push_back(key.substr(k, e - k));
      k = e;
    } else if (ph == "*") {
      if (p != pat.size()) throw Error("match_key: {*} must end the pattern " + pat);
      if (k >= key.size()) return false;
      caps.push_back(key.substr(k));
      return true;
    } else {  // alternatives
      const size_t saved = caps.size();
      for (size_t a = 0; a <= ph.size();) {
        size_t bar = ph.find('|', a);
        if (bar == std::string::npos) bar = ph.size();
        const std::string word = ph.substr(a, bar - a);
        if (key.compare(k, word.size(), word) == 0) {
          caps.push_back(word);
          if (match_from(pat, p, key, k + word.size(), caps)) return true;
          caps.resize(saved);
        }
        a = bar + 1;
      }
      return false;
    }
  }
  return k == key.size();
}

}  // namespace

bool match_key(const std::string& pattern, const std::string& key, std::vector<std::string>& captures) {
  captures.clear();
  if (match_from(pattern, 0, key, 0, captures)) return true;
  captures.clear();
  return false;
}

}  // namespace vt::nn
