// Models: batches, UserState, RewardModel and its registry, the Trainer and the Evaluator.
#include <pybind11/stl.h>

#include "bindings/bindings.hpp"
#include "core/base/error.hpp"
#include "core/diagnostics/ches.hpp"
#include "core/eval/evaluator.hpp"
#include "core/family.hpp"
#include "core/model.hpp"
#include "core/session/auto_select.hpp"
#include "core/train/fit.hpp"
#include "core/train/losses.hpp"
#include "core/train/policy_losses.hpp"
#include "core/train/spo.hpp"
#include "core/train/train_defaults.hpp"
#include "core/train/trainer.hpp"
#include "latent/context_model.hpp"

namespace plural::bindings {

using namespace plural::core;

namespace {

// Features from Python: 2-D floating point with the expected width; float32 passes through without a copy.
torch::Tensor feature_matrix(const torch::Tensor& t, const char* fn, const char* field) {
  PLURAL_CHECK(t.dim() == 2, fn, ": ", field, " must be a 2-D tensor [rows, dim], got ", t.dim(), "-D");
  PLURAL_CHECK(t.is_floating_point(), fn, ": ", field, " must be floating point, got ", t.dtype());
  PLURAL_CHECK(t.device().is_cpu(), fn, ": ", field, " must be on the CPU");
  return t.to(torch::kFloat32);
}

ItemBatch make_items(const py::object& x, const py::object& prompt, const py::object& context) {
  ItemBatch items;
  items.x = feature_matrix(tensor_arg(x, "ItemBatch", "x"), "ItemBatch", "x");
  auto rows_match = [&](const py::object& t, const char* field) {
    auto m = feature_matrix(tensor_arg(t, "ItemBatch", field), "ItemBatch", field);
    PLURAL_CHECK(m.size(0) == items.x.size(0), "ItemBatch: ", field, " has ", m.size(0), " rows, x has ",
                 items.x.size(0));
    return m;
  };
  if (!prompt.is_none()) items.prompt = rows_match(prompt, "prompt");
  if (!context.is_none()) {
    items.context = rows_match(context, "context");
    items.has_context = torch::ones({items.x.size(0)}, torch::kBool);
  }
  return items;
}

torch::Tensor vector_or(const py::object& obj, int64_t n, float fill, const char* field) {
  if (obj.is_none()) return torch::full({n}, fill, torch::kFloat32);
  auto t = tensor_arg(obj, "PairBatch", field);
  PLURAL_CHECK(t.dim() == 1 && t.size(0) == n, "PairBatch: ", field, " must be a 1-D tensor of ", n,
               " values, got shape ", t.sizes());
  return t.to(torch::kFloat32);
}

// What a model needs of items before it sees them: the widths it was built for, and finite values.
void check_items(const RewardModel& model, const ItemBatch& items, const char* fn) {
  const auto& d = model.dims();
  PLURAL_CHECK(items.x.defined(), fn, ": items have no features");
  PLURAL_CHECK(items.x.size(1) == d.item_dim, fn, ": item features have ", items.x.size(1), " columns, the ",
               model.family(), " model was trained on ", d.item_dim);
  PLURAL_CHECK(torch::isfinite(items.x).all().item<bool>(), fn, ": item features contain NaN or Inf");
  if (d.prompt_dim > 0) {
    PLURAL_CHECK(items.prompt.defined(), fn, ": this ", model.family(), " model uses prompts; give prompt features");
    PLURAL_CHECK(items.prompt.size(1) == d.prompt_dim, fn, ": prompt features have ", items.prompt.size(1),
                 " columns, the model expects ", d.prompt_dim);
    PLURAL_CHECK(torch::isfinite(items.prompt).all().item<bool>(), fn, ": prompt features contain NaN or Inf");
  }
}

void check_pairs(const RewardModel& model, const PairBatch& b, const char* fn) {
  check_items(model, b.a, fn);
  check_items(model, b.b, fn);
  PLURAL_CHECK(b.label.defined() && b.label.size(0) == b.a.size(), fn, ": labels do not match the pairs");
}

torch::Tensor seen_rows(const RewardModel& model, const py::object& users, int64_t n, const char* fn) {
  if (users.is_none()) return torch::full({n}, -1, torch::kInt64);
  if (py::isinstance<py::str>(users)) {
    auto id = users.cast<std::string>();
    int64_t r = model.user_row(id);
    PLURAL_CHECK(r >= 0, fn, ": unknown user id '", id, "' (the model was trained on ", model.dims().users.size(),
                 " users)");
    return torch::full({n}, r, torch::kInt64);
  }
  auto t = users.cast<torch::Tensor>();
  PLURAL_CHECK(t.dim() == 1 && t.size(0) == n && !t.is_floating_point(), fn,
               ": users must be an id, None, or a 1-D integer tensor of ", n, " user rows");
  t = t.to(torch::kInt64);
  const int64_t u = static_cast<int64_t>(model.dims().users.size());
  PLURAL_CHECK(n == 0 || (t.min().item<int64_t>() >= -1 && t.max().item<int64_t>() < u), fn,
               ": user rows must be in [-1, ", u, ")");
  return t;
}

UserState seen_state_by(const RewardModel& model, const py::object& user) {
  if (user.is_none()) return model.prior_state();
  if (py::isinstance<py::str>(user)) {
    auto id = user.cast<std::string>();
    int64_t r = model.user_row(id);
    PLURAL_CHECK(r >= 0, "seen_state: unknown user id '", id, "' (the model was trained on ", model.dims().users.size(),
                 " users)");
    return model.seen_state(r);
  }
  auto r = user.cast<int64_t>();
  PLURAL_CHECK(r >= 0 && r < static_cast<int64_t>(model.dims().users.size()), "seen_state: row ", r,
               " is not a seen user (0 .. ", model.dims().users.size(), ")");
  return model.seen_state(r);
}

}  // namespace

py::tuple embedding_tuple(const UserEmbedding& e) {
  return py::make_tuple(embedding_kind_name(e.kind), e.values.defined() ? py::cast(e.values) : py::none());
}

namespace {

py::dict epoch_dict(const EpochLog& e) {
  py::dict d;
  d["epoch"] = e.epoch;
  d["train_loss"] = e.train_loss;
  d["val_loss"] = e.val_loss;
  d["val_accuracy"] = e.val_accuracy;
  d["seconds"] = e.seconds;
  d["elapsed"] = e.elapsed;
  d["pairs_per_second"] = e.pairs_per_second;
  for (const auto& [k, v] : e.diagnostics) d[py::str(k)] = v;
  return d;
}

void bind_batches(py::module_& m) {
  py::class_<ItemBatch>(m, "ItemBatch", "Features of items to score: x [B, D], optional prompt [B, Dp], context")
      .def(py::init(&make_items), py::arg("x"), py::arg("prompt") = py::none(), py::arg("context") = py::none())
      .def_readwrite("x", &ItemBatch::x)
      .def_readwrite("prompt", &ItemBatch::prompt)
      .def_readwrite("context", &ItemBatch::context)
      .def_readwrite("has_context", &ItemBatch::has_context)
      .def("__len__", &ItemBatch::size);

  py::class_<PairBatch>(m, "PairBatch", "Comparisons: P(a preferred to b) = sigmoid(logit)")
      .def(py::init([](const ItemBatch& a, const ItemBatch& b, const py::object& label, const py::object& weight,
                       const py::object& user) {
             PLURAL_CHECK(a.size() == b.size(), "PairBatch: a has ", a.size(), " items, b has ", b.size());
             PairBatch p;
             p.a = a;
             p.b = b;
             const int64_t n = a.size();
             p.label = vector_or(label, n, 1.f, "label");
             PLURAL_CHECK(n == 0 || ((p.label >= 0).all().item<bool>() && (p.label <= 1).all().item<bool>()),
                          "PairBatch: labels are P(a preferred to b) and must be in [0, 1]");
             p.weight = vector_or(weight, n, 1.f, "weight");
             PLURAL_CHECK(n == 0 || (p.weight >= 0).all().item<bool>(), "PairBatch: weights must be >= 0");
             if (user.is_none()) {
               p.user = torch::full({n}, -1, torch::kInt64);
             } else {
               p.user = tensor_arg(user, "PairBatch", "user");
               PLURAL_CHECK(p.user.dim() == 1 && p.user.size(0) == n && !p.user.is_floating_point(),
                            "PairBatch: user must be a 1-D integer tensor of ", n, " seen-user rows (-1: not seen)");
               p.user = p.user.to(torch::kInt64);
             }
             return p;
           }),
           py::arg("a"), py::arg("b"), py::arg("label") = py::none(), py::arg("weight") = py::none(),
           py::arg("user") = py::none(), "label defaults to 1 (a preferred), weight to 1, user to -1 (not seen)")
      .def_readwrite("a", &PairBatch::a)
      .def_readwrite("b", &PairBatch::b)
      .def_readwrite("user", &PairBatch::user)
      .def_readwrite("label", &PairBatch::label)
      .def_readwrite("weight", &PairBatch::weight)
      .def_readwrite("margin", &PairBatch::margin)
      .def_readwrite("rationale", &PairBatch::rationale, "[B, D] rationale features (training only), or None")
      .def_readwrite("rationale_id", &PairBatch::rationale_id, "[B] rationale text index (-1 = none), or None")
      .def_readwrite("extra", &PairBatch::extra)
      .def("select", &PairBatch::select, py::arg("rows"))
      .def("__len__", [](const PairBatch& p) { return p.label.defined() ? p.size() : 0; });

  py::class_<UserState>(m, "UserState", "What a model knows about one person; carries the id of its model")
      .def(py::init<>())
      .def_readwrite("family", &UserState::family)
      .def_readwrite("model_id", &UserState::model_id)
      .def_readwrite("user_id", &UserState::user_id)
      .def_readwrite("shots", &UserState::shots)
      .def_readwrite("tensors", &UserState::tensors)
      .def("__getitem__", &UserState::at, py::arg("name"))
      .def("save", &UserState::save, py::arg("path"))
      .def_static("load", &UserState::load, py::arg("path"))
      .def("__repr__", [](const UserState& s) {
        std::string names;
        for (const auto& kv : s.tensors) names += (names.empty() ? "" : ", ") + kv.first;
        return "<UserState " + s.family + " user '" + s.user_id + "' shots=" + std::to_string(s.shots) + " [" + names +
               "]>";
      });

  py::class_<ModelDims>(m, "ModelDims", "Sizes of the inputs a model is built for, and its seen users")
      .def(py::init<>())
      .def_readwrite("item_dim", &ModelDims::item_dim)
      .def_readwrite("prompt_dim", &ModelDims::prompt_dim)
      .def_readwrite("context_dim", &ModelDims::context_dim)
      .def_readwrite("users", &ModelDims::users);
}

void bind_reward_model(py::module_& m) {
  py::class_<RewardModel, std::shared_ptr<RewardModel>>(m, "RewardModel",
                                                        "A reward model of any family (make_model, load_model)")
      .def_property_readonly("family", &RewardModel::family)
      .def_property_readonly("config", [](const RewardModel& r) { return json_loads(r.config_json()); })
      .def_property_readonly("dims", &RewardModel::dims)
      .def_property_readonly("model_id", &RewardModel::model_id)
      .def_property_readonly("users", [](const RewardModel& r) { return r.dims().users; })
      .def("user_row", &RewardModel::user_row, py::arg("user_id"), "row of a seen user, -1 when unknown")
      .def(
          "reward_seen",
          [](RewardModel& r, const ItemBatch& items, const py::object& users) {
            check_items(r, items, "reward_seen");
            auto rows = seen_rows(r, users, items.size(), "reward_seen");
            py::gil_scoped_release release;
            return r.reward_seen(items, rows);
          },
          py::arg("items"), py::arg("users") = py::none(),
          "Rewards [B] for seen users: one id for all rows, a tensor of user rows, or None (population)")
      .def(
          "reward",
          [](RewardModel& r, const ItemBatch& items, const UserState& state) {
            check_items(r, items, "reward");
            r.check_state(state, "reward");
            py::gil_scoped_release release;
            return r.reward(items, state);
          },
          py::arg("items"), py::arg("state"), "Rewards [B] of items for one user state")
      .def(
          "logits",
          [](RewardModel& r, const PairBatch& b) {
            check_pairs(r, b, "logits");
            py::gil_scoped_release release;
            return r.logits(b);
          },
          py::arg("batch"), "Preference logits [B] of seen users' pairs (batch.user rows)")
      .def(
          "logits_for",
          [](RewardModel& r, const PairBatch& b, const UserState& state) {
            check_pairs(r, b, "logits_for");
            r.check_state(state, "logits_for");
            py::gil_scoped_release release;
            return r.logits_for(b, state);
          },
          py::arg("batch"), py::arg("state"))
      .def(
          "item_representation",
          [](RewardModel& r, const ItemBatch& items) -> py::object {
            check_items(r, items, "item_representation");
            torch::Tensor h;
            {
              py::gil_scoped_release release;
              h = r.item_representation(items);
            }
            if (!h.defined()) return py::none();
            return py::cast(h);
          },
          py::arg("items"),
          "The learned item representation [B, H] the rationale loss shapes (None: the family has none)")
      .def("regularizer", &RewardModel::regularizer, py::arg("batch"))
      .def("seen_state", &seen_state_by, py::arg("user"),
           "The trained state of a seen user (id or row); None gives the prior state")
      .def("prior_state", &RewardModel::prior_state)
      .def(
          "user_embedding",
          [](const RewardModel& r, const UserState& s) {
            r.check_state(s, "user_embedding");
            return embedding_tuple(r.user_embedding(s));
          },
          py::arg("state"),
          "(kind, vector) of a user's learned vector: 'mixture_weights' (PAL, LoRe), 'latent_mean' (VPL), 'head' "
          "(per-user BT), or ('none', None) for families without one")
      .def(
          "check_state", [](const RewardModel& r, const UserState& s) { r.check_state(s, "check_state"); },
          py::arg("state"))
      .def("parameters", [](RewardModel& r) { return r.parameters(); })
      .def("named_parameters",
           [](RewardModel& r) {
             std::map<std::string, torch::Tensor> out;
             for (const auto& p : r.named_parameters()) out[p.key()] = p.value();
             return out;
           })
      .def("named_buffers",
           [](RewardModel& r) {
             std::map<std::string, torch::Tensor> out;
             for (const auto& p : r.named_buffers()) out[p.key()] = p.value();
             return out;
           })
      .def("param_groups", &RewardModel::param_groups)
      .def("num_parameters",
           [](RewardModel& r) {
             int64_t n = 0;
             for (const auto& p : r.parameters()) n += p.numel();
             return n;
           })
      .def(
          "train", [](RewardModel& r, bool on) { r.train(on); }, py::arg("mode") = true)
      .def("eval", [](RewardModel& r) { r.eval(); })
      .def_property_readonly("training", [](const RewardModel& r) { return r.is_training(); })
      .def(
          "save",
          [](const RewardModel& r, const std::string& path, const std::string& encoder_id) {
            save_model(r, path, encoder_id);
          },
          py::arg("path"), py::arg("encoder_id") = "")
      .def("__repr__", [](const RewardModel& r) {
        return "<RewardModel " + r.family() + " " + r.config_json() + ", " + std::to_string(r.dims().users.size()) +
               " seen users>";
      });

  m.def(
      "make_model",
      [](const std::string& family, const ModelDims& dims, const py::object& config) {
        return make_model(family, dims, config.is_none() ? "{}" : json_dumps(config));
      },
      py::arg("family"), py::arg("dims"), py::arg("config") = py::none(),
      "Builds a model; config (dict or JSON) overrides the family's defaults, unknown keys are errors");
  m.def(
      "load_model",
      [](const std::string& path) {
        std::string encoder_id;
        auto model = load_model(path, &encoder_id);
        return py::make_tuple(model, encoder_id);
      },
      py::arg("path"), "(model, encoder_id) from a saved model file");
  m.def("save_model", &save_model, py::arg("model"), py::arg("path"), py::arg("encoder_id") = "");
  m.def("model_families", &model_families);
  m.def(
      "family_config",
      [](const std::string& family) {
        auto loads = py::module_::import("json").attr("loads");
        py::list out;
        for (const auto& f : family_record(family).config) {
          py::dict d;
          d["name"] = f.name;
          d["type"] = f.type;
          d["default"] = loads(f.default_value.dump());
          d["min"] = f.lo;
          d["max"] = f.hi;
          d["help"] = f.help;
          out.append(d);
        }
        return out;
      },
      py::arg("family"),
      "The family's config keys as dicts: name, type, default, min, max, help (declared once in C++)");
  m.def("adapter_names", &adapter_names, py::arg("family"));
  m.def("require_model_family", &require_model_family, py::arg("family"));
}

void bind_training(py::module_& m) {
  py::class_<LossOptions>(m, "LossOptions")
      .def(py::init<>())
      .def_readwrite("margin", &LossOptions::margin)
      .def_readwrite("smoothing", &LossOptions::smoothing)
      .def_readwrite("hinge_margin", &LossOptions::hinge_margin)
      .def_readwrite("ipo_tau", &LossOptions::ipo_tau);

  py::class_<TrainConfig>(m, "TrainConfig", "AdamW with per-group learning rates, early stopping on validation")
      .def(py::init<>())
      .def_readwrite("loss", &TrainConfig::loss)
      .def_readwrite("loss_options", &TrainConfig::loss_options)
      .def_readwrite("lr", &TrainConfig::lr)
      .def_readwrite("user_lr", &TrainConfig::user_lr)
      .def_readwrite("weight_decay", &TrainConfig::weight_decay)
      .def_readwrite("user_weight_decay", &TrainConfig::user_weight_decay)
      .def_readwrite("group_lr", &TrainConfig::group_lr)
      .def_readwrite("batch_size", &TrainConfig::batch_size)
      .def_readwrite("epochs", &TrainConfig::epochs)
      .def_readwrite("patience", &TrainConfig::patience)
      .def_readwrite("min_delta", &TrainConfig::min_delta)
      .def_readwrite("max_grad_norm", &TrainConfig::max_grad_norm)
      .def_readwrite("seed", &TrainConfig::seed)
      .def_readwrite("target_val_accuracy", &TrainConfig::target_val_accuracy)
      .def_readwrite("rationale_weight", &TrainConfig::rationale_weight,
                     "> 0: add the rationale loss on pairs with a rationale (pal-a, pal-b, lore, bt, per-user-bt)")
      .def_readwrite("rationale_temperature", &TrainConfig::rationale_temperature)
      .def_readwrite("spo_weight", &TrainConfig::spo_weight,
                     "> 0: add SPO's preference-degree loss on the view's graded variants")
      .def_readwrite("tune_prior", &TrainConfig::tune_prior,
                     "after training, choose a new user's prior on the validation pairs (per-user BT, PAL, LoRe)")
      .def_readwrite("progress", &TrainConfig::progress)
      .def_readwrite("metrics_path", &TrainConfig::metrics_path)
      .def_readwrite("checkpoint_path", &TrainConfig::checkpoint_path)
      .def_readwrite("encoder_id", &TrainConfig::encoder_id)
      .def_readwrite("val_carved", &TrainConfig::val_carved)
      .def("validate", &TrainConfig::validate);

  py::class_<TrainResult>(m, "TrainResult")
      .def_readonly("epochs_run", &TrainResult::epochs_run)
      .def_readonly("best_epoch", &TrainResult::best_epoch)
      .def_readonly("best_val_loss", &TrainResult::best_val_loss)
      .def_readonly("best_val_accuracy", &TrainResult::best_val_accuracy)
      .def_readonly("seconds", &TrainResult::seconds)
      .def_readonly("pairs_per_second", &TrainResult::pairs_per_second)
      .def_readonly("train_pairs", &TrainResult::train_pairs)
      .def_readonly("val_pairs", &TrainResult::val_pairs)
      .def_readonly("early_stopped", &TrainResult::early_stopped)
      .def_readonly("target_reached_seconds", &TrainResult::target_reached_seconds)
      .def_property_readonly(
          "prior",
          [](const TrainResult& r) -> py::object {
            if (!r.prior.tuned) return py::none();
            py::dict d;
            d["variance"] = r.prior.variance;
            d["val_nll_trained"] = r.prior.val_nll_trained;
            d["val_nll_adapted"] = r.prior.val_nll_adapted;
            d["seen_refit"] = r.prior.seen_refit;
            d["users"] = r.prior.users;
            return d;
          },
          "the prior tuning after training (None when the family has no tunable prior or there "
          "was no validation): variance kept, val NLL of the trained and the refit seen states")
      .def_property_readonly(
          "temperature",
          [](const TrainResult& r) -> py::object {
            if (!r.temperature.fitted) return py::none();
            py::dict d;
            d["temperature"] = r.temperature.temperature;
            d["val_nll_before"] = r.temperature.val_nll_before;
            d["val_nll_after"] = r.temperature.val_nll_after;
            d["pairs"] = r.temperature.pairs;
            return d;
          },
          "the logit temperature fitted on the val pairs after training (None when the family "
          "cannot scale its logits, there were no val pairs, or tune_prior was off)")
      .def_property_readonly("history", [](const TrainResult& r) {
        py::list out;
        for (const auto& e : r.history) out.append(epoch_dict(e));
        return out;
      });

  m.def(
      "train",
      [](RewardModel& model, DatasetView& view, const TrainConfig& cfg) {
        cfg.validate();
        py::gil_scoped_release release;
        return train(model, view, cfg);
      },
      py::arg("model"), py::arg("view"), py::arg("config"),
      "Trains in place on the seen users' train pairs; restores the best validation epoch");
  m.def(
      "fit_family",
      [](const std::string& family, DatasetView& view, const py::object& config, const TrainConfig& cfg,
         const py::object& on_epoch) {
        cfg.validate();
        std::string json = config.is_none() ? "{}" : json_dumps(config);
        EpochCallback callback;
        if (!on_epoch.is_none())
          callback = [&on_epoch](const EpochLog& log) {
            py::gil_scoped_acquire gil;
            py::object stop = on_epoch(epoch_dict(log));
            return !stop.is_none() && stop.cast<bool>();
          };
        py::gil_scoped_release release;
        auto fitted = fit_family(family, view, json, cfg, nullptr, callback);
        return std::make_pair(fitted.model, fitted.result);
      },
      py::arg("family"), py::arg("view"), py::arg("config"), py::arg("train_config"), py::arg("on_epoch") = py::none(),
      "(model, TrainResult): builds the family (initial weights from train_config.seed) and trains it; the one "
      "fit the CLI, the benchmarks and plural.Model share. on_epoch(epoch dict) is called after each epoch's "
      "validation; a true return ends training (the best epoch's weights are kept)");
  m.def(
      "fit_auto",
      [](DatasetView& view, const std::vector<std::pair<std::string, int>>& candidates, double budget_minutes,
         uint64_t seed, int epochs, int64_t val_carved) {
        AutoOptions o;
        if (!candidates.empty()) {
          o.candidates.clear();
          for (const auto& [family, k] : candidates) o.candidates.push_back({family, k});
        }
        PLURAL_CHECK(budget_minutes >= 0, "budget_minutes must be >= 0, got ", budget_minutes);
        o.budget_minutes = budget_minutes;
        o.adjust = [=](TrainConfig& t) {
          t.seed = seed;
          t.progress = false;
          t.val_carved = val_carved;
          if (epochs > 0) t.epochs = epochs;
        };
        AutoResult r;
        {
          py::gil_scoped_release release;
          r = fit_auto(view, o);
        }
        auto rows = json_loads(auto_result_json(r)["candidates"].dump());
        return py::make_tuple(r.fitted.model, r.fitted.result, rows, r.winner);
      },
      py::arg("view"), py::arg("candidates") = std::vector<std::pair<std::string, int>>{},
      py::arg("budget_minutes") = 0.0, py::arg("seed") = 0, py::arg("epochs") = 0, py::arg("val_carved") = 0,
      "(model, TrainResult, rows, winner): plural train --model auto - every candidate (family, k) with its "
      "defaults, the lowest per-user validation NLL kept; [] = the default candidates");
  m.def("default_train_config", &default_train_config, py::arg("family"),
        "The TrainConfig a family trains best with (measured, bench/RESULTS.md)");
  m.def(
      "default_model_config", [](const std::string& f, int k) { return json_loads(default_model_config(f, k)); },
      py::arg("family"), py::arg("k") = 0);
  m.def("loss_names", &loss_names);
  m.def("policy_loss_names", &policy_loss_names);
  m.def(
      "policy_loss",
      [](const std::string& name, const torch::Tensor& chosen, const torch::Tensor& rejected,
         std::optional<torch::Tensor> ref_chosen, std::optional<torch::Tensor> ref_rejected,
         std::optional<torch::Tensor> label, std::optional<torch::Tensor> weight, double beta, double tau, double alpha,
         double lambda) {
        PolicyLogProbs b{chosen,
                         rejected,
                         ref_chosen.value_or(torch::Tensor()),
                         ref_rejected.value_or(torch::Tensor()),
                         label.value_or(torch::Tensor()),
                         weight.value_or(torch::Tensor())};
        PolicyLossOptions o;
        o.beta = beta, o.tau = tau, o.alpha = alpha, o.lambda = lambda;
        py::gil_scoped_release nogil;
        auto r = policy_loss(name, b, o);
        py::gil_scoped_acquire gil;
        return py::make_tuple(r.loss, r.grad_chosen, r.grad_rejected);
      },
      py::arg("name"), py::arg("chosen"), py::arg("rejected"), py::arg("ref_chosen") = py::none(),
      py::arg("ref_rejected") = py::none(), py::arg("label") = py::none(), py::arg("weight") = py::none(),
      py::arg("beta") = 0.1, py::arg("tau") = 0.1, py::arg("alpha") = 0.1, py::arg("lambda_") = 0.5,
      "A DPO-family loss (dpo, dove, ipo, cpl) on per-pair policy log-probs: (mean loss, d/d chosen, d/d rejected)");
  m.def(
      "spo_degree_loss",
      [](const torch::Tensor& logits, const torch::Tensor& degree, const torch::Tensor& from_rejected,
         std::optional<torch::Tensor> weight) {
        py::gil_scoped_release nogil;
        auto z = logits.detach().to(torch::kFloat64).requires_grad_(true);
        torch::Tensor loss;
        {
          torch::AutoGradMode grad_on(true);
          loss = spo_degree_loss(z, degree, from_rejected, weight.value_or(torch::Tensor()));
          loss.backward();
        }
        py::gil_scoped_acquire gil;
        return py::make_tuple(loss.item<double>(), z.grad());
      },
      py::arg("logits"), py::arg("degree"), py::arg("from_rejected"), py::arg("weight") = py::none(),
      "SPO's preference-degree loss on a classifier's logits [N, 2K] (class k: the chosen response's degree-k "
      "variant, K + k: the rejected one's): (weighted mean cross-entropy, d/d logits)");
  m.def("soft_labels_from_scores", &soft_labels_from_scores, py::arg("score_a"), py::arg("score_b"),
        py::arg("temperature") = 1.0, "P(a ≻ b) = σ((score_a − score_b)/temperature) from external scores");
  m.def(
      "token_ches",
      [](const py::object& pos, const py::object& neg, bool normalize) {
        return token_ches(tensor_arg(pos, "token_ches", "pos"), tensor_arg(neg, "token_ches", "neg"), normalize);
      },
      py::arg("pos"), py::arg("neg"), py::arg("normalize") = false,
      "Token-level CHES of one pair from a language model's hidden states: pos [n+, D], neg [n-, D] (the states "
      "predicting each response token); <S+, S-> - |S+|^2 over the token sums, or per-token means if normalize");

  py::class_<PairMetrics>(m, "PairMetrics")
      .def_readonly("pairs", &PairMetrics::pairs)
      .def_readonly("strict", &PairMetrics::strict)
      .def_readonly("accuracy", &PairMetrics::accuracy)
      .def_readonly("acc_lo", &PairMetrics::acc_lo)
      .def_readonly("acc_hi", &PairMetrics::acc_hi)
      .def_readonly("nll", &PairMetrics::nll)
      .def_readonly("nll_lo", &PairMetrics::nll_lo)
      .def_readonly("nll_hi", &PairMetrics::nll_hi)
      .def_readonly("brier", &PairMetrics::brier)
      .def_readonly("ece", &PairMetrics::ece);
  py::class_<MeanSummary>(m, "MeanSummary")
      .def_readonly("n", &MeanSummary::n)
      .def_readonly("mean", &MeanSummary::mean)
      .def_readonly("lo", &MeanSummary::lo)
      .def_readonly("hi", &MeanSummary::hi)
      .def_readonly("median", &MeanSummary::median)
      .def_readonly("worst_decile", &MeanSummary::worst_decile);
  py::class_<GridCell>(m, "GridCell", "One cell of the seen/unseen x shots evaluation grid")
      .def_readonly("users", &GridCell::users)
      .def_readonly("shots", &GridCell::shots)
      .def_readonly("pairs", &GridCell::pairs)
      .def_readonly("per_user", &GridCell::per_user);
  py::class_<EvalConfig>(m, "EvalConfig")
      .def(py::init<>())
      .def_readwrite("shots", &EvalConfig::shots)
      .def_readwrite("adapter", &EvalConfig::adapter)
      .def_readwrite("adapter_options", &EvalConfig::adapter_options)
      .def_readwrite("seed", &EvalConfig::seed)
      .def_readwrite("bootstrap", &EvalConfig::bootstrap)
      .def_readwrite("split", &EvalConfig::split)
      .def("validate", &EvalConfig::validate);
  m.def(
      "evaluate_grid",
      [](RewardModel& model, DatasetView& view, const EvalConfig& cfg) {
        cfg.validate();
        py::gil_scoped_release release;
        return evaluate_grid(model, view, cfg);
      },
      py::arg("model"), py::arg("view"), py::arg("config"),
      "Seen users with their trained state; unseen users adapted from k support pairs, for each k in config.shots");
  m.def(
      "score_pairs",
      [](RewardModel& model, const PairBatch& batch, const UserState* state) {
        check_pairs(model, batch, "score_pairs");
        if (state) model.check_state(*state, "score_pairs");
        py::gil_scoped_release release;
        return score_pairs(model, batch, state);
      },
      py::arg("model"), py::arg("batch"), py::arg("state") = nullptr,
      "Logits in eval mode without grad: for one state, or for the seen users of batch.user");
  m.def("pair_metrics", &pair_metrics, py::arg("logits"), py::arg("labels"));
  m.def(
      "marginal_preference",
      [](RewardModel& model, const PairBatch& batch, py::object contexts, py::object probs) {
        check_pairs(model, batch, "marginal_preference");
        auto c = tensor_arg(contexts, "marginal_preference", "contexts"),
             p = tensor_arg(probs, "marginal_preference", "probs");
        py::gil_scoped_release release;
        return plural::latent::marginal_preference(model, batch, c, p);
      },
      py::arg("model"), py::arg("batch"), py::arg("contexts"), py::arg("probs"),
      "Σ_c p(c) σ(r(a, c) − r(b, c)) per pair for a context model: contexts [C, Dc], probs [C] summing to 1");
}

}  // namespace

void bind_models(py::module_& m) {
  bind_batches(m);
  bind_reward_model(m);
  bind_training(m);
}

}  // namespace plural::bindings
