#pragma once
// Texts missing from the cache, encoded in batches shared by concurrent callers. A server's requests each bring a
// few new texts (an RLHF trainer's fresh responses); encoding them one request at a time under the session's lock
// would stall every other request behind the encoder. Here a caller whose texts are missing joins the next batch:
// if no batch is running she runs it herself with whatever has queued meanwhile, else she waits for the batch that
// holds her texts. A text is encoded once however many callers ask for it at the same time.
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace plural::core {

class EncodeBatcher {
 public:
  /// `missing(texts)`: the texts not yet cached, each once (the caller's callback takes whatever lock the cache
  /// needs). `encode_and_store(batch)`: encodes a batch and stores its rows (it runs outside any lock of the
  /// batcher; the callback locks the cache only to store).
  using Missing = std::function<std::vector<std::string>(const std::vector<std::string>&)>;
  using EncodeAndStore = std::function<void(const std::vector<std::string>&)>;
  EncodeBatcher(Missing missing, EncodeAndStore encode_and_store);

  /// Returns once every text of `texts` is cached; rethrows the error of the batch that held one of them.
  void ensure(const std::vector<std::string>& texts);

  struct Stats {
    int64_t batches = 0;
    int64_t texts = 0;
  };
  Stats stats() const;

 private:
  void run_batch(std::unique_lock<std::mutex>& lock);

  Missing missing_;
  EncodeAndStore encode_and_store_;
  mutable std::mutex mu_;
  std::condition_variable done_cv_;
  std::vector<std::string> queued_;                     // texts of the next batch
  std::unordered_map<std::string, uint64_t> batch_of_;  // queued or running text -> its batch number
  std::unordered_map<uint64_t, std::exception_ptr> failed_;
  uint64_t started_ = 0, finished_ = 0;  // batches numbered from 1; the running one is started_ when running_
  bool running_ = false;
  Stats stats_;
};

}  // namespace plural::core
