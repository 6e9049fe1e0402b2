// plural train / eval / score / adapt
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "apps/commands.hpp"
#include "core/base/atomic_file.hpp"
#include "core/base/error.hpp"
#include "core/base/file_roles.hpp"
#include "core/base/hash.hpp"
#include "core/base/progress.hpp"
#include "core/base/text_io.hpp"
#include "core/data/graded_variants.hpp"
#include "core/data/readers.hpp"
#include "core/data/subsets.hpp"
#include "core/dataset_view.hpp"
#include "core/eval/evaluator.hpp"
#include "core/eval/report.hpp"
#include "core/family.hpp"
#include "core/session/personalizer.hpp"
#include "core/train/distributed.hpp"
#include "core/train/fit.hpp"
#include "core/train/shard_plan.hpp"
#include "core/train/train_defaults.hpp"
#include "core/train/trainer.hpp"
#include "embeddings/encode.hpp"
#include "embeddings/encoder.hpp"
#include "embeddings/feature_source.hpp"

namespace plural::apps {

using namespace plural::core;
using nlohmann::json;

Personalizer::Options cli_session_options(const std::string& encoder_spec) {
  Personalizer::Options o;
  o.encoder = encoder_spec;
  o.infer_encoder = false;  // the CLI encodes only with an --encoder the user names
  return o;
}

namespace {
// torchrun runs LOCAL_WORLD_SIZE processes on this host: share the cores rather than oversubscribe them.
int threads_per_local_rank() {
  const char* v = std::getenv("LOCAL_WORLD_SIZE");
  int local = v ? std::max(1, std::atoi(v)) : 1;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / local);
}

// Same encoder, same width and the same rows for the data's first texts: ranks reading different cache files (or
// a stale copy) disagree here before they train on different features.
std::string cache_identity(const FeatureCache& cache, const std::string& encoder_id, const PreferenceData& data) {
  std::vector<std::string> probe(data.texts.all().begin(),
                                 data.texts.all().begin() + std::min<size_t>(16, data.texts.size()));
  auto f = cache.lookup(encoder_id, probe).contiguous();
  auto bytes = std::string(static_cast<const char*>(f.data_ptr()), static_cast<size_t>(f.numel()) * 4);
  return encoder_id + " dim " + std::to_string(cache.dim(encoder_id)) + " rows " +
         std::to_string(cache.rows(encoder_id)) + " probe " + hash128(bytes).hex();
}
// The users and comparisons themselves, not the path: copies on different hosts agree, a stale copy does not (and
// would give the ranks different shard plans).
std::string data_identity(const PreferenceData& data) {
  uint64_t h = 0;
  auto add = [&](std::string_view s) { h = hash64(s, h); };
  auto text = [&](int32_t t) { add(t < 0 ? std::string_view("\x01") : std::string_view(data.texts[t])); };
  for (const auto& u : data.users) {
    add(u.id);
    add(u.seen ? "s" : "u");
  }
  for (const auto& c : data.comparisons) {
    add(data.users[static_cast<size_t>(c.user)].id);
    text(c.a), text(c.b), text(c.prompt_a), text(c.prompt_b), text(c.context), text(c.rationale);
    float nums[3] = {c.label, c.weight, c.margin};
    add(std::string_view(reinterpret_cast<const char*>(nums), sizeof nums));
    add(split_name(c.split));
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return std::to_string(data.users.size()) + " users, " + std::to_string(data.comparisons.size()) +
         " comparisons, hash " + buf;
}
}  // namespace

namespace {
// Every family with its --config keys, from the records the families declare them in (core/family.hpp).
std::string families_help() {
  std::string out = "Families and their --config keys (type, default, range):\n";
  for (const auto& name : family_names()) {
    const auto& f = family_record(name);
    out += "  " + name + ": " + f.help + "\n";
    for (const auto& field : f.config) {
      out += "      " + field.name + " (" + field.type + ", " + field.default_value.dump();
      auto number = [&](double v) {
        if (!std::isfinite(v)) return std::string(v < 0 ? "-inf" : "inf");
        return field.type.find("int") != std::string::npos ? std::to_string(static_cast<long long>(v))
                                                           : nlohmann::json(v).dump();
      };
      if (std::isfinite(field.lo) || std::isfinite(field.hi)) out += ", " + number(field.lo) + ".." + number(field.hi);
      out += ")  " + field.help + "\n";
    }
  }
  return out;
}
}  // namespace

namespace {
struct AutoTrainArgs {
  std::string data, cache, encoder, out;
  uint64_t seed = 0;
  int epochs = 0;  ///< 0: each family's default
  double budget_minutes = 0;
  bool quiet = false, json_out = false, no_val = false;
};

// plural train --model auto: every candidate with its defaults, the lowest validation NLL saved.
void train_auto(const AutoTrainArgs& a) {
  auto data = read_preferences(a.data);
  const int64_t carved = a.no_val ? 0 : carve_validation(data, a.seed);
  if (carved > 0 && !a.json_out)
    std::fprintf(stderr, "note: %s has no val comparisons: %lld train comparisons are held out to select the model\n",
                 a.data.c_str(), static_cast<long long>(carved));
  AutoOptions ao;
  ao.budget_minutes = a.budget_minutes;
  ao.adjust = [&](TrainConfig& t) {
    t.seed = a.seed;
    t.progress = false;
    t.val_carved = carved;
    if (a.epochs > 0) t.epochs = a.epochs;
  };
  const bool lines = !a.quiet && !a.json_out;
  if (lines) std::fprintf(stderr, "%-14s %8s %8s %6s %8s\n", "candidate", "val acc", "val nll", "epochs", "seconds");
  ao.on_row = [lines](const AutoRow& r) {
    if (!lines) return;
    if (!r.skipped.empty())
      std::fprintf(stderr, "%-14s skipped: %s\n", r.candidate.name().c_str(), r.skipped.c_str());
    else
      std::fprintf(stderr, "%-14s %8.3f %8.4f %6d %8.1f\n", r.candidate.name().c_str(), r.val_accuracy, r.val_nll,
                   r.epochs, r.seconds);
  };
  AutoResult table;
  auto cache = std::make_shared<FeatureCache>(a.cache);
  auto session =
      Personalizer::fit_auto(data, FeatureSource(cache, a.encoder, ""), ao, &table, cli_session_options(a.encoder));
  session.save(a.out);
  const auto& win = table.rows[static_cast<size_t>(table.winner)];
  if (a.json_out) {
    auto j = auto_result_json(table);
    j.update({{"model", "auto"}, {"val_carved", carved}, {"out", a.out}});
    std::cout << j.dump() << "\n";
    return;
  }
  std::printf("auto: %s has the lowest validation NLL (%.4f per user, val acc %.3f) of %zu candidates\nsaved %s\n",
              win.candidate.name().c_str(), win.val_nll, win.val_accuracy, table.rows.size(), a.out.c_str());
}
}  // namespace

void add_train(CLI::App& app, Common& common) {
  struct Opts {
    std::string data, cache, encoder = "minilm", model = "bt", config = "{}", out, group_lr, variants;
    TrainConfig train;
    bool quiet = false, json_out = false, no_val = false, no_tune_prior = false;
    int shards = 1;
    double dist_timeout = 300, budget_minutes = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("train",
                                 "Train a reward model on cached features (data-parallel under torchrun: "
                                 "docs/distributed.md)");
  cmd->add_option("--data", o->data, "preference data (.h5/.jsonl/.tsv)")->required();
  cmd->add_option("--cache", o->cache, "feature cache .h5 (missing texts are encoded first)")->required();
  cmd->add_option("--encoder", o->encoder, "encoder spec")->capture_default_str();
  // --family is the name every other verb's --model (a file) does not clash with; --model stays for train only.
  cmd->add_option("--family,--model", o->model,
                  "model family (bt, per-user-bt, ...), or auto: fit the candidates with their defaults and keep the "
                  "lowest validation NLL; --model is the older name")
      ->capture_default_str();
  cmd->add_option("--budget-minutes", o->budget_minutes,
                  "with auto: start no new candidate after this many minutes (0 = no limit)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--config", o->config, "model hyperparameters as JSON, e.g. '{\"hidden\": [256]}'")
      ->capture_default_str();
  cmd->add_option("-o,--out", o->out, "where to save the trained model")->required();
  cmd->footer(families_help());
  auto& t = o->train;
  cmd->add_option("--loss", t.loss, "bt, soft-bce, label-smoothing, margin, hinge, thurstone, ipo")
      ->capture_default_str();
  cmd->add_option("--margin", t.loss_options.margin)->capture_default_str();
  cmd->add_option("--smoothing", t.loss_options.smoothing)->capture_default_str();
  cmd->add_option("--hinge-margin", t.loss_options.hinge_margin)->capture_default_str();
  cmd->add_option("--ipo-tau", t.loss_options.ipo_tau)->capture_default_str();
  // Learning rates, batch size, epochs and patience default to the family's measured defaults
  // (core/train/train_defaults.cpp); an option given here overrides them.
  cmd->add_option("--lr", t.lr, "shared parameters (default: the family's)");
  cmd->add_option("--user-lr", t.user_lr, "per-user parameters (default: the family's)");
  cmd->add_option("--group-lr", o->group_lr, "per-group learning rates, e.g. prototypes=3e-2,scale=0.1");
  cmd->add_option("--weight-decay", t.weight_decay)->capture_default_str();
  cmd->add_option("--batch-size", t.batch_size, "(default: the family's)");
  cmd->add_option("--epochs", t.epochs, "(default: the family's)");
  cmd->add_option("--patience", t.patience, "early-stopping patience in epochs, 0 = off (default: the family's)");
  cmd->add_option("--max-grad-norm", t.max_grad_norm)->capture_default_str();
  cmd->add_option("--seed", t.seed)->capture_default_str();
  cmd->add_option("--rationale-weight", t.rationale_weight,
                  "> 0: also train the item representation to predict each pair's rationale (docs/losses.md)")
      ->capture_default_str();
  cmd->add_option("--rationale-temperature", t.rationale_temperature)->capture_default_str();
  cmd->add_option(
      "--variants", o->variants,
      "graded variants of the responses, JSONL {text, variant, degree} (SPO's degree loss, docs/losses.md)");
  cmd->add_option("--spo-weight", t.spo_weight, "> 0: add SPO's preference-degree loss on the --variants")
      ->capture_default_str();
  cmd->add_option("--metrics", t.metrics_path, "append per-epoch metrics as JSONL");
  cmd->add_option("--checkpoint", t.checkpoint_path, "save the best model here during training");
  cmd->add_option("--threads", common.threads,
                  "LibTorch threads (0 = all cores, shared among the ranks on this host under torchrun)");
  cmd->add_option("--shards", o->shards,
                  "replay an N-rank data-parallel run in this one process (same global batches; for checking)")
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--dist-timeout", o->dist_timeout,
                  "seconds before a silent or missing rank turns into an error (data-parallel runs)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--no-val", o->no_val,
                "data without val comparisons: train on all of them for the given epochs (default: hold out about "
                "10% of each seen user's train pairs for early stopping)");
  cmd->add_flag("--no-tune-prior", o->no_tune_prior,
                "no calibration after training: keep the trained logit scale and the family's prior for new users "
                "instead of fitting them on the validation pairs");
  cmd->add_flag("-q,--quiet", o->quiet, "no progress bars");
  cmd->add_flag("--json", o->json_out, "print the result as one JSON object");
  cmd->callback([o, &common, cmd] {
    o->train.tune_prior = !o->no_tune_prior;
    if (o->model == "auto") {
      for (const char* opt : {"--config", "--loss", "--lr", "--user-lr", "--group-lr", "--batch-size", "--patience",
                              "--variants", "--shards", "--checkpoint", "--metrics", "--rationale-weight"})
        PLURAL_CHECK(cmd->count(opt) == 0, opt, " does not apply to --model auto (each candidate uses its defaults)");
      PLURAL_CHECK(!dist_env_from_environment().distributed(), "--model auto runs in one process, not under torchrun");
      require_distinct_files({{"--out", o->out}, {"--cache", o->cache}}, {{"--data", o->data}});
      set_threads(common.threads);
      train_auto({o->data, o->cache, o->encoder, o->out, o->train.seed, cmd->count("--epochs") ? o->train.epochs : 0,
                  o->budget_minutes, o->quiet, o->json_out, o->no_val});
      return;
    }
    PLURAL_CHECK(cmd->count("--budget-minutes") == 0, "--budget-minutes applies to --model auto only");
    require_model_family(o->model);  // before any slow work
    require_distinct_files({{"--out", o->out},
                            {"--checkpoint", o->train.checkpoint_path},
                            {"--metrics", o->train.metrics_path},
                            {"--cache", o->cache}},
                           {{"--data", o->data}, {"--variants", o->variants}});
    TrainConfig defaults = default_train_config(o->model);
    auto keep_default = [&](const char* option) { return cmd->count(option) == 0; };
    if (keep_default("--lr")) o->train.lr = defaults.lr;
    if (keep_default("--user-lr")) o->train.user_lr = defaults.user_lr;
    if (keep_default("--batch-size")) o->train.batch_size = defaults.batch_size;
    if (keep_default("--epochs")) o->train.epochs = defaults.epochs;
    if (keep_default("--patience")) o->train.patience = defaults.patience;
    o->train.group_lr = defaults.group_lr;
    for (const auto& item : split_list(o->group_lr)) {
      auto eq = item.find('=');
      PLURAL_CHECK(eq != std::string::npos && eq > 0, "--group-lr: expected name=value, got '", item, "'");
      try {
        o->train.group_lr[item.substr(0, eq)] = std::stod(item.substr(eq + 1));
      } catch (const std::exception&) {
        throw ValueError("--group-lr: '" + item.substr(eq + 1) + "' is not a number (in '" + item + "')");
      }
    }
    o->train.validate();
    auto env = dist_env_from_environment();
    PLURAL_CHECK(!(env.distributed() && o->shards > 1), "--shards replays a data-parallel run in one process; under ",
                 "torchrun (WORLD_SIZE=", env.world_size, ") leave it out");
    int threads = set_threads(common.threads > 0 || !env.distributed() ? common.threads : threads_per_local_rank());
    auto data = read_preferences(o->data);
    // The same draw on every rank (seeded per user), so data-parallel ranks agree on the split.
    const int64_t carved = o->no_val ? 0 : carve_validation(data, o->train.seed);
    o->train.val_carved = carved;
    if (carved > 0 && !o->json_out)
      std::fprintf(stderr,
                   "note: %s has no val comparisons: %lld of the seen users' train comparisons (about 10%% of each "
                   "user's, none from users with fewer than 5) are held out for early stopping; --no-val keeps them\n",
                   o->data.c_str(), static_cast<long long>(carved));
    PLURAL_CHECK(o->variants.empty() || o->train.spo_weight > 0, "--variants: give --spo-weight > 0 to use them");
    std::shared_ptr<const GradedVariants> variants;  // read before encoding, so the cache gets the variants too
    if (!o->variants.empty()) variants = std::make_shared<GradedVariants>(read_graded_variants(o->variants, data));
    PLURAL_CHECK(!variants || !variants->of.empty(), o->variants, ": none of its ", variants ? variants->variants : 0,
                 " variant rows names a text of ", o->data);
    if (variants && variants->unmatched_rows > 0 && !o->json_out)
      std::fprintf(stderr, "note: %lld of %lld variant rows name a text that is not in %s; left out\n",
                   (long long)variants->unmatched_rows, (long long)variants->variants, o->data.c_str());
    auto cache = std::make_shared<FeatureCache>(o->cache);
    std::string encoder_id;
    std::shared_ptr<RewardModel> model;
    TrainResult r;
    int rank = 0;
    o->train.progress = !o->quiet && !o->json_out;
    if (!env.distributed() && o->shards == 1) {
      auto session = Personalizer::fit(o->model, data, FeatureSource(cache, o->encoder, ""), o->config, o->train, &r,
                                       cli_session_options(o->encoder), variants);
      model = session.shared_model();
      encoder_id = session.encoder_id();
    } else {
      std::unique_ptr<Collective> comm;
      if (env.distributed()) {
        comm = Collective::connect(env, std::chrono::milliseconds(static_cast<int64_t>(o->dist_timeout * 1000)));
        rank = comm->rank();
      }
      // Ranks only read the cache: texts it lacks must be encoded first (`plural encode`), by one process.
      encoder_id = make_encoder(o->encoder)->id();
      ShardPlan plan(data, comm ? comm->world_size() : o->shards, o->train.seed);
      DataParallel dp{&plan, &data, comm.get(), {}};
      PreferenceData local;
      if (comm) {
        local = plan.shard_data(data, rank, &dp.full_row);
        comm->require_same("data", data_identity(data));
        comm->require_same("feature cache", cache_identity(*cache, encoder_id, data));
      }
      const PreferenceData& mine = comm ? local : data;
      DatasetView view(mine, cache->lookup(encoder_id, mine.texts.all()));
      view.use_layout_of(data);
      if (!comm)
        view.set_graded_variants(variants);  // a rank's shard has its own text table (the trainer refuses SPO there)
      o->train.encoder_id = encoder_id;
      if (rank != 0) o->train.progress = false;
      auto fitted = fit_family(o->model, view, o->config, o->train, &dp);
      model = fitted.model;
      r = fitted.result;
    }
    if (rank != 0) return;  // rank 0 saves and reports
    save_model(*model, o->out, encoder_id);
    if (o->json_out) {
      json j = {{"model", o->model},
                {"model_id", model->model_id()},
                {"epochs", r.epochs_run},
                {"best_epoch", r.best_epoch},
                {"val_pairs", r.val_pairs},
                {"val_carved", carved},
                {"best_val_loss", r.val_pairs > 0 ? json(r.best_val_loss) : json(nullptr)},
                {"best_val_accuracy", r.val_pairs > 0 ? json(r.best_val_accuracy) : json(nullptr)},
                {"seconds", r.seconds},
                {"pairs_per_second", r.pairs_per_second},
                {"train_pairs", r.train_pairs},
                {"threads", threads},
                {"out", o->out},
                {"world_size", std::max(env.world_size, o->shards)},
                {"steps", r.steps},
                {"comm_seconds", r.comm_seconds},
                {"allreduce_floats", r.allreduce_floats}};
      if (r.prior.tuned)
        j["prior"] = {{"variance", r.prior.variance},
                      {"val_nll_trained", r.prior.val_nll_trained},
                      {"val_nll_adapted", r.prior.val_nll_adapted},
                      {"seen_refit", r.prior.seen_refit},
                      {"users", r.prior.users}};
      if (r.temperature.fitted)
        j["temperature"] = {{"temperature", r.temperature.temperature},
                            {"val_nll_before", r.temperature.val_nll_before},
                            {"val_nll_after", r.temperature.val_nll_after},
                            {"pairs", r.temperature.pairs}};
      std::cout << j.dump() << "\n";
    } else {
      char val[96] = "no validation pairs: the last epoch is kept";  // never a made-up validation figure
      if (r.val_pairs > 0)
        std::snprintf(val, sizeof val, "best %d, val loss %.4f, val acc %.3f", r.best_epoch, r.best_val_loss,
                      r.best_val_accuracy);
      std::printf("%s: %lld train pairs, %d epochs (%s), %.1f s, %.0f pairs/s on %d threads\n", o->model.c_str(),
                  static_cast<long long>(r.train_pairs), r.epochs_run, val, r.seconds, r.pairs_per_second, threads);
      if (r.temperature.fitted)
        std::printf("logit temperature %.3f fitted on %lld val pairs (val NLL %.4f -> %.4f)\n",
                    r.temperature.temperature, static_cast<long long>(r.temperature.pairs),
                    r.temperature.val_nll_before, r.temperature.val_nll_after);
      if (r.prior.tuned)
        std::printf(
            "prior variance %.4g chosen on %lld users' val pairs (val NLL of posteriors %.4f, of trained seen "
            "states %.4f: %s)\n",
            r.prior.variance, static_cast<long long>(r.prior.users), r.prior.val_nll_adapted, r.prior.val_nll_trained,
            r.prior.seen_refit ? "seen users refit" : "seen states kept");
      std::printf("saved %s\n", o->out.c_str());
    }
  });
}

void add_eval(CLI::App& app, Common& common) {
  struct Opts {
    std::string data, cache, model, encoder, shots = "0,1,2,5,10,20,50", adapter, adapter_options = "{}", report;
    uint64_t seed = 0;
    bool json_out = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("eval", "Seen/unseen × shots grid of accuracy, NLL, Brier with 95% CIs");
  cmd->add_option("--data", o->data, "preference data")->required();
  cmd->add_option("--cache", o->cache, "feature cache")->required();
  cmd->add_option("--model", o->model, "trained model file")->required();
  cmd->add_option("--encoder", o->encoder, "encode missing texts with this encoder (must match the model's)");
  cmd->add_option("--shots", o->shots, "shots for unseen users")->capture_default_str();
  cmd->add_option("--adapter", o->adapter, "adapter name (default: the family's)");
  cmd->add_option("--adapter-options", o->adapter_options, "adapter options as JSON")->capture_default_str();
  cmd->add_option("--seed", o->seed)->capture_default_str();
  cmd->add_option("--threads", common.threads, "LibTorch threads (0 = all cores)");
  cmd->add_flag("--json", o->json_out, "print one JSON object");
  cmd->add_option("--report", o->report, "also write the JSON object to this file");
  cmd->callback([o, &common] {
    require_distinct_files({{"--report", o->report}, {"--cache", o->cache}},
                           {{"--data", o->data}, {"--model", o->model}});
    EvalConfig cfg;
    cfg.shots = parse_int_list(o->shots, "--shots");  // before any slow work
    set_threads(common.threads);
    Personalizer session(o->model, o->cache, cli_session_options(o->encoder));
    auto model = session.shared_model();
    auto data = read_preferences(o->data);
    auto view = session.view(data);
    cfg.adapter = o->adapter;
    cfg.adapter_options = o->adapter_options;
    cfg.seed = o->seed;
    auto cells = evaluate_grid(*model, view, cfg);
    json j = {{"model", o->model}, {"family", model->family()}, {"data", o->data}, {"cells", json::array()}};
    for (const auto& c : cells) j["cells"].push_back(cell_json(c));
    if (!o->report.empty()) write_file_atomic(o->report, j.dump(2) + "\n");
    if (o->json_out)
      std::cout << j.dump() << "\n";
    else
      print_grid(model->family() + " on " + o->data, cells);
  });
}

void add_score(CLI::App& app, Common& common) {
  struct Opts {
    std::string model, cache, encoder, texts_file, prompt, context, user, state;
    std::vector<std::string> texts;
    bool json_out = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("score", "Rewards of responses for one user (seen id, saved state, or population)");
  cmd->add_option("--model", o->model, "trained model file")->required();
  cmd->add_option("--cache", o->cache, "feature cache")->required();
  cmd->add_option("--encoder", o->encoder, "encoder spec for texts not in the cache (must match the model's)");
  cmd->add_option("--text", o->texts, "a response to score (repeatable)");
  cmd->add_option("--texts", o->texts_file, "or a file of responses, one per line");
  cmd->add_option("--prompt", o->prompt, "the prompt they answer (for models that use prompts)");
  cmd->add_option("--context", o->context,
                  "a context text (criterion, scenario, persona) for context models; without it, the null context");
  cmd->add_option("--user", o->user, "a seen user's id (default: the population/prior user)");
  cmd->add_option("--state", o->state, "a saved UserState (from plural adapt)");
  cmd->add_option("--threads", common.threads, "LibTorch threads (0 = all cores)");
  cmd->add_flag("--json", o->json_out, "print one JSON object");
  cmd->callback([o, &common] {
    set_threads(common.threads);
    PLURAL_CHECK(o->user.empty() || o->state.empty(), "score: give --user or --state, not both");
    require_distinct_files({{"--cache", o->cache}},
                           {{"--model", o->model}, {"--texts", o->texts_file}, {"--state", o->state}});
    Personalizer session(o->model, o->cache, cli_session_options(o->encoder));
    const auto& model = session.model();
    std::vector<std::string> texts = o->texts;
    if (!o->texts_file.empty()) {
      LineReader r(o->texts_file);
      std::string line;
      while (r.next(line)) texts.push_back(sanitize_utf8(tsv_unescape(line)));
    }
    PLURAL_CHECK(!texts.empty(), "score: no texts (use --text or --texts)");
    PLURAL_CHECK(model.dims().prompt_dim == 0 || !o->prompt.empty(), "score: this ", model.family(),
                 " model uses prompts; give --prompt");
    PLURAL_CHECK(o->context.empty() || model.dims().context_dim > 0, "score: this ", model.family(),
                 " model was not trained with contexts; --context has no effect on it");
    UserSource who;
    who.state_path = o->state;
    who.user_id = o->user;
    UserState state = session.user(who);
    auto r = session.rewards(state, session.items(o->prompt, texts, o->context));
    if (o->json_out) {
      json j = {{"user", state.user_id}, {"rewards", json::array()}};
      for (size_t i = 0; i < texts.size(); ++i)
        j["rewards"].push_back({{"text", texts[i]}, {"reward", r[i].item<double>()}});
      std::cout << j.dump() << "\n";
    } else {
      for (size_t i = 0; i < texts.size(); ++i) std::printf("%.6f\t%s\n", r[i].item<double>(), texts[i].c_str());
    }
  });
}

void add_adapt(CLI::App& app, Common& common) {
  struct Opts {
    std::string model, data, cache, encoder, user, out, adapter, adapter_options = "{}";
    bool json_out = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd =
      app.add_subcommand("adapt", "A new user's comparisons -> their saved UserState (shared weights untouched)");
  cmd->add_option("--model", o->model, "trained model file")->required();
  cmd->add_option("--data", o->data, "the user's comparisons (.jsonl/.tsv/.h5)")->required();
  cmd->add_option("--cache", o->cache, "feature cache")->required();
  cmd->add_option("--encoder", o->encoder, "encoder spec for texts not in the cache (must match the model's)");
  cmd->add_option("--user", o->user, "which user in --data (default: the only one)");
  cmd->add_option("-o,--out", o->out, "where to save the UserState")->required();
  cmd->add_option("--adapter", o->adapter, "adapter name (default: the family's)");
  cmd->add_option("--adapter-options", o->adapter_options, "adapter options as JSON")->capture_default_str();
  cmd->add_option("--threads", common.threads, "LibTorch threads (0 = all cores)");
  cmd->add_flag("--json", o->json_out, "print one JSON object");
  cmd->callback([o, &common] {
    require_distinct_files({{"--out", o->out}, {"--cache", o->cache}}, {{"--model", o->model}, {"--data", o->data}});
    set_threads(common.threads);
    auto options = cli_session_options(o->encoder);
    options.adapter = o->adapter;
    options.adapter_options = o->adapter_options;
    Personalizer session(o->model, o->cache, options);
    auto data = read_preferences(o->data);
    auto rows = user_answer_rows(data, o->user, o->data, "adapt");
    PairBatch shots = rows.empty() ? PairBatch{} : session.view(data).batch(rows);
    const auto& adapter = session.adapter();
    auto t0 = std::chrono::steady_clock::now();
    UserState s = session.adapt(o->user, shots);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    s.save(o->out);
    if (o->json_out) {
      json j = {{"user", o->user},    {"shots", rows.size()}, {"adapter", adapter.name()},
                {"milliseconds", ms}, {"family", s.family},   {"model_id", s.model_id},
                {"out", o->out}};
      std::cout << j.dump() << "\n";
      return;
    }
    std::printf("adapted user '%s' from %zu comparisons with '%s' in %.3f ms; saved %s\n", o->user.c_str(), rows.size(),
                adapter.name().c_str(), ms, o->out.c_str());
  });
}

}  // namespace plural::apps
