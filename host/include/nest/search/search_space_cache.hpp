// Enumerations shared between searches whose spaces are known to be the same: nest sweep's points
// that differ only in what the enumeration does not read (link bandwidths and latencies; the
// enumeration reads the cluster's structure, never its speeds: docs/sweep.md, "Shared
// enumerations"). The caller names the space by a key and vouches that equal keys mean equal
// spaces; the cache only makes each space once and hands out the same one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "nest/search/search_space.hpp"

namespace nest {

class SearchSpaceCache {
 public:
  // capacity: spaces kept at most (the least recently asked for goes first); a space still in
  // use by a search lives on with it.
  explicit SearchSpaceCache(std::size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {}

  // The space under `key`. The first caller makes it with `make`; callers with the same key in
  // the meantime wait for that one instead of making it again. A `make` that throws leaves
  // nothing behind: its waiters get the exception, the next caller makes the space anew.
  std::shared_ptr<const SearchSpace> get(const std::string& key, const std::function<SearchSpace()>& make);

  std::size_t made() const;  // spaces made (misses), for tests and figures

 private:
  struct Entry {
    std::string key;
    std::shared_future<std::shared_ptr<const SearchSpace>> space;
    std::uint64_t last_use = 0;
  };
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
  std::size_t capacity_;
  std::uint64_t clock_ = 0;
  std::size_t made_ = 0;
};

}  // namespace nest
