// Nothing lost, nothing crashed (docs/reliability.md): the atomic writer, output ≠ input, strict configs and
// readers, checksummed model and state files, finite training.
#include <signal.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <filesystem>
#include <fstream>

#include "core/base/atomic_file.hpp"
#include "core/base/error.hpp"
#include "core/base/file_roles.hpp"
#include "core/base/h5.hpp"
#include "core/base/isolated.hpp"
#include "core/base/json_config.hpp"
#include "core/base/random.hpp"
#include "core/base/text_io.hpp"
#include "core/data/readers.hpp"
#include "core/dataset_view.hpp"
#include "core/model.hpp"
#include "core/train/trainer.hpp"
#include "embeddings/feature_cache.hpp"
#include "tests/helpers.hpp"

using namespace plural::core;
using Catch::Contains;
using plural::IoError;
using plural::ValueError;
using plural::test::TempDir;
using plural::test::write_text;
namespace fs = std::filesystem;

namespace {
std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

size_t temporaries_in(const fs::path& dir) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    n += e.path().filename().string().find(".tmp-") != std::string::npos;
  return n;
}

void write_gzip(const std::string& path, const std::string& content) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, content.data(), static_cast<unsigned>(content.size()));
  gzclose(f);
}

// Two users, 60 pairs each over 40 items with random features; labels from a planted linear reward.
struct Tiny {
  PreferenceData data;
  torch::Tensor features;
};
Tiny tiny_data() {
  Tiny t;
  torch::manual_seed(3);
  t.features = torch::randn({40, 8});
  auto w = torch::randn({8});
  auto r = torch::mv(t.features, w);
  Rng rng(5);
  for (int i = 0; i < 40; ++i) t.data.texts.intern("item " + std::to_string(i));
  t.data.source = "tiny";
  for (int u = 0; u < 2; ++u) {
    int32_t uid = t.data.user_index("u" + std::to_string(u));
    for (int k = 0; k < 60; ++k) {
      Comparison c;
      c.user = uid;
      c.a = static_cast<int32_t>(rng.index(40));
      do c.b = static_cast<int32_t>(rng.index(40));
      while (c.b == c.a);
      c.label = (r[c.a] - r[c.b]).item<double>() > 0 ? 1.f : 0.f;
      c.split = k < 45 ? Split::train : Split::val;
      t.data.comparisons.push_back(c);
    }
  }
  t.data.infer_seen();
  t.data.validate();
  return t;
}

std::shared_ptr<RewardModel> trained(DatasetView& view, uint64_t seed) {
  torch::manual_seed(seed);
  auto model = make_model("per-user-bt", view.dims(), "{}");
  TrainConfig cfg;
  cfg.epochs = 2;
  cfg.progress = false;
  cfg.seed = seed;
  train(*model, view, cfg);
  return model;
}
}  // namespace

TEST_CASE("AtomicFile replaces the target only on commit and leaves no temporary", "[core][reliability]") {
  TempDir dir;
  const auto target = dir.file("out.bin");
  write_text(target, "old");
  {
    AtomicFile f(target);
    f.write("new content");
    CHECK(fs::exists(f.temp_path()));
    // destroyed without commit: a failure halfway
  }
  CHECK(read_all(target) == "old");
  CHECK(temporaries_in(dir.path) == 0);
  write_file_atomic(target, "new content");
  CHECK(read_all(target) == "new content");
  CHECK(temporaries_in(dir.path) == 0);
  CHECK(io_cause(ENOSPC) == "disk full");
  CHECK_THROWS_WITH(AtomicFile(dir.path.string()), Contains("is a folder"));
  CHECK_THROWS_WITH(write_file_atomic(dir.file("no/such/folder/x"), "x"), Contains("no/such/folder/x"));
}

TEST_CASE("The next writer removes temporaries of writers that died", "[core][reliability]") {
  TempDir dir;
  const auto target = dir.file("data.h5");
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);  // a pid that is surely gone
  const auto stale = target + ".tmp-" + std::to_string(child) + "-0";
  const auto alive = target + ".tmp-" + std::to_string(::getppid()) + "-0";  // a live process's: kept
  write_text(stale, "half a file");
  write_text(target + ".tmp", "an older plural's temporary");
  write_text(alive, "someone else's write in progress");
  write_file_atomic(target, "x");
  CHECK_FALSE(fs::exists(stale));
  CHECK_FALSE(fs::exists(target + ".tmp"));
  CHECK(fs::exists(alive));
}

TEST_CASE("An output that is an input is refused, by inode and by path", "[core][reliability]") {
  TempDir dir;
  const auto data = dir.file("data.jsonl");
  write_text(data, "{}");
  fs::create_hard_link(data, dir.file("link.jsonl"));
  fs::create_symlink(data, dir.file("sym.jsonl"));
  CHECK(same_file(data, dir.file("link.jsonl")));
  CHECK(same_file(data, dir.file("sym.jsonl")));
  CHECK(same_file(dir.file("new.h5"), (dir.path / "." / "new.h5").string()));  // neither exists: by path
  CHECK_FALSE(same_file(data, dir.file("other.jsonl")));
  CHECK_THROWS_WITH(require_distinct_files({{"-o", dir.file("link.jsonl")}}, {{"--data", data}}),
                    Contains("-o '" + dir.file("link.jsonl") + "' is the same file as the input --data"));
  CHECK_THROWS_WITH(require_distinct_files({{"-o", dir.file("m.pt")}, {"--metrics", dir.file("./m.pt")}}, {}),
                    Contains("-o and --metrics both name"));
  CHECK_NOTHROW(require_distinct_files({{"-o", dir.file("m.pt")}, {"--checkpoint", ""}}, {{"--data", data}}));
}

TEST_CASE("Configs take whole numbers for integers and bounded sizes", "[core][reliability]") {
  auto read_k = [](const std::string& json) {
    int64_t k = 2;
    JsonConfig c(json, "pal-b");
    c.get("k", k, 1, kMaxPrototypes);
    c.finish();
    return k;
  };
  CHECK(read_k(R"({"k": 3})") == 3);
  CHECK_THROWS_WITH(read_k(R"({"k": 2.5})"), Contains("'k' must be a whole number, got 2.5"));
  CHECK_THROWS_WITH(read_k(R"({"k": true})"), Contains("'k' must be a whole number"));
  CHECK_THROWS_WITH(read_k(R"({"k": 1e9})"), Contains("whole number"));
  CHECK_THROWS_WITH(read_k(R"({"k": 1000000000})"), Contains("'k' must be in [1, 256], got 1000000000"));
  CHECK_THROWS_WITH(read_k(R"({"k": 100000000000000000000000000000})"), Contains("'k'"));
  CHECK_THROWS_WITH(make_model("pal-b", ModelDims{8, 0, 0, {"u"}}, R"({"k": 1e9})"), Contains("'k'"));
  CHECK_THROWS_WITH(make_model("vpl", ModelDims{8, 0, 0, {"u"}}, R"({"latent": 100000})"), Contains("'latent'"));
}

TEST_CASE("Training options must be finite and in range, and group names must exist", "[core][reliability]") {
  TrainConfig cfg;
  cfg.lr = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH(cfg.validate(), Contains("lr must be in (0, 10]"));
  cfg.lr = 1e30;
  CHECK_THROWS_WITH(cfg.validate(), Contains("lr must be in (0, 10], got 1e+30"));
  cfg.lr = 1e-3;
  cfg.user_lr = std::nan("");
  CHECK_THROWS_WITH(cfg.validate(), Contains("user_lr"));
  cfg.user_lr = 1e-2;
  cfg.weight_decay = -1;
  CHECK_THROWS_WITH(cfg.validate(), Contains("weight_decay"));

  auto t = tiny_data();
  DatasetView view(t.data, t.features);
  auto model = make_model("per-user-bt", view.dims(), "{}");
  TrainConfig typo;
  typo.progress = false;
  typo.group_lr["usr"] = 0.1;
  CHECK_THROWS_WITH(train(*model, view, typo), Contains("no parameter group 'usr'"));
}

TEST_CASE("A non-finite loss stops training with the epoch and step, and saves nothing", "[core][reliability]") {
  TempDir dir;
  auto t = tiny_data();
  DatasetView view(t.data, t.features);
  auto model = make_model("per-user-bt", view.dims(), "{}");
  {
    torch::NoGradGuard ng;
    model->parameters()[0].fill_(std::numeric_limits<float>::quiet_NaN());
  }
  TrainConfig cfg;
  cfg.progress = false;
  cfg.checkpoint_path = dir.file("ckpt.pt");
  cfg.metrics_path = dir.file("metrics.jsonl");
  CHECK_THROWS_WITH(train(*model, view, cfg), Contains("at epoch 1, step 1"));
  CHECK_FALSE(fs::exists(cfg.checkpoint_path));
  CHECK_THROWS_WITH(save_model(*model, dir.file("m.pt")), Contains("NaN or infinite"));
  CHECK_FALSE(fs::exists(dir.file("m.pt")));
  CHECK(temporaries_in(dir.path) == 0);
}

TEST_CASE("Model and state files carry a checksum and the weights they belong to", "[core][reliability]") {
  TempDir dir;
  auto t = tiny_data();
  DatasetView view(t.data, t.features);
  auto first = trained(view, 1);
  save_model(*first, dir.file("m.pt"));
  auto loaded = load_model(dir.file("m.pt"));
  CHECK(loaded->weights_id() == first->weights_id());
  CHECK_FALSE(loaded->weights_id().empty());

  auto state = loaded->seen_state(0);
  CHECK(state.model_weights == loaded->weights_id());
  state.save(dir.file("u.state"));
  auto back = UserState::load(dir.file("u.state"));
  CHECK_NOTHROW(loaded->check_state(back, "test"));

  // The same configuration retrained with another seed: same model_id, other weights.
  auto second = trained(view, 2);
  save_model(*second, dir.file("m2.pt"));
  auto other = load_model(dir.file("m2.pt"));
  REQUIRE(other->model_id() == loaded->model_id());
  CHECK_THROWS_WITH(other->check_state(back, "score"), Contains("adapted on another training run"));

  // Flip bytes inside the largest stored tensor: the file still parses, the checksum catches it.
  auto bytes = read_all(dir.file("m.pt"));
  std::string needle(reinterpret_cast<const char*>(first->parameters()[0].contiguous().data_ptr<float>()), 16);
  auto at = bytes.find(needle);
  REQUIRE(at != std::string::npos);
  for (size_t i = 0; i < 16; ++i) bytes[at + i] = static_cast<char>(bytes[at + i] ^ 0x5a);
  write_text(dir.file("bad.pt"), bytes);
  CHECK_THROWS_WITH(load_model(dir.file("bad.pt")), Contains("bad.pt: corrupt"));

  auto sbytes = read_all(dir.file("u.state"));
  auto theta = back.tensors.begin()->second.contiguous();
  std::string sneedle(static_cast<const char*>(theta.data_ptr()), std::min<size_t>(8, theta.nbytes()));
  auto sat = sbytes.find(sneedle);
  REQUIRE(sat != std::string::npos);
  sbytes[sat] = static_cast<char>(sbytes[sat] ^ 0x40);
  write_text(dir.file("bad.state"), sbytes);
  CHECK_THROWS_WITH(UserState::load(dir.file("bad.state")), Contains("bad.state: corrupt"));
  write_text(dir.file("cut.pt"), read_all(dir.file("m.pt")).substr(0, 3000));
  CHECK_THROWS_WITH(load_model(dir.file("cut.pt")), Contains("cut.pt: cannot read"));
}

TEST_CASE("Models from before checksums still load", "[core][reliability]") {
  auto model = load_model(plural::test::source_dir() + "/tests/data/bt_v1.pt");
  CHECK_FALSE(model->weights_id().empty());
}

TEST_CASE("Line reader: gzip must be whole, BOM skipped, NUL refused", "[core][reliability][readers]") {
  TempDir dir;
  std::string rows;
  for (int i = 0; i < 400; ++i)
    rows += "{\"user\": \"u" + std::to_string(i % 7) + "\", \"chosen\": \"a" + std::to_string(i) +
            "\", \"rejected\": \"b\"}\n";
  write_gzip(dir.file("whole.jsonl.gz"), rows);
  CHECK(read_preferences(dir.file("whole.jsonl.gz")).comparisons.size() == 400);
  // Cut between two lines, as a truncated download is: the trailer (CRC + length) is missing.
  auto gz = read_all(dir.file("whole.jsonl.gz"));
  write_text(dir.file("cut.jsonl.gz"), gz.substr(0, gz.size() - 12));
  CHECK_THROWS_WITH(read_preferences(dir.file("cut.jsonl.gz")), Contains("cut short"));
  auto bad_crc = gz;
  bad_crc[bad_crc.size() - 6] ^= 0x01;
  write_text(dir.file("crc.jsonl.gz"), bad_crc);
  CHECK_THROWS_WITH(read_preferences(dir.file("crc.jsonl.gz")), Contains("crc.jsonl.gz"));

  write_text(dir.file("bom.tsv"), "\xEF\xBB\xBFuser\tchosen\trejected\nu\ta\tb\n");
  CHECK(read_preferences(dir.file("bom.tsv")).comparisons.size() == 1);
  const char nul[] = "user\tchosen\trejected\nu\ta\0x\tb\n";
  write_text(dir.file("nul.tsv"), std::string(nul, sizeof nul - 1));
  CHECK_THROWS_WITH(read_preferences(dir.file("nul.tsv")), Contains("nul.tsv:2: contains a NUL byte"));
}

TEST_CASE("JSONL fields: NUL, empty users, booleans and overflows are errors naming line and field",
          "[core][reliability][readers]") {
  TempDir dir;
  auto fails = [&](const std::string& row, const std::string& want) {
    write_text(dir.file("x.jsonl"), "{\"user\": \"u\", \"chosen\": \"a\", \"rejected\": \"b\"}\n" + row + "\n");
    CHECK_THROWS_WITH(read_preferences(dir.file("x.jsonl")), Contains(want));
  };
  fails(R"({"user": "u", "chosen": "a\u0000x", "rejected": "b"})", "x.jsonl:2: field 'chosen': contains a NUL");
  fails(R"({"user": "", "chosen": "a", "rejected": "b"})", "x.jsonl:2: field 'user': empty");
  fails(R"({"user": 1.5, "chosen": "a", "rejected": "b"})", "x.jsonl:2: field 'user'");
  fails(R"({"user": "u", "a": "a", "b": "b", "label": true})", "x.jsonl:2: field 'label': expected a number");
  fails(R"({"user": "u", "chosen": "a", "rejected": "b", "weight": 1e309})", "x.jsonl:2: field 'weight'");
  fails(R"({"user": "u", "chosen": "a", "rejected": "b", "weight": 1e39})", "x.jsonl:2: field 'weight'");
  // Invalid UTF-8 is replaced by U+FFFD, one per bad byte (docs/data_format.md).
  write_text(dir.file("utf.jsonl"), "{\"user\": \"u\", \"chosen\": \"caf\xE9\", \"rejected\": \"b\"}\n");
  auto d = read_preferences(dir.file("utf.jsonl"));
  CHECK(d.texts[d.comparisons[0].a] == "caf\xEF\xBF\xBD");
}

TEST_CASE("A corrupted chunk of the feature cache is an error naming the file and dataset", "[core][reliability]") {
  TempDir dir;
  const auto path = dir.file("cache.h5");
  {
    FeatureCache cache(path);
    auto w = cache.writer("enc", 8);
    w.append({"a", "b", "c"}, torch::arange(24, torch::kFloat32).reshape({3, 8}));
    w.commit();
  }
  uint64_t chunk_at = 0, chunk_bytes = 0;
  {
    auto f = h5::open_file(path, h5::Mode::read);
    auto ds = h5::open_dataset(f, encoder_group_name("enc") + "/features", path);
    hsize_t offset[2];
    unsigned mask = 0;
    haddr_t addr = 0;
    hsize_t size = 0;
    h5::Handle space(H5Dget_space(ds));
    REQUIRE(H5Dget_chunk_info(ds, space, 0, offset, &mask, &addr, &size) >= 0);
    chunk_at = addr, chunk_bytes = size;
  }
  REQUIRE(chunk_bytes > 8);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(chunk_at + chunk_bytes / 2));
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x10);
    f.seekp(static_cast<std::streamoff>(chunk_at + chunk_bytes / 2));
    f.write(&c, 1);
  }
  FeatureCache cache(path);
  CHECK_THROWS_WITH(cache.lookup("enc", {"a"}),
                    Contains(path + ":/" + encoder_group_name("enc") + "/features: corrupt data (checksum mismatch"));
}

TEST_CASE("NaN features are blamed on the encoder or cache, with the first bad text", "[core][reliability]") {
  auto t = tiny_data();
  auto f = t.features.clone();
  f[3][1] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(DatasetView(t.data, f), Contains("the encoder or feature cache made them, not the data file") &&
                                                Contains("text 3: 'item 3'"));
}

TEST_CASE("An untrusted parser runs in a child: its crash, hang or error is an error here", "[core][reliability]") {
  using std::chrono::milliseconds;
  CHECK(run_isolated([] { return std::string("bytes\0back", 10); }, milliseconds(5000), "x") ==
        std::string("bytes\0back", 10));
  CHECK_THROWS_MATCHES(run_isolated([]() -> std::string { throw ValueError("bad row 3"); }, milliseconds(5000), "x"),
                       ValueError, Catch::Message("bad row 3"));
  CHECK_THROWS_MATCHES(run_isolated([]() -> std::string { throw IoError("disk"); }, milliseconds(5000), "x"), IoError,
                       Catch::Message("disk"));
  CHECK_THROWS_WITH(run_isolated(
                        []() -> std::string {
                          ::raise(SIGSEGV);
                          return "";
                        },
                        milliseconds(5000), "f.h5"),
                    Contains("f.h5: the reader crashed (signal 11)"));
  CHECK_THROWS_WITH(run_isolated(
                        []() -> std::string {
                          ::sleep(30);
                          return "";
                        },
                        milliseconds(300), "f.h5"),
                    Contains("f.h5: the reader did not finish"));
  // An unsealed file on which HDF5 itself segfaults (found by the fuzzer): a clean error.
  CHECK_THROWS_WITH(
      read_preferences(plural::test::source_dir() + "/tests/fuzz/corpus/h5_data/crash-unsealed-global-heap-segv.h5"),
      Contains("the reader crashed"));
}
