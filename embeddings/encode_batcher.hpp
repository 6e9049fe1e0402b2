#pragma once
// Texts missing from the cache, encoded in batches shared by concurrent callers. A server's requests each bring a
// few new texts (an RLHF trainer's fresh responses); encoding them one request at a time under the session's lock
// would stall every other request behind the encoder. Here a caller whose texts are missing joins the next batch:
// if no batch is running she runs it herself with whatever has queued meanwhile, else she waits for the batches that
// hold her texts. A text is encoded once however many callers ask for it at the same time. When a shared batch
// fails, each caller's texts are tried again on their own, so one request's bad text fails that request only.
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
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

  /// Returns once every text of `texts` is cached; rethrows the encoder's error for her texts.
  void ensure(const std::vector<std::string>& texts);

  struct Stats {
    int64_t batches = 0;  ///< encoder runs that stored their texts
    int64_t texts = 0;    ///< texts stored
  };
  Stats stats() const;

 private:
  /// One caller's texts in a batch, and what became of them.
  struct Group {
    std::vector<std::string> texts;
    bool done = false;
    std::exception_ptr error;
  };
  void run_batch(std::unique_lock<std::mutex>& lock);
  void encode_groups(const std::vector<std::shared_ptr<Group>>& groups);

  Missing missing_;
  EncodeAndStore encode_and_store_;
  mutable std::mutex mu_;
  std::condition_variable done_cv_;
  std::vector<std::shared_ptr<Group>> queued_;                         // the next batch, by caller
  std::unordered_map<std::string, std::shared_ptr<Group>> in_flight_;  // queued or running text -> its group
  bool running_ = false;
  Stats stats_;
};

}  // namespace plural::core
