#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "core/base/error.hpp"
#include "embeddings/encode.hpp"
#include "embeddings/encoder.hpp"
#include "embeddings/feature_cache.hpp"
#include "tests/helpers.hpp"

using namespace plural::core;
using Catch::Contains;
using plural::test::TempDir;

namespace {
std::vector<std::string> numbered(int n, const std::string& prefix = "text ") {
  std::vector<std::string> v;
  for (int i = 0; i < n; ++i) v.push_back(prefix + std::to_string(i));
  return v;
}
}  // namespace

TEST_CASE("FeatureCache round trip is bit-exact in float32, any order, with duplicates skipped", "[core][cache]") {
  TempDir tmp;
  FeatureCache cache(tmp.file("c.h5"));
  auto texts = numbered(5000);
  auto feats = torch::randn({5000, 48});
  {
    auto w = cache.writer("enc-A", 48);
    CHECK(w.append(texts, feats) == 5000);
    CHECK(w.append({texts[3]}, feats[7].unsqueeze(0)) == 0);  // already staged: skipped
    w.commit();
  }
  CHECK(cache.rows("enc-A") == 5000);
  CHECK(cache.dim("enc-A") == 48);
  std::vector<std::string> ask = {texts[4999], texts[0], texts[17], texts[17], texts[2500]};
  auto got = cache.lookup("enc-A", ask);
  auto want = torch::stack({feats[4999], feats[0], feats[17], feats[17], feats[2500]});
  CHECK(torch::equal(got, want));
  CHECK(torch::equal(cache.lookup("enc-A", texts), feats));

  // A second transaction appends; old rows unchanged.
  {
    auto w = cache.writer("enc-A", 48);
    CHECK(w.append({"new one", texts[1]}, torch::ones({2, 48})) == 1);
    w.commit();
  }
  CHECK(cache.rows("enc-A") == 5001);
  CHECK(torch::equal(cache.lookup("enc-A", {"new one"}), torch::ones({1, 48})));
  CHECK(torch::equal(cache.lookup("enc-A", {texts[1]}), feats[1].unsqueeze(0)));
  auto has = cache.contains("enc-A", {"new one", "absent"});
  CHECK(has[0]);
  CHECK_FALSE(has[1]);
}

TEST_CASE("FeatureCache float16 storage and several encoders in one file", "[core][cache]") {
  TempDir tmp;
  FeatureCache cache(tmp.file("c.h5"));
  auto texts = numbered(300);
  auto f16 = torch::randn({300, 16});
  auto f32 = torch::randn({300, 8});
  {
    auto w = cache.writer("half/enc", 16, Storage::float16);
    w.append(texts, f16);
    w.commit();
  }
  {
    auto w = cache.writer("full", 8);
    w.append(texts, f32);
    w.commit();
  }
  CHECK(torch::equal(cache.lookup("half/enc", texts), f16.to(torch::kHalf).to(torch::kFloat)));
  CHECK(torch::equal(cache.lookup("full", texts), f32));
  auto ids = cache.encoders();
  CHECK(ids.size() == 2);
  CHECK(cache.storage("half/enc") == Storage::float16);
}

TEST_CASE("FeatureCache errors: missing text, other encoder, dim mismatch, NaN, non-cache file",
          "[core][cache][errors]") {
  TempDir tmp;
  FeatureCache cache(tmp.file("c.h5"));
  {
    auto w = cache.writer("enc-A", 4);
    w.append({"a", "b"}, torch::zeros({2, 4}));
    w.commit();
  }
  CHECK_THROWS_WITH(cache.lookup("enc-A", {"a", "zzz"}), Contains("1 of 2 texts") && Contains("\"zzz\""));
  CHECK_THROWS_WITH(cache.lookup("enc-B", {"a"}), Contains("'enc-B'") && Contains("'enc-A'"));
  CHECK_THROWS_WITH(cache.writer("enc-A", 5), Contains("dim 4") && Contains("dim 5"));
  CHECK_THROWS_WITH(cache.writer("enc-A", 4, Storage::float16), Contains("float32"));
  {
    auto w = cache.writer("enc-A", 4);
    CHECK_THROWS_WITH(w.append({"c"}, torch::zeros({1, 3})), Contains("feature dimension mismatch"));
    auto bad = torch::zeros({2, 4});
    bad[1][2] = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_WITH(w.append({"c", "d"}, bad), Contains("row 1") && Contains("NaN"));
  }
  CHECK(cache.rows("enc-A") == 2);
  plural::test::write_text(tmp.file("junk.h5"), "not hdf5 at all");
  CHECK_THROWS_WITH(FeatureCache(tmp.file("junk.h5")), Contains("junk.h5"));
}

TEST_CASE("an uncommitted or failed writer leaves the cache as it was", "[core][cache]") {
  TempDir tmp;
  auto path = tmp.file("c.h5");
  FeatureCache cache(path);
  auto texts = numbered(100);
  auto feats = torch::randn({100, 8});
  {
    auto w = cache.writer("e", 8);
    w.append(texts, feats);
    w.commit();
  }
  auto before = std::filesystem::file_size(path);
  {
    auto w = cache.writer("e", 8);
    w.append(numbered(50, "more "), torch::randn({50, 8}));
    // destroyed without commit: discarded
  }
  CHECK(std::filesystem::file_size(path) == before);
  FeatureCache reopened(path);
  CHECK(reopened.rows("e") == 100);
  CHECK(torch::equal(reopened.lookup("e", texts), feats));
  // No temporary files are left behind.
  int leftovers = 0;
  for (const auto& e : std::filesystem::directory_iterator(tmp.path))
    leftovers += e.path().filename().string().find(".tmp-") != std::string::npos;
  CHECK(leftovers == 0);
}

TEST_CASE("a second concurrent writer is refused with a clear error", "[core][cache][errors]") {
  TempDir tmp;
  FeatureCache cache(tmp.file("c.h5"));
  auto w = cache.writer("e", 4);
  FeatureCache other(tmp.file("c.h5"));
  CHECK_THROWS_WITH(other.writer("e", 4), Contains("another process is writing"));
}

TEST_CASE("killing `plural encode` mid-write leaves the old cache readable, and a rerun resumes",
          "[core][cache][cli]") {
  TempDir tmp;
  auto texts_path = tmp.file("texts.txt");
  {
    std::ofstream f(texts_path);
    for (int i = 0; i < 150000; ++i) f << "statement number " << i << " about topic " << (i * 7919) % 1000 << "\n";
  }
  auto cache_path = tmp.file("cache.h5");
  std::string cli = plural::test::cli();
  std::vector<std::string> args = {cli,         "encode",        "--texts",        texts_path, "--cache",   cache_path,
                                   "--encoder", "hashed:dim=64", "--commit-every", "5000",     "--threads", "1",
                                   "-q"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  REQUIRE(posix_spawn(&pid, cli.c_str(), nullptr, nullptr, argv.data(), environ) == 0);
  // Wait for the first commits, then kill while later transactions are being written.
  auto t0 = std::chrono::steady_clock::now();
  while (!std::filesystem::exists(cache_path) && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(std::filesystem::exists(cache_path));
  INFO("the writer must have been killed before it finished, else this test proves nothing");
  REQUIRE(WIFSIGNALED(status));

  HashedNgramEncoder enc(64);
  std::vector<std::string> all;
  {
    std::ifstream f(texts_path);
    std::string line;
    while (std::getline(f, line)) all.push_back(line);
  }
  int64_t rows = 0;
  {
    FeatureCache cache(cache_path);
    rows = cache.rows(enc.id());
    CHECK(rows > 0);
    CHECK(rows < 150000);
    CHECK(rows % 5000 == 0);  // only whole committed transactions are visible
    // What is there is exactly right: the rows present are the hashed features of their texts.
    auto have = cache.contains(enc.id(), all);
    std::vector<std::string> present;
    for (size_t i = 0; i < all.size(); ++i)
      if (have[i]) present.push_back(all[i]);
    REQUIRE(static_cast<int64_t>(present.size()) == rows);
    CHECK(torch::equal(cache.lookup(enc.id(), present), enc.encode(present)));
  }
  // Resume: only the missing texts are encoded; afterwards everything is there once.
  FeatureCache cache(cache_path);
  EncodeOptions opts;
  opts.progress = false;
  auto st = encode_into_cache(cache, enc, all, opts);
  CHECK(st.cached == rows);
  CHECK(st.encoded == 150000 - rows);
  CHECK(cache.rows(enc.id()) == 150000);
}
