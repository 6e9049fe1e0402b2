#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <numeric>
#include <set>

#include "core/base/error.hpp"
#include "core/data/persona_k.hpp"
#include "core/data/ukp.hpp"
#include "core/dataset_view.hpp"
#include "core/eval/evaluator.hpp"
#include "core/eval/stats.hpp"
#include "core/train/trainer.hpp"
#include "tests/helpers.hpp"

using namespace plural::core;
using Catch::Contains;

namespace {
PersonaKConfig small_persona(uint64_t seed) {
  PersonaKConfig c;
  c.statements_path = plural::test::source_dir() + "/data/persona/statements.tsv.gz";
  c.seed = seed;
  c.seen_users = 60;
  c.unseen_users = 10;
  c.statements_per_behavior = 120;
  c.train_pairs = 100;
  return c;
}
}  // namespace

TEST_CASE("Persona-K is deterministic, labels follow the planted mixture, splits use disjoint statements",
          "[core][data][persona]") {
  auto a = generate_persona_k(small_persona(7));
  auto b = generate_persona_k(small_persona(7));
  auto c = generate_persona_k(small_persona(8));
  REQUIRE(a.data.comparisons.size() == b.data.comparisons.size());
  CHECK(a.data.texts.all() == b.data.texts.all());
  CHECK(a.behaviors == b.behaviors);
  bool same_labels = true;
  for (size_t i = 0; i < a.data.comparisons.size(); ++i)
    same_labels = same_labels && a.data.comparisons[i].label == b.data.comparisons[i].label &&
                  a.data.comparisons[i].a == b.data.comparisons[i].a;
  CHECK(same_labels);
  CHECK(a.behaviors != c.behaviors);
  CHECK(a.behaviors.size() == 12);
  CHECK(a.prototypes.size() == 3);
  CHECK(a.weights.size() == 70);
  for (const auto& w : a.weights) CHECK(std::accumulate(w.begin(), w.end(), 0.0) == Approx(1.0));
  // 60 seen users × (100 + 20 + 50) and 10 unseen × (50 + 50).
  CHECK(a.data.comparisons.size() == 60 * 170 + 10 * 100);
  std::set<int32_t> train_texts, test_texts;
  for (const auto& cmp : a.data.comparisons) {
    auto& s = (cmp.split == Split::test) ? test_texts : train_texts;
    if (cmp.split == Split::val) continue;
    s.insert(cmp.a);
    s.insert(cmp.b);
  }
  for (auto t : test_texts) CHECK(train_texts.count(t) == 0);
  CHECK(a.data.users[0].seen);
  CHECK_FALSE(a.data.users[65].seen);
}

TEST_CASE("Persona-K bad options are errors", "[core][data][persona][errors]") {
  auto c = small_persona(0);
  c.prototypes = 0;
  CHECK_THROWS_WITH(generate_persona_k(c), Contains("prototypes must be >= 1"));
  c = small_persona(0);
  c.behavior_names = {"agreeableness", "no-such-trait"};
  CHECK_THROWS_WITH(generate_persona_k(c), Contains("unknown behaviour 'no-such-trait'"));
  c = small_persona(0);
  c.statements_path = "/nonexistent/statements.tsv.gz";
  CHECK_THROWS_AS(generate_persona_k(c), plural::IoError);
}

namespace {
// Features that carry what Persona-K rewards depend on: a one-hot of the statement's behaviour times its stance,
// blurred with N(0, 0.1²) noise and padded with 16 pure-noise dimensions. They stand in for a good frozen encoder,
// so the test measures the models, not the encoder (hashed n-grams barely see stance; bench/RESULTS.md).
torch::Tensor ground_truth_features(const PersonaK& pk, uint64_t seed) {
  torch::manual_seed(seed);
  const auto T = static_cast<int64_t>(pk.data.texts.size()), D = static_cast<int64_t>(pk.behaviors.size());
  auto f = 0.1 * torch::randn({T, D + 16});
  for (int64_t t = 0; t < T; ++t)
    if (pk.text_behavior[t] >= 0) f[t][pk.text_behavior[t]] += pk.text_stance[t];
  return f;
}
}  // namespace

TEST_CASE("per-user BT beats population BT on Persona-K seen users and Newton adaptation helps unseen users",
          "[core][models][persona]") {
  auto pk = generate_persona_k(small_persona(1));
  DatasetView view(pk.data, ground_truth_features(pk, 1));
  TrainConfig cfg;
  cfg.progress = false;
  cfg.epochs = 40;
  cfg.patience = 8;
  auto run = [&](const std::string& family) {
    torch::manual_seed(0);
    auto m = make_model(family, view.dims(), R"({"hidden": []})");
    train(*m, view, cfg);
    EvalConfig ec;
    ec.shots = {0, 50};
    return evaluate_grid(*m, view, ec);
  };
  auto bt = run("bt"), per_user = run("per-user-bt");
  INFO("bt seen " << bt[0].pairs.accuracy << ", per-user-bt seen " << per_user[0].pairs.accuracy);
  CHECK(per_user[0].pairs.accuracy > bt[0].pairs.accuracy + 0.05);
  CHECK(per_user[0].per_user.worst_decile > bt[0].per_user.worst_decile);
  INFO("unseen, 0 shots " << per_user[1].pairs.accuracy << ", 50 shots " << per_user[2].pairs.accuracy);
  CHECK(per_user[2].pairs.accuracy > per_user[1].pairs.accuracy + 0.03);
  CHECK(bt[2].pairs.accuracy == bt[1].pairs.accuracy);  // the population model has nothing to adapt
}

TEST_CASE("UKPConvArg1 import: real workers, strict judgements, unseen workers held out", "[core][data][ukp]") {
  UkpConfig c;
  c.dir = plural::test::source_dir() + "/data/ukpconvarg1";
  auto d = import_ukp(c);
  CHECK(d.users.size() == 444);  // workers with >= 20 strict judgements (data/README.md)
  size_t unseen = 0;
  for (const auto& u : d.users) unseen += !u.seen;
  CHECK(unseen == 89);  // round(0.2 * 444)
  for (const auto& cmp : d.comparisons) {
    CHECK(cmp.label != 0.5f);
    CHECK(cmp.prompt_a >= 0);
  }
  CHECK(d.texts[d.comparisons[0].prompt_a].find(": ") != std::string::npos);
  c.keep_equal = true;
  auto e = import_ukp(c);
  CHECK(e.comparisons.size() > d.comparisons.size());
  c.dir = "/nonexistent";
  CHECK_THROWS_WITH(import_ukp(c), Contains("missing topics.tsv"));
}

TEST_CASE("UKPConvArg1 import: the worker's stance as a context, true or flipped, rows aligned", "[core][data][ukp]") {
  UkpConfig c;
  c.dir = plural::test::source_dir() + "/data/ukpconvarg1";
  c.stance_context = "true";
  auto t = import_ukp(c);
  c.stance_context = "flipped";
  auto f = import_ukp(c);
  REQUIRE(t.comparisons.size() == f.comparisons.size());
  size_t agree = 0, disagree = 0, none = 0, missing = 0;
  for (size_t i = 0; i < t.comparisons.size(); ++i) {
    const auto &a = t.comparisons[i], &b = f.comparisons[i];
    REQUIRE(t.texts[a.a] == f.texts[b.a]);
    REQUIRE(a.label == b.label);
    REQUIRE(a.split == b.split);
    if (a.context < 0) {
      ++missing;
      CHECK(b.context < 0);
      continue;
    }
    const std::string ct = t.texts[a.context], cf = f.texts[b.context];
    if (ct.find("agrees") != std::string::npos && ct.find("disagrees") == std::string::npos) {
      ++agree;
      CHECK(cf.find("disagrees") != std::string::npos);
    } else if (ct.find("disagrees") != std::string::npos) {
      ++disagree;
      CHECK(cf.find("disagrees") == std::string::npos);
      CHECK(cf.find("agrees") != std::string::npos);
    } else {
      ++none;
      CHECK(ct == cf);
    }
  }
  CHECK(agree > 1000);
  CHECK(disagree > 1000);
  CHECK(none > 100);
  CHECK(missing > 0);
  c.stance_context = "maybe";
  CHECK_THROWS_WITH(import_ukp(c), Contains("stance_context must be"));

  plural::test::TempDir tmp;
  plural::test::write_text(tmp.file("topics.tsv"), "topic_id\ttopic_file\tdebate_title\n0\tx_yes\tX\n");
  plural::test::write_text(tmp.file("arguments.tsv"), "topic_id\targ_id\tstance\ttext\n0\ta\tyes\tA\n0\tb\tyes\tB\n");
  plural::test::write_text(tmp.file("annotations.tsv"),
                           "topic_id\targ1_id\targ2_id\tworker_id\tlabel\tworker_stance\tgold_label\n"
                           "0\ta\tb\tw\ta1\tmaybe\t-\n");
  c.dir = tmp.path.string();
  c.stance_context = "";
  CHECK_THROWS_WITH(import_ukp(c), Contains("annotations.tsv:2: column 'worker_stance'"));
}
