// EncodeBatcher: concurrent callers share encoder batches, each text is encoded once, and an encoder error reaches
// exactly the callers whose texts were in the failed batch.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <set>
#include <stdexcept>
#include <thread>

#include "embeddings/encode_batcher.hpp"

using plural::core::EncodeBatcher;

namespace {

// A cache of texts and a slow encoder that records its batches.
struct FakeCache {
  std::mutex mu;
  std::set<std::string> cached;
  std::vector<std::vector<std::string>> batches;
  std::string poison;  // a batch holding this text fails

  EncodeBatcher batcher() {
    return EncodeBatcher(
        [this](const std::vector<std::string>& texts) {
          std::lock_guard<std::mutex> lock(mu);
          std::set<std::string> seen;
          std::vector<std::string> out;
          for (const auto& t : texts)
            if (!cached.count(t) && seen.insert(t).second) out.push_back(t);
          return out;
        },
        [this](const std::vector<std::string>& batch) {
          std::this_thread::sleep_for(std::chrono::milliseconds(40));
          std::lock_guard<std::mutex> lock(mu);
          batches.push_back(batch);
          for (const auto& t : batch)
            if (t == poison) throw std::runtime_error("encoder failed on '" + t + "'");
          cached.insert(batch.begin(), batch.end());
        });
  }
};

}  // namespace

TEST_CASE("EncodeBatcher: concurrent callers share batches and each text is encoded once", "[features]") {
  FakeCache cache;
  auto batcher = cache.batcher();
  const int callers = 8;
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < callers; ++c)
    threads.emplace_back([&, c] {
      ++ready;
      while (ready < callers) std::this_thread::yield();
      batcher.ensure({"shared", "own" + std::to_string(c), "shared"});
    });
  for (auto& t : threads) t.join();

  std::multiset<std::string> encoded;
  for (const auto& b : cache.batches) encoded.insert(b.begin(), b.end());
  CHECK(encoded.size() == callers + 1);  // every text once: "shared" too, though all 8 asked for it at once
  CHECK(encoded.count("shared") == 1);
  CHECK(cache.cached.size() == callers + 1);
  // The first caller runs a batch alone; the others queue behind it and go in one or two more.
  CHECK(cache.batches.size() < callers);
  CHECK(batcher.stats().batches == static_cast<int64_t>(cache.batches.size()));
  CHECK(batcher.stats().texts == callers + 1);

  SECTION("cached texts cost no batch") {
    batcher.ensure({"shared", "own3"});
    CHECK(batcher.stats().batches == static_cast<int64_t>(cache.batches.size()));
  }
}

TEST_CASE("EncodeBatcher: an encoder error reaches only the caller whose text failed, and the texts can be retried",
          "[features]") {
  FakeCache cache;
  auto batcher = cache.batcher();
  cache.poison = "bad";
  CHECK_THROWS_WITH(batcher.ensure({"fine", "bad"}), "encoder failed on 'bad'");
  CHECK(cache.cached.empty());
  batcher.ensure({"other"});  // a later batch is not blamed for the earlier failure
  CHECK(cache.cached.count("other") == 1);

  // A and B queue behind a running batch, so they share the next one; A's text fails it, B still gets hers.
  std::thread blocker([&] { batcher.ensure({"slow"}); });
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::string a_error;
  std::thread a([&] {
    try {
      batcher.ensure({"bad", "a-fine"});
    } catch (const std::exception& e) {
      a_error = e.what();
    }
  });
  std::thread b([&] { batcher.ensure({"b-fine", "b-fine-2"}); });  // must not throw
  blocker.join();
  a.join();
  b.join();
  CHECK(a_error == "encoder failed on 'bad'");
  CHECK(cache.cached.count("b-fine") == 1);
  CHECK(cache.cached.count("b-fine-2") == 1);
  CHECK(cache.cached.count("a-fine") == 0);  // her batch failed as a whole: nothing of hers half-stored

  cache.poison.clear();
  batcher.ensure({"fine", "bad"});
  CHECK(cache.cached.count("bad") == 1);
  CHECK(batcher.stats().texts == static_cast<int64_t>(cache.cached.size()));  // only stored texts are counted
}
