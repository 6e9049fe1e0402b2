#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "core/base/error.hpp"
#include "core/data/graded_variants.hpp"
#include "core/data/readers.hpp"
#include "core/dataset_view.hpp"
#include "core/train/spo.hpp"
#include "core/train/trainer.hpp"
#include "tests/helpers.hpp"

using namespace plural::core;
using Catch::Contains;
using plural::test::TempDir;
using plural::test::write_text;

TEST_CASE("SPO degree loss matches a hand-computed value", "[core][spo]") {
  // K = 2: classes 0, 1 (chosen's degrees) and 2, 3 (rejected's). Row 0: logits (0, 0, 0, 0), class 0 → log 4.
  // Row 1: (2, 0, 0, 0), rejected degree 1 → class 3: log(e² + 3) − 0.
  auto logits = torch::tensor({0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0}, torch::kFloat64).view({2, 4});
  auto degree = torch::tensor({0, 1}, torch::kInt64);
  auto rejected = torch::tensor({false, true});
  const double a = std::log(4.0), b = std::log(std::exp(2.0) + 3.0);
  CHECK(spo_degree_loss(logits, degree, rejected).item<double>() == Approx((a + b) / 2).epsilon(1e-12));
  auto w = torch::tensor({3.0, 1.0}, torch::kFloat64);
  CHECK(spo_degree_loss(logits, degree, rejected, w).item<double>() == Approx((3 * a + b) / 4).epsilon(1e-12));
  CHECK_THROWS_WITH(spo_degree_loss(logits, torch::tensor({0, 2}, torch::kInt64), rejected),
                    Contains("degrees must be in [0, 2)"));
  CHECK_THROWS_WITH(spo_degree_loss(logits.narrow(1, 0, 3), degree, rejected), Contains("[N, 2K]"));
  CHECK_THROWS_WITH(spo_degree_loss(logits, degree, rejected, -w), Contains("weights must be >= 0"));
}

TEST_CASE("SPO degree loss gradients agree with finite differences", "[core][spo]") {
  torch::manual_seed(5);
  auto logits = torch::randn({5, 6}, torch::kFloat64).requires_grad_(true);
  auto degree = torch::tensor({0, 2, 1, 1, 0}, torch::kInt64);
  auto rejected = torch::tensor({true, false, false, true, true});
  auto w = torch::tensor({1.0, 0.5, 2.0, 1.0, 0.0}, torch::kFloat64);
  auto g = torch::autograd::grad({spo_degree_loss(logits, degree, rejected, w)}, {logits})[0];
  auto flat = logits.detach().view(-1);
  const double h = 1e-6;
  for (int64_t j = 0; j < flat.numel(); j += 4) {
    double saved = flat[j].item<double>();
    flat[j] = saved + h;
    double up = spo_degree_loss(logits, degree, rejected, w).item<double>();
    flat[j] = saved - h;
    double down = spo_degree_loss(logits, degree, rejected, w).item<double>();
    flat[j] = saved;
    INFO("entry " << j);
    CHECK(g.view(-1)[j].item<double>() == Approx((up - down) / (2 * h)).margin(1e-8).epsilon(1e-5));
  }
}

namespace {
// Two users, four responses; "good" and "bad" have graded variants (degree 1 and 2).
PreferenceData small_data(const TempDir& tmp) {
  auto path = tmp.file("d.jsonl");
  std::string rows;
  for (int i = 0; i < 20; ++i) {
    rows += R"({"user": "u1", "prompt": "p", "chosen": "good", "rejected": "bad"})"
            "\n";
    rows += R"({"user": "u2", "prompt": "p", "chosen": "fine", "rejected": "meh"})"
            "\n";
  }
  rows += R"({"user": "u1", "prompt": "p", "a": "good", "b": "bad", "label": 0.5})"
          "\n";  // a tie: no samples
  write_text(path, rows);
  return read_jsonl(path);
}
}  // namespace

TEST_CASE("graded variants: reading, their samples and training with the degree loss", "[core][spo]") {
  TempDir tmp;
  auto data = small_data(tmp);
  const auto texts_before = data.texts.size();
  auto vpath = tmp.file("v.jsonl");
  write_text(vpath, R"({"text": "good", "variant": "goo", "degree": 1})"
                    "\n"
                    R"({"text": "good", "variant": "go", "degree": 2})"
                    "\n"
                    R"({"text": "bad", "variant": "ba", "degree": 1})"
                    "\n"
                    R"({"text": "elsewhere", "variant": "else", "degree": 1})"
                    "\n");
  auto v = read_graded_variants(vpath, data);
  CHECK(v.levels == 3);
  CHECK(v.variants == 4);
  CHECK(v.unmatched_rows == 1);
  CHECK(data.texts.size() == texts_before + 3);
  REQUIRE(v.of.at(data.texts.find("good")).size() == 2);
  CHECK(v.of.at(data.texts.find("good"))[1] == std::make_pair(2, data.texts.find("go")));

  torch::manual_seed(0);
  auto features = torch::randn({static_cast<int64_t>(data.texts.size()), 8});
  DatasetView view(data, features);
  view.set_graded_variants(std::make_shared<GradedVariants>(v));
  // u1's pair: chosen good at degrees 0, 1, 2 (classes 0, 1, 2) and rejected bad at 0, 1 (classes 3, 4); u2's pairs
  // have no variants and the tie gives nothing.
  auto s = degree_samples(view, torch::tensor({0, 1, 40}, torch::kInt64), v);
  REQUIRE(s.size() == 5);
  CHECK(torch::equal(s.degree, torch::tensor({0, 1, 2, 0, 1}, torch::kInt64)));
  CHECK(s.from_rejected.to(torch::kInt64).sum().item<int64_t>() == 2);
  CHECK(s.text[1].item<int64_t>() == data.texts.find("goo"));

  TrainConfig tc;
  tc.progress = false;
  tc.epochs = 40;
  tc.patience = 0;
  tc.lr = 1e-2;
  tc.spo_weight = 1.0;
  auto model = make_model("bt", view.dims(), R"({"hidden": [16]})");
  auto r = train(*model, view, tc);
  auto degree_loss = [&](size_t e) { return plural::test::diagnostic(r.history.at(e), "spo_degree_loss"); };
  INFO("degree loss " << degree_loss(0) << " → " << degree_loss(r.history.size() - 1));
  CHECK(degree_loss(r.history.size() - 1) < 0.5 * degree_loss(0));

  SECTION("errors") {
    auto plain = make_model("bt", view.dims(), R"({"hidden": [16]})");
    DatasetView without(data, features);
    CHECK_THROWS_WITH(train(*plain, without, tc), Contains("no graded variants (give --variants)"));
    write_text(vpath, R"({"text": "good", "variant": "goo", "degree": 1})"
                      "\n"
                      R"({"text": "good", "variant": "gooo", "degree": 1})"
                      "\n");
    CHECK_THROWS_WITH(read_graded_variants(vpath, data),
                      Contains(vpath + ":2: field 'degree'") && Contains("already has a degree-1 variant (line 1)"));
    write_text(vpath, R"({"text": "good", "variant": "goo", "degree": 0.5})"
                      "\n");
    CHECK_THROWS_WITH(read_graded_variants(vpath, data), Contains(vpath + ":1: field 'degree'"));
    write_text(vpath, R"({"text": "good", "variant": "good", "degree": 1})"
                      "\n");
    CHECK_THROWS_WITH(read_graded_variants(vpath, data), Contains("the same as its original"));
    write_text(vpath, R"({"text": "good", "degree": 1})"
                      "\n");
    CHECK_THROWS_WITH(read_graded_variants(vpath, data), Contains(vpath + ":1: field 'variant'"));
    write_text(vpath, "\n");
    CHECK_THROWS_WITH(read_graded_variants(vpath, data), Contains("no variant rows"));
  }
}
