#include "embeddings/encode_batcher.hpp"

namespace plural::core {

EncodeBatcher::EncodeBatcher(Missing missing, EncodeAndStore encode_and_store)
    : missing_(std::move(missing)), encode_and_store_(std::move(encode_and_store)) {}

void EncodeBatcher::ensure(const std::vector<std::string>& texts) {
  const auto missing = missing_(texts);
  if (missing.empty()) return;
  std::unique_lock<std::mutex> lock(mu_);
  auto own = std::make_shared<Group>();
  std::vector<std::shared_ptr<Group>> waits;  // every group holding one of her texts
  for (const auto& t : missing) {
    auto [it, fresh] = in_flight_.emplace(t, own);
    // A text another caller queued is awaited in that caller's group. One stored since `missing_` looked is
    // queued again; encoding it twice is harmless (the cache keeps the first row of a text), and rare.
    if (fresh) own->texts.push_back(t);
    if (waits.empty() || waits.back() != it->second) waits.push_back(it->second);
  }
  if (!own->texts.empty()) queued_.push_back(own);
  for (const auto& g : waits) {
    while (!g->done) {
      if (!running_) {
        run_batch(lock);
      } else {
        done_cv_.wait(lock);
      }
    }
  }
  for (const auto& g : waits)
    if (g->error) std::rethrow_exception(g->error);
}

void EncodeBatcher::run_batch(std::unique_lock<std::mutex>& lock) {
  std::vector<std::shared_ptr<Group>> groups;
  groups.swap(queued_);
  running_ = true;
  lock.unlock();
  encode_groups(groups);  // no exception leaves it: each group's error is in the group
  lock.lock();
  for (const auto& g : groups) {
    for (const auto& t : g->texts) in_flight_.erase(t);
    g->done = true;
    if (!g->error) stats_.texts += static_cast<int64_t>(g->texts.size());
  }
  running_ = false;
  done_cv_.notify_all();
}

void EncodeBatcher::encode_groups(const std::vector<std::shared_ptr<Group>>& groups) {
  std::exception_ptr shared_error;
  try {
    std::vector<std::string> batch;
    for (const auto& g : groups) batch.insert(batch.end(), g->texts.begin(), g->texts.end());
    encode_and_store_(batch);
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.batches;
    return;
  } catch (...) {
    shared_error = std::current_exception();
  }
  if (groups.size() == 1) {
    groups.front()->error = shared_error;
    return;
  }
  for (const auto& g : groups) {  // whose text failed? each caller's alone
    try {
      encode_and_store_(g->texts);
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.batches;
    } catch (...) {
      g->error = std::current_exception();
    }
  }
}

EncodeBatcher::Stats EncodeBatcher::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace plural::core
