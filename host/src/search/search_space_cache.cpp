#include "nest/search/search_space_cache.hpp"

#include <algorithm>

namespace nest {

std::shared_ptr<const SearchSpace> SearchSpaceCache::get(const std::string& key, const std::function<SearchSpace()>& make) {
  std::promise<std::shared_ptr<const SearchSpace>> promise;
  std::shared_future<std::shared_ptr<const SearchSpace>> waiting;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto hit = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.key == key; });
    if (hit != entries_.end()) {
      hit->last_use = ++clock_;
      waiting = hit->space;
    } else {
      if (entries_.size() >= capacity_)
        entries_.erase(std::min_element(entries_.begin(), entries_.end(),
                                        [](const Entry& a, const Entry& b) { return a.last_use < b.last_use; }));
      entries_.push_back({key, promise.get_future().share(), ++clock_});
      ++made_;
    }
  }
  if (waiting.valid()) return waiting.get();  // made by another caller (rethrows its failure)
  try {
    auto space = std::make_shared<const SearchSpace>(make());
    promise.set_value(space);
    return space;
  } catch (...) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      entries_.erase(std::remove_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.key == key; }),
                     entries_.end());
    }
    promise.set_exception(std::current_exception());
    throw;
  }
}

std::size_t SearchSpaceCache::made() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return made_;
}

}  // namespace nest
