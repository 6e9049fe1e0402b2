#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "core/base/error.hpp"
#include "core/data/readers.hpp"
#include "core/dataset_view.hpp"
#include "core/session/personalizer.hpp"
#include "core/train/trainer.hpp"
#include "embeddings/encode.hpp"
#include "embeddings/feature_cache.hpp"
#include "embeddings/feature_source.hpp"
#include "tests/helpers.hpp"

using namespace plural::core;
using Catch::Contains;
using plural::test::TempDir;

namespace {
// A PAL-B model trained briefly on the tiny file's hashed features, saved with its encoder id.
std::string trained_model(const TempDir& tmp, const std::string& family) {
  auto data = read_preferences(plural::test::source_dir() + "/tests/data/tiny.jsonl");
  auto enc = make_encoder("hashed:dim=64");
  FeatureCache cache(tmp.file("cache.h5"));
  EncodeOptions eo;
  eo.progress = false;
  DatasetView view(data, dataset_features(cache, enc->id(), data, enc.get(), eo));
  torch::manual_seed(0);
  auto model = make_model(family, view.dims(), family == "bt" ? "{}" : R"({"k": 2})");
  TrainConfig tc;
  tc.progress = false;
  tc.epochs = 3;
  tc.patience = 0;
  train(*model, view, tc);
  std::string path = tmp.file(family + ".pt");
  save_model(*model, path, enc->id());
  return path;
}
}  // namespace

TEST_CASE("few-shot API: texts -> UserState -> rewards, equal to the model's own scoring", "[api]") {
  TempDir tmp;
  Personalizer p(trained_model(tmp, "pal-b"), tmp.file("cache.h5"));
  CHECK(p.encoder_id().rfind("hashed-ngram-v1:dim=64", 0) == 0);
  // New texts (not in the cache) are encoded with the encoder inferred from the model's feature id.
  std::vector<TextComparison> shots = {{"Pick one", "a warm and kind reply", "a cold reply"},
                                       {"Pick one", "a helpful answer", "a rude answer"},
                                       {"Pick one", "a detailed answer", "a short answer", 0.8}};
  UserState alice = p.adapt("alice", shots);
  CHECK(alice.user_id == "alice");
  CHECK(alice.shots == 3);
  CHECK(alice.tensors.count("cov") == 1);

  double r = p.reward(alice, "Pick one", "a kind answer");
  auto rs = p.rewards(alice, "Pick one", {"a kind answer", "a rude answer"});
  REQUIRE(rs.size() == 2);
  CHECK(rs[0] == Approx(r).margin(1e-6));
  // The same number through the model directly.
  ItemBatch items;
  items.x = p.features({"a kind answer"});
  items.prompt = p.features({"Pick one"});
  CHECK(p.rewards(alice, items)[0].item<double>() == Approx(r).margin(1e-6));
  CHECK(p.prefer(alice, "Pick one", "a kind answer", "a rude answer") ==
        Approx(1.0 / (1.0 + std::exp(-(rs[0] - rs[1])))).margin(1e-5));

  // Feature rows give the same state as texts.
  UserState again = p.adapt("alice", p.pairs(shots));
  CHECK(torch::equal(again.at("theta"), alice.at("theta")));

  // Save / load round trip scores identically.
  alice.save(tmp.file("alice.state"));
  UserState loaded = UserState::load(tmp.file("alice.state"));
  CHECK(p.reward(loaded, "Pick one", "a kind answer") == Approx(r).margin(1e-9));

  // No comparisons: the prior state, not an error.
  UserState nobody = p.adapt("nobody", std::vector<TextComparison>{});
  CHECK(nobody.shots == 0);
  CHECK(torch::equal(nobody.at("theta"), p.model().prior_state().at("theta")));

  // A seen user by id; an unknown id is a clear error.
  CHECK(p.seen_user("u1").user_id == "u1");
  CHECK_THROWS_WITH(p.seen_user("zed"), Contains("unknown user id 'zed'"));
}

TEST_CASE("few-shot API: bad input gives clear errors", "[api][errors]") {
  TempDir tmp;
  Personalizer p(trained_model(tmp, "pal-b"), tmp.file("cache.h5"));
  CHECK_THROWS_WITH(p.adapt("x", {{"", "a", "b"}}), Contains("uses prompts"));
  CHECK_THROWS_WITH(p.adapt("x", {{"Pick one", "", "b"}}), Contains("comparison 0: empty"));
  CHECK_THROWS_WITH(p.adapt("x", {{"Pick one", "a", "b", 1.5}}), Contains("p_chosen"));
  // A state from another model is refused when scoring.
  Personalizer other(trained_model(tmp, "bt"), tmp.file("cache.h5"));
  UserState bt_user = other.adapt("y", {{"Pick one", "a", "b"}});
  CHECK_THROWS_WITH(p.reward(bt_user, "Pick one", "a"), Contains("is from a 'bt' model"));
  // A wrong encoder for the model's features.
  Personalizer::Options o;
  o.encoder = "hashed:dim=32";
  CHECK_THROWS_WITH(Personalizer(tmp.file("pal-b.pt"), tmp.file("cache.h5"), o), Contains("trained on"));
  // Without an encoder, a text the cache lacks is an error naming it (the CLI's mode: encode only when told to).
  Personalizer::Options cached_only;
  cached_only.infer_encoder = false;
  Personalizer strict(tmp.file("pal-b.pt"), tmp.file("cache.h5"), cached_only);
  CHECK_THROWS_WITH(strict.reward(strict.seen_user("u1"), "Pick one", "a text nobody encoded"),
                    Contains("a text nobody encoded"));
}

TEST_CASE("session: fit with the family's defaults, resolve users, typed embeddings, ranked queries", "[api]") {
  TempDir tmp;
  auto data = read_preferences(plural::test::source_dir() + "/tests/data/tiny.jsonl");
  auto cache = std::make_shared<FeatureCache>(tmp.file("cache.h5"));
  TrainConfig tc;
  tc.progress = false;
  tc.epochs = 2;
  tc.seed = 7;
  TrainResult result;
  auto fit = [&] {
    return Personalizer::fit("pal-b", data, FeatureSource(cache, "hashed:dim=64", ""), R"({"k": 2})", tc, &result);
  };
  Personalizer p = fit();
  CHECK(result.epochs_run == 2);
  CHECK(p.encoder_id().rfind("hashed-ngram-v1:dim=64", 0) == 0);
  // The same seed gives the same model: a fit is reproducible from any front end.
  Personalizer q = fit();
  auto r1 = p.rewards(p.seen_user("u1"), "Pick one", {"a kind answer"});
  CHECK(r1[0] == q.rewards(q.seen_user("u1"), "Pick one", {"a kind answer"})[0]);

  // Users: a seen id, a saved state, answers adapted now, or the prior.
  UserSource seen;
  seen.user_id = "u1";
  CHECK(torch::equal(p.user(seen).at("theta"), p.seen_user("u1").at("theta")));
  p.seen_user("u1").save(tmp.file("u1.state"));
  UserSource saved;
  saved.state_path = tmp.file("u1.state");
  CHECK(torch::equal(p.user(saved).at("theta"), p.seen_user("u1").at("theta")));
  CHECK(p.user(UserSource{}).shots == 0);
  UserSource answers;
  answers.answers = &data;
  answers.user_id = "u1";
  auto rows = user_answer_rows(data, answers.user_id, "tiny.jsonl", "test");
  UserState adapted = p.user(answers);
  CHECK(adapted.shots == static_cast<int64_t>(rows.size()));
  CHECK(torch::equal(adapted.at("theta"), p.adapt("u1", p.view(data).batch(rows)).at("theta")));

  // PAL-B's embedding is the user's weights on the prototypes: softmax(theta), on the simplex.
  auto e = p.user_embedding(p.seen_user("u1"));
  CHECK(e.kind == UserEmbedding::Kind::mixture_weights);
  CHECK(torch::allclose(e.values, torch::softmax(p.seen_user("u1").at("theta"), 0)));
  CHECK(e.values.sum().item<double>() == Approx(1.0).margin(1e-6));
  Personalizer bt(trained_model(tmp, "bt"), tmp.file("cache.h5"));
  CHECK(bt.user_embedding(bt.model().prior_state()).kind == UserEmbedding::Kind::none);
  CHECK_THROWS_WITH(p.user_embedding(bt.model().prior_state()), Contains("is from a 'bt' model"));

  // Queries: the n best candidates, best first, with P(a) from the user's own logits.
  auto pool = p.view(data).batch(std::vector<size_t>{0, 1, 2, 3});
  auto ranking = p.query(adapted, pool, "bald", 3);
  REQUIRE(ranking.order.size() == 3);
  CHECK(ranking.scorer == "bald");
  for (size_t i = 1; i < ranking.order.size(); ++i)
    CHECK(ranking.scores[ranking.order[i - 1]].item<double>() >= ranking.scores[ranking.order[i]].item<double>());
  CHECK(torch::allclose(ranking.p_a, torch::sigmoid(p.model().logits_for(pool, adapted))));
  CHECK_THROWS_WITH(p.query(adapted, pool, "entropy", 3), Contains("unknown query scorer 'entropy'"));
}
