// Users: adapters (a new user's few comparisons -> UserState), query scorers (which pair to ask next), and the
// Personalizer (the few-shot API on texts).
#include <pybind11/stl.h>

#include "bindings/bindings.hpp"
#include "core/base/error.hpp"
#include "core/query.hpp"
#include "core/query_batch.hpp"
#include "core/session/personalizer.hpp"
#include "embeddings/feature_cache.hpp"
#include "embeddings/feature_source.hpp"
#include "latent/cross_attention.hpp"

namespace plural::bindings {

using namespace plural::core;

namespace {

// Shots from Python must match the model and be finite; an empty batch is allowed (it gives the prior).
void check_shots(const RewardModel& model, const PairBatch& shots, const char* fn) {
  if (!shots.label.defined() || shots.size() == 0) return;
  const auto& d = model.dims();
  for (const ItemBatch* side : {&shots.a, &shots.b}) {
    PLURAL_CHECK(side->x.defined() && side->x.dim() == 2 && side->x.size(1) == d.item_dim, fn,
                 ": shot features "
                 "must be [n, ",
                 d.item_dim, "] (the model's item dim)");
    PLURAL_CHECK(torch::isfinite(side->x).all().item<bool>(), fn, ": shot features contain NaN or Inf");
    if (d.prompt_dim > 0) {
      PLURAL_CHECK(side->prompt.defined() && side->prompt.size(1) == d.prompt_dim, fn, ": this ", model.family(),
                   " model uses prompts; shots need prompt features [n, ", d.prompt_dim, "]");
      PLURAL_CHECK(torch::isfinite(side->prompt).all().item<bool>(), fn, ": shot prompt features contain NaN or Inf");
    }
  }
}

PairBatch empty_shots() {
  PairBatch b;
  b.label = torch::zeros({0});
  b.weight = torch::zeros({0});
  b.user = torch::zeros({0}, torch::kInt64);
  return b;
}

}  // namespace

void bind_users(py::module_& m) {
  m.def("with_strength", &plural::latent::with_strength, py::arg("state"), py::arg("strength"),
        "A cross-attn user's state with the personal term scaled by λ in [0, 1] (0 = the population model)");
  m.def("interpolate_users", &plural::latent::interpolate_users, py::arg("u1"), py::arg("u2"), py::arg("alpha"),
        "The cross-attn user between two others: attention outputs mixed α·a(u1) + (1 − α)·a(u2)");
  py::class_<Adapter>(m, "Adapter", "Turns a new user's few comparisons into a UserState; never changes the model")
      .def_property_readonly("name", &Adapter::name)
      .def(
          "adapt",
          [](const Adapter& a, RewardModel& model, const std::optional<PairBatch>& shots, const std::string& user_id) {
            PairBatch s = shots ? *shots : empty_shots();
            check_shots(model, s, "adapt");
            py::gil_scoped_release release;
            return a.adapt(model, s, user_id);
          },
          py::arg("model"), py::arg("shots"), py::arg("user_id") = "new-user",
          "An empty batch (or None) gives the model's prior state");
  m.def(
      "make_adapter",
      [](const std::string& family, const std::string& name, const py::object& options) {
        return make_adapter(family, name, options.is_none() ? "{}" : json_dumps(options));
      },
      py::arg("family"), py::arg("name") = "", py::arg("options") = py::none(),
      "The adapter `name` of a family ('' = its default: newton for PAL/LoRe, amortized for VPL)");

  py::class_<QueryPool>(m, "QueryPool", "Candidate pairs prepared once for one model")
      .def_readonly("pairs", &QueryPool::pairs)
      .def_readonly("model_id", &QueryPool::model_id)
      .def("__len__", &QueryPool::size);
  m.def(
      "prepare_pool",
      [](RewardModel& model, const PairBatch& candidates) {
        check_shots(model, candidates, "prepare_pool");
        py::gil_scoped_release release;
        return prepare_pool(model, candidates);
      },
      py::arg("model"), py::arg("candidates"));

  py::class_<QueryScorer>(m, "QueryScorer", "Ranks candidate pairs by how informative answering them would be")
      .def_property_readonly("name", &QueryScorer::name)
      .def(
          "score",
          [](const QueryScorer& s, RewardModel& model, const UserState& state, const QueryPool& pool) {
            model.check_state(state, "score");
            PLURAL_CHECK(pool.model_id == model.model_id(), "score: the pool was prepared for another model");
            py::gil_scoped_release release;
            return s.score(model, state, pool);
          },
          py::arg("model"), py::arg("state"), py::arg("pool"))
      .def(
          "score",
          [](const QueryScorer& s, RewardModel& model, const UserState& state, const PairBatch& candidates) {
            model.check_state(state, "score");
            check_shots(model, candidates, "score");
            py::gil_scoped_release release;
            return s.score(model, state, candidates);
          },
          py::arg("model"), py::arg("state"), py::arg("candidates"), "Scores [C]; higher = more informative");
  m.def(
      "choose_batch",
      [](RewardModel& model, const UserState& state, const QueryPool& pool, const QueryScorer& scorer,
         const torch::Tensor& scores, int64_t n, bool batch, double min_gain) {
        model.check_state(state, "choose_batch");
        PLURAL_CHECK(n >= 0, "choose_batch: n must be >= 0, got ", n);
        PLURAL_CHECK(pool.model_id == model.model_id(), "choose_batch: the pool was prepared for another model");
        BatchChoice c;
        {
          py::gil_scoped_release release;
          c = batch ? choose_batch(model, state, pool, scorer, scores, n, min_gain) : choose_top(scores, n, min_gain);
        }
        return py::make_tuple(c.order, c.gain);
      },
      py::arg("model"), py::arg("state"), py::arg("pool"), py::arg("scorer"), py::arg("scores"), py::arg("n"),
      py::arg("batch") = true, py::arg("min_gain") = -1e300,
      "(order, gain): up to n candidates chosen together (each scored given the earlier ones answered), or the top n "
      "by `scores` when batch is False; none whose gain is below min_gain");
  m.def("make_query_scorer", &make_query_scorer, py::arg("name"), py::arg("seed") = 0,
        "random | bald | bald-mc | epig | dopt");
  m.def("query_scorer_names", &query_scorer_names);

  py::class_<TextComparison>(m, "TextComparison", "One answered comparison as texts")
      .def(py::init([](std::string prompt, std::string chosen, std::string rejected, double p, double w) {
             return TextComparison{std::move(prompt), std::move(chosen), std::move(rejected), p, w};
           }),
           py::arg("prompt"), py::arg("chosen"), py::arg("rejected"), py::arg("p_chosen") = 1.0,
           py::arg("weight") = 1.0)
      .def_readwrite("prompt", &TextComparison::prompt)
      .def_readwrite("chosen", &TextComparison::chosen)
      .def_readwrite("rejected", &TextComparison::rejected)
      .def_readwrite("p_chosen", &TextComparison::p_chosen)
      .def_readwrite("weight", &TextComparison::weight);

  py::class_<Personalizer>(m, "Personalizer",
                           "The few-shot API on texts: a trained model plus the feature cache (and its encoder)")
      .def(py::init([](const std::string& model_path, const std::string& cache_path, const std::string& encoder,
                       const std::string& adapter, const py::object& adapter_options) {
             Personalizer::Options o;
             o.encoder = encoder;
             o.adapter = adapter;
             o.adapter_options = adapter_options.is_none() ? "{}" : json_dumps(adapter_options);
             return std::make_unique<Personalizer>(model_path, cache_path, o);
           }),
           py::arg("model_path"), py::arg("cache_path"), py::arg("encoder") = "", py::arg("adapter") = "",
           py::arg("adapter_options") = py::none())
      .def(py::init([](std::shared_ptr<RewardModel> model, std::shared_ptr<FeatureCache> cache,
                       const std::string& encoder_id, const std::string& adapter, const py::object& adapter_options) {
             PLURAL_CHECK(model && cache, "Personalizer: give a model and a FeatureCache");
             Personalizer::Options o;
             o.infer_encoder = false;  // texts come through the caller's FeatureStore; this one reads rows only
             o.adapter = adapter;
             o.adapter_options = adapter_options.is_none() ? "{}" : json_dumps(adapter_options);
             return std::make_unique<Personalizer>(std::move(model), FeatureSource(std::move(cache), "", encoder_id),
                                                   o);
           }),
           py::arg("model"), py::arg("cache"), py::arg("encoder_id"), py::arg("adapter") = "",
           py::arg("adapter_options") = py::none(), "A model in memory whose features are cached under encoder_id")
      .def("adapt", py::overload_cast<const std::string&, const std::vector<TextComparison>&>(&Personalizer::adapt),
           py::arg("user_id"), py::arg("comparisons"), py::call_guard<py::gil_scoped_release>())
      .def(
          "adapt_rows",
          [](Personalizer& p, const std::string& user_id, const std::optional<PairBatch>& shots,
             const std::string& adapter, const py::object& adapter_options) {
            PairBatch s = shots ? *shots : empty_shots();
            check_shots(p.model(), s, "adapt");
            std::string options = adapter_options.is_none() ? "{}" : json_dumps(adapter_options);
            py::gil_scoped_release release;
            return p.adapt(user_id, s, adapter, options);
          },
          py::arg("user_id"), py::arg("shots"), py::arg("adapter") = "", py::arg("adapter_options") = py::none(),
          "A user's state from feature rows (an empty PairBatch gives the prior), with the session's adapter or "
          "another")
      .def("rewards_rows", py::overload_cast<const UserState&, const ItemBatch&>(&Personalizer::rewards),
           py::arg("user"), py::arg("items"), py::call_guard<py::gil_scoped_release>(),
           "Rewards [B] of feature rows, in eval mode without grad")
      .def(
          "preferences",
          [](Personalizer& p, const UserState& user, const PairBatch& pairs) {
            check_shots(p.model(), pairs, "preferences");
            p.model().check_state(user, "preferences");
            py::gil_scoped_release release;
            return p.preferences(user, pairs);
          },
          py::arg("user"), py::arg("pairs"), "P(user prefers a over b) [B] for pairs of feature rows")
      .def("seen_user", &Personalizer::seen_user, py::arg("user_id"))
      .def("reward", &Personalizer::reward, py::arg("user"), py::arg("prompt"), py::arg("response"),
           py::call_guard<py::gil_scoped_release>())
      .def("rewards",
           py::overload_cast<const UserState&, const std::string&, const std::vector<std::string>&>(
               &Personalizer::rewards),
           py::arg("user"), py::arg("prompt"), py::arg("responses"), py::call_guard<py::gil_scoped_release>())
      .def("prefer", &Personalizer::prefer, py::arg("user"), py::arg("prompt"), py::arg("a"), py::arg("b"),
           py::call_guard<py::gil_scoped_release>(), "P(user prefers a over b)")
      .def(
          "user_embedding",
          [](const Personalizer& p, const UserState& s) { return embedding_tuple(p.user_embedding(s)); },
          py::arg("user"),
          "(kind, vector): the user's mixture weights, latent mean or head; ('none', None) without one")
      .def(
          "query",
          [](Personalizer& p, const UserState& user, const PairBatch& candidates, const std::string& scorer, int64_t n,
             uint64_t seed, bool batch, double min_gain) {
            PLURAL_CHECK(n >= 0, "query: n must be >= 0, got ", n);
            check_shots(p.model(), candidates, "query");
            QueryRanking r;
            {
              py::gil_scoped_release release;
              r = p.query(user, candidates, scorer, n, seed, batch, min_gain);
            }
            py::dict out;
            out["scorer"] = r.scorer;
            out["order"] = r.order;
            out["gain"] = r.gain;
            out["batch"] = r.batch;
            out["scores"] = r.scores;
            out["p_a"] = r.p_a;
            out["prepare_ms"] = r.prepare_ms;
            out["score_ms"] = r.score_ms;
            return out;
          },
          py::arg("user"), py::arg("candidates"), py::arg("scorer") = "bald", py::arg("n") = 5, py::arg("seed") = 0,
          py::arg("batch") = true, py::arg("min_gain") = -1e300,
          "The n candidate pairs (a PairBatch, e.g. from pairs()) most worth asking the user next, chosen together "
          "(batch) or the top n by score: a dict with order (as chosen), gain (each one's score given the earlier "
          "ones), scores, p_a and timings; pairs whose gain is below min_gain are left out")
      .def("features", &Personalizer::features, py::arg("texts"), py::call_guard<py::gil_scoped_release>())
      .def("pairs", &Personalizer::pairs, py::arg("comparisons"))
      .def("save", &Personalizer::save, py::arg("path"), "The model file, with the id of the features it reads")
      .def_property_readonly("model", &Personalizer::shared_model)
      .def_property_readonly("encoder_id", &Personalizer::encoder_id);
}

}  // namespace plural::bindings
