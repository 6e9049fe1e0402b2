#include "embeddings/encode_batcher.hpp"

#include <algorithm>
#include <iterator>

namespace plural::core {

EncodeBatcher::EncodeBatcher(Missing missing, EncodeAndStore encode_and_store)
    : missing_(std::move(missing)), encode_and_store_(std::move(encode_and_store)) {}

void EncodeBatcher::ensure(const std::vector<std::string>& texts) {
  const auto missing = missing_(texts);
  if (missing.empty()) return;
  std::unique_lock<std::mutex> lock(mu_);
  std::vector<uint64_t> mine;  // the batches that hold her texts
  for (const auto& t : missing) {
    auto it = batch_of_.find(t);
    if (it == batch_of_.end()) {
      // Not queued or running. It may have been stored since `missing_` looked; encoding it again is harmless
      // (the cache keeps the first row of a text), and rare.
      it = batch_of_.emplace(t, started_ + 1).first;
      queued_.push_back(t);
    }
    mine.push_back(it->second);
  }
  const uint64_t needed = *std::max_element(mine.begin(), mine.end());
  while (finished_ < needed) {
    if (!running_) {
      run_batch(lock);
    } else {
      done_cv_.wait(lock);
    }
  }
  for (uint64_t b : mine) {
    if (auto f = failed_.find(b); f != failed_.end()) std::rethrow_exception(f->second);
  }
}

void EncodeBatcher::run_batch(std::unique_lock<std::mutex>& lock) {
  std::vector<std::string> batch;
  batch.swap(queued_);
  running_ = true;
  const uint64_t id = ++started_;
  std::exception_ptr error;
  lock.unlock();
  try {
    encode_and_store_(batch);
  } catch (...) {
    error = std::current_exception();
  }
  lock.lock();
  for (const auto& t : batch) batch_of_.erase(t);
  if (error) failed_[id] = error;
  // Every caller of a batch is waiting when it ends, and wakes long before 64 more have run.
  for (auto it = failed_.begin(); it != failed_.end();) it = it->first + 64 < id ? failed_.erase(it) : std::next(it);
  ++stats_.batches;
  stats_.texts += static_cast<int64_t>(batch.size());
  finished_ = id;
  running_ = false;
  done_cv_.notify_all();
}

EncodeBatcher::Stats EncodeBatcher::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace plural::core
