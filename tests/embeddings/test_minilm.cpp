// Needs the weights fetched by `make models` (make test does it first).
#include <torch/script.h>
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "core/base/error.hpp"
#include "embeddings/minilm.hpp"
#include "embeddings/torchscript_encoder.hpp"
#include "embeddings/wordpiece.hpp"
#include "tests/helpers.hpp"

using namespace plural::core;
using Catch::Contains;
using plural::test::TempDir;
namespace fs = std::filesystem;

namespace {
std::string model_dir() { return plural::test::source_dir() + "/models/all-MiniLM-L6-v2"; }
MiniLmEncoder& shared_encoder() {
  static MiniLmEncoder enc(model_dir());
  return enc;
}
}  // namespace

TEST_CASE("WordPiece tokenizes like BERT uncased", "[core][encoder][minilm]") {
  WordPiece wp(model_dir() + "/vocab.txt");
  using V = std::vector<std::string>;
  // Expected pieces are what HuggingFace `tokenizers` gives with the model's tokenizer.json (checked by hand).
  CHECK(wp.tokenize("Hello, World!") == V{"hello", ",", "world", "!"});
  CHECK(wp.tokenize("unaffable") == V{"una", "##ffa", "##ble"});
  CHECK(wp.tokenize("Café déjà vu") == V{"cafe", "de", "##ja", "vu"});  // accents stripped
  CHECK(wp.tokenize("  tabs\tand\nnewlines ") == V{"tab", "##s", "and", "new", "##lines"});
  CHECK(wp.tokenize("我爱") == V{"我", "[UNK]"});  // CJK split per character
  CHECK(wp.tokenize("bell\x07"
                    "char") == V{"bell", "##cha", "##r"});  // control characters dropped
  CHECK(wp.tokenize("") == V{});
  CHECK(wp.tokenize(std::string(150, 'a')) == V{"[UNK]"});  // words over 100 characters
  auto ids = wp.encode("hello world", 256);
  CHECK(ids == std::vector<int64_t>{101, 7592, 2088, 102});  // [CLS] hello world [SEP]
  std::string long_text;
  for (int i = 0; i < 400; ++i) long_text += "word ";
  CHECK(wp.encode(long_text, 256).size() == 256);
  CHECK(wp.encode(long_text, 256).back() == 102);
}

TEST_CASE("MiniLM: unit-norm embeddings, paraphrases close and unrelated texts far", "[core][encoder][minilm]") {
  auto& enc = shared_encoder();
  CHECK(enc.dim() == 384);
  CHECK(enc.id().rfind("all-MiniLM-L6-v2:", 0) == 0);
  auto e = enc.encode({"A man is playing a guitar.", "Someone is strumming a guitar.",
                       "The stock market fell sharply today.", "I think people should be kind to each other.",
                       "Being nice to others matters to me."});
  CHECK(e.norm(2, 1).sub(1).abs().max().item<float>() < 1e-5);
  auto cos = [&](int i, int j) { return torch::dot(e[i], e[j]).item<double>(); };
  CHECK(cos(0, 1) > 0.6);
  CHECK(cos(3, 4) > 0.4);
  CHECK(cos(0, 2) < 0.2);
  CHECK(cos(3, 2) < 0.2);
  // Invalid UTF-8 is replaced deterministically (and the replacement character dropped, as BERT's cleaner does).
  auto bad = enc.encode({"caf\xff\xfe latte", "caf latte"});
  CHECK(torch::allclose(bad[0], bad[1], 1e-6, 1e-6));
  // Batching and order do not change a text's embedding.
  auto single = enc.encode({"Someone is strumming a guitar."});
  CHECK(torch::allclose(single[0], e[1], 1e-5, 1e-5));
}

TEST_CASE("MiniLM weight errors name the file and what is wrong", "[core][encoder][minilm][errors]") {
  TempDir tmp;
  auto dir = tmp.path / "m";
  fs::create_directories(dir);
  CHECK_THROWS_WITH(MiniLmEncoder(dir.string()), Contains("missing config.json"));
  for (const char* f : {"config.json", "vocab.txt"}) fs::copy_file(model_dir() + "/" + f, dir / f);
  CHECK_THROWS_WITH(MiniLmEncoder(dir.string()), Contains("missing model.safetensors"));
  // Truncated: the header promises tensors past the end of the file.
  {
    std::ifstream in(model_dir() + "/model.safetensors", std::ios::binary);
    std::string head(1 << 20, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    plural::test::write_text((dir / "model.safetensors").string(), head);
  }
  CHECK_THROWS_WITH(MiniLmEncoder(dir.string()), Contains("model.safetensors") && Contains("beyond the end"));
  // Mismatched: a config that asks for another shape.
  fs::copy_file(model_dir() + "/model.safetensors", dir / "model.safetensors", fs::copy_options::overwrite_existing);
  {
    std::ifstream in(model_dir() + "/config.json");
    std::string cfg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto pos = cfg.find("\"intermediate_size\": 1536");
    REQUIRE(pos != std::string::npos);
    cfg.replace(pos, 25, "\"intermediate_size\": 1024");
    plural::test::write_text((dir / "config.json").string(), cfg);
  }
  CHECK_THROWS_WITH(MiniLmEncoder(dir.string()), Contains("encoder.layer.0.intermediate.dense.weight") &&
                                                     Contains("[1536, 384]") && Contains("[1024, 384]"));
}

TEST_CASE("TorchScript encoder runs a scripted module made here", "[core][encoder][torchscript]") {
  TempDir tmp;
  plural::test::write_text(tmp.file("vocab.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\nred\nblue\ngreen\n");
  torch::manual_seed(0);
  auto emb = torch::randn({7, 5});
  torch::jit::Module m("MeanEmbedding");
  m.register_parameter("emb", emb, false);
  m.define(R"(
def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
    e = torch.embedding(self.emb, ids) * mask.unsqueeze(2).float()
    return e.sum(1) / mask.sum(1, keepdim=True).float()
)");
  m.save(tmp.file("m.pt"));
  auto enc = make_encoder("torchscript:path=" + tmp.file("m.pt") + ",vocab=" + tmp.file("vocab.txt") + ",name=toy");
  CHECK(enc->dim() == 5);
  CHECK(enc->id().rfind("torchscript:toy:", 0) == 0);
  auto out = enc->encode({"red blue", "green", "purple"});
  auto expect0 = (emb[2] + emb[4] + emb[5] + emb[3]) / 4;  // [CLS] red blue [SEP]
  auto expect2 = (emb[2] + emb[1] + emb[3]) / 3;           // [CLS] [UNK] [SEP]
  CHECK(torch::allclose(out[0], expect0));
  CHECK(torch::allclose(out[2], expect2));
  CHECK_THROWS_WITH(make_encoder("torchscript:path=" + tmp.file("vocab.txt") + ",vocab=" + tmp.file("vocab.txt")),
                    Contains("not a loadable TorchScript module"));
  CHECK_THROWS_WITH(make_encoder("torchscript:path=" + tmp.file("m.pt")), Contains("needs path=MODULE.pt and vocab"));
}

TEST_CASE("MiniLM token sums: the word tokens' last-layer states, whatever the batch", "[core][encoder][minilm]") {
  auto& enc = shared_encoder();
  std::vector<std::string> texts = {"I would rather help people.", "No.", "",
                                    "A much longer statement, so that the first two are padded in its batch."};
  auto sums = enc.token_sums(texts);
  REQUIRE(sums.sizes() == torch::IntArrayRef({4, enc.dim() + 1}));
  auto ids = enc.tokenize(texts);
  for (size_t i = 0; i < texts.size(); ++i) {
    INFO(texts[i]);
    CHECK(sums[i][enc.dim()].item<double>() == double(ids[i].size() - 2));  // [CLS] and [SEP] left out
    c10::InferenceMode guard;
    auto [x, mask] = enc.hidden_states({ids[i]});
    auto expected = x[0].slice(0, 1, static_cast<int64_t>(ids[i].size()) - 1).sum(0);
    CHECK(torch::allclose(sums[i].narrow(0, 0, enc.dim()), expected, 1e-4, 1e-4));
  }
  auto alone = enc.token_sums({texts[1]});
  CHECK(torch::allclose(alone[0], sums[1], 1e-4, 1e-4));  // padding in a longer batch changes nothing
  CHECK(sums[2].abs().sum().item<double>() == 0.0);       // no words: a zero sum and a zero count
  MiniLmTokenSums as_encoder(std::make_shared<MiniLmEncoder>(model_dir()));
  CHECK(as_encoder.id() == enc.id() + "+token-sums");
  CHECK(as_encoder.dim() == enc.dim() + 1);
}
