// plural-bench persona | ukp | adapt | train-speed | ...: the benchmark tables of bench/RESULTS.md, as tables or JSON.
#include "bench/cmd_bench.hpp"

#include <torch/torch.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "apps/cli_options.hpp"
#include "bench/bench_accuracy.hpp"
#include "bench/bench_adapt.hpp"
#include "bench/bench_ches.hpp"
#include "bench/bench_persona_c.hpp"
#include "bench/bench_query.hpp"
#include "bench/bench_rationale.hpp"
#include "bench/bench_real.hpp"
#include "bench/bench_strength.hpp"
#include "bench/bench_train_speed.hpp"
#include "core/base/error.hpp"
#include "core/base/progress.hpp"
#include "core/data/persona_k.hpp"
#include "core/data/ukp.hpp"
#include "core/model.hpp"
#include "core/query.hpp"

namespace plural::bench {

using namespace plural::core;
using apps::Common;
using apps::parse_int_list;
using apps::split_list;
using nlohmann::json;

namespace {
void add_setup_options(CLI::App* cmd, BenchSetup& s, Common& common) {
  cmd->add_option("--cache", s.cache, "feature cache shared by bench runs")->capture_default_str();
  cmd->add_option("--encoder", s.encoder, "encoder spec")->capture_default_str();
  cmd->add_option("--epochs", s.epochs, "training epochs (0 = each family's default)")->capture_default_str();
  cmd->add_option("--seed", s.seed)->capture_default_str();
  cmd->add_option("--threads", common.threads, "LibTorch threads (0 = all cores)");
  cmd->add_flag("--json", s.json, "print one JSON object instead of tables");
}

void add_accuracy_options(CLI::App* cmd, AccuracyBench& b, std::string& models, std::string& shots,
                          std::string& sweep) {
  cmd->add_option("--models", models, "families in the table")->capture_default_str();
  cmd->add_option("--shots", shots, "unseen users' shots")->capture_default_str();
  cmd->add_option("--sweep-k", sweep, "model K values of the sweep ('' = no sweep)")->capture_default_str();
  cmd->add_option("--sweep-model", b.sweep_model, "family of the K sweep")->capture_default_str();
}

// "a,b" as model families, each checked against the registry.
std::vector<std::string> family_list(const std::string& s) {
  auto out = split_list(s);
  for (const auto& f : out) require_model_family(f);
  return out;
}

// "a,b" as query scorers, each checked against the registry.
std::vector<std::string> scorer_list(const std::string& s) {
  auto out = split_list(s);
  for (const auto& name : out) make_query_scorer(name);
  return out;
}

void finish_accuracy_options(AccuracyBench& b, const std::string& models, const std::string& shots,
                             const std::string& sweep) {
  b.models = family_list(models);
  require_model_family(b.sweep_model);
  b.shots = parse_int_list(shots, "--shots");
  b.sweep_ks = sweep.empty() ? std::vector<int64_t>{} : parse_int_list(sweep, "--sweep-k");
  for (auto k : b.sweep_ks) PLURAL_CHECK(k >= 1, "--sweep-k: K must be >= 1, got ", k);
}

std::vector<double> parse_number_list(const std::string& list, const char* option) {
  std::vector<double> out;
  for (const auto& s : split_list(list)) {
    size_t used = 0;
    try {
      out.push_back(std::stod(s, &used));
    } catch (const std::exception&) {
      used = 0;
    }
    PLURAL_CHECK(used > 0 && used == s.size(), option, ": '", s, "' is not a number");
  }
  return out;
}

// One benchmark verb: `Opts` holds a BenchSetup `setup` and the verb's own options. `declare` adds its options,
// `check` turns and checks them before any slow work, `run` runs it and returns what --json prints (tables are
// printed as it goes). The setup options, the thread count and the JSON line are the same for every verb.
template <class T>
struct Given {  // keeps a parameter out of template deduction, so captureless lambdas convert to it
  using type = T;
};

template <class Opts>
void add_verb(CLI::App& bench, Common& common, const char* name, const char* help,
              typename Given<void (*)(CLI::App*, Opts&)>::type declare, typename Given<void (*)(Opts&)>::type check,
              typename Given<json (*)(Opts&)>::type run) {
  auto o = std::make_shared<Opts>();
  auto* cmd = bench.add_subcommand(name, help);
  add_setup_options(cmd, o->setup, common);
  declare(cmd, *o);
  cmd->callback([o, &common, check, run] {
    check(*o);
    set_threads(common.threads);
    auto out = run(*o);
    if (o->setup.json) std::cout << out.dump() << "\n";
  });
}

struct PersonaOpts {
  BenchSetup setup;
  AccuracyBench bench;
  std::string k_stars = "2,3,4,6", models = "bt,per-user-bt,lore,pal-a,pal-b,pal-h", shots = "1,2,5,10,20,50",
              sweep = "1,2,3,4,6,8";
  std::vector<int64_t> k_star_list;
  PersonaKConfig persona;
};

void add_persona(CLI::App& bench, Common& common) {
  add_verb<PersonaOpts>(
      bench, common, "persona", "Persona-K for several K*: every family, seen/unseen accuracy, K sweep",
      [](CLI::App* cmd, PersonaOpts& o) {
        add_accuracy_options(cmd, o.bench, o.models, o.shots, o.sweep);
        cmd->add_option("--k-star", o.k_stars, "planted prototypes K* (one table each)")->capture_default_str();
        o.persona.statements_path = apps::bundled_data("persona/statements.tsv.gz");
        cmd->add_option("--statements", o.persona.statements_path)->capture_default_str();
        cmd->add_option("--seen-users", o.persona.seen_users)->capture_default_str();
        cmd->add_option("--unseen-users", o.persona.unseen_users)->capture_default_str();
        cmd->add_option("--train-pairs", o.persona.train_pairs, "per seen user")->capture_default_str();
        cmd->add_option("--statements-per-behavior", o.persona.statements_per_behavior)->capture_default_str();
      },
      [](PersonaOpts& o) {
        finish_accuracy_options(o.bench, o.models, o.shots, o.sweep);
        o.k_star_list = parse_int_list(o.k_stars, "--k-star");
        for (auto ks : o.k_star_list) PLURAL_CHECK(ks >= 1, "--k-star: K* must be >= 1, got ", ks);
      },
      [](PersonaOpts& o) {
        json out = {{"bench", "persona"}, {"tables", json::array()}};
        for (auto ks : o.k_star_list) {
          PersonaKConfig pc = o.persona;
          pc.prototypes = static_cast<int>(ks);
          pc.seed = o.setup.seed;
          auto pk = generate_persona_k(pc);
          out["tables"].push_back(
              accuracy_table("Persona-K, K* = " + std::to_string(ks), pk.data, static_cast<int>(ks), o.bench, o.setup));
        }
        return out;
      });
}

struct UkpOpts {
  BenchSetup setup;
  AccuracyBench bench;
  std::string models = "bt,per-user-bt,lore,pal-a,pal-b,pal-h", shots = "1,2,5,10,20,50", sweep = "1,2,3,4,6,8";
  UkpConfig ukp;
  int k = 3;
};

void add_ukp(CLI::App& bench, Common& common) {
  add_verb<UkpOpts>(
      bench, common, "ukp", "UKPConvArg1 real annotators: every family, seen/unseen accuracy, K sweep",
      [](CLI::App* cmd, UkpOpts& o) {
        add_accuracy_options(cmd, o.bench, o.models, o.shots, o.sweep);
        cmd->add_option("--k", o.k, "K of the mixture families in the main table")->capture_default_str();
        o.ukp.dir = apps::bundled_data("ukpconvarg1");
        cmd->add_option("--dir", o.ukp.dir, "folder with the UKPConvArg1 TSVs")->capture_default_str();
        cmd->add_option("--min-strict", o.ukp.min_strict, "workers with at least this many strict judgements")
            ->capture_default_str();
        cmd->add_option("--unseen-fraction", o.ukp.unseen_fraction, "of the workers, held out as unseen")
            ->capture_default_str();
      },
      [](UkpOpts& o) {
        finish_accuracy_options(o.bench, o.models, o.shots, o.sweep);
        PLURAL_CHECK(o.k >= 1, "--k must be >= 1");
      },
      [](UkpOpts& o) {
        o.ukp.seed = o.setup.seed;
        auto data = import_ukp(o.ukp);
        json out = {{"bench", "ukp"}, {"tables", json::array()}};
        out["tables"].push_back(
            accuracy_table("UKPConvArg1 (workers with >= " + std::to_string(o.ukp.min_strict) + " strict judgements)",
                           data, o.k, o.bench, o.setup));
        return out;
      });
}

struct StrengthOpts {
  BenchSetup setup;
  StrengthBench bench;
  std::string noise = "0,0.1,0.25";
  bool no_ukp = false;
};

void add_strength(CLI::App& bench, Common& common) {
  add_verb<StrengthOpts>(
      bench, common, "strength",
      "Ensemble preference strength: flip / soft labels / adaptive margins vs plain training on noisy Persona-K and "
      "on UKPConvArg1",
      [](CLI::App* cmd, StrengthOpts& o) {
        cmd->add_option("--noise", o.noise, "shares of Persona-K train labels flipped")->capture_default_str();
        cmd->add_option("--k-star", o.bench.k_star)->capture_default_str();
        cmd->add_option("--family", o.bench.family, "the model trained on each labelling")->capture_default_str();
        cmd->add_option("--member-family", o.bench.member_family, "ensemble members")->capture_default_str();
        cmd->add_option("--members", o.bench.members)->capture_default_str();
        cmd->add_option("--member-epochs", o.bench.member_epochs)->capture_default_str();
        cmd->add_flag("--no-ukp", o.no_ukp, "Persona-K only");
        cmd->add_option("--max-fraction", o.bench.max_fraction,
                        "rewrite at most this share of train labels, the most negative strength first")
            ->check(CLI::Range(1e-9, 1.0))
            ->capture_default_str();
        cmd->add_option("--margin-scale", o.bench.margin_scale, "adaptive margin = this × the mean strength")
            ->capture_default_str();
      },
      [](StrengthOpts& o) {
        o.bench.noise = parse_number_list(o.noise, "--noise");
        o.bench.ukp = !o.no_ukp;
      },
      [](StrengthOpts& o) { return strength_bench(o.bench, o.setup); });
}

struct ChesOpts {
  BenchSetup setup;
  ChesBench bench;
  std::string fractions = "0.05,0.1,0.2";
  bool no_ukp = false;
};

void add_ches(CLI::App& bench, Common& common) {
  add_verb<ChesOpts>(
      bench, common, "ches",
      "CHES filtering: a model trained without the most alike pairs vs without as many random ones (Persona-K, "
      "UKPConvArg1)",
      [](CLI::App* cmd, ChesOpts& o) {
        cmd->add_option("--fractions", o.fractions, "shares of strict train pairs dropped")->capture_default_str();
        cmd->add_option("--k-star", o.bench.k_star)->capture_default_str();
        cmd->add_option("--family", o.bench.family, "the model trained")->capture_default_str();
        cmd->add_flag("--no-ukp", o.no_ukp, "Persona-K only");
      },
      [](ChesOpts& o) {
        o.bench.fractions = parse_number_list(o.fractions, "--fractions");
        o.bench.ukp = !o.no_ukp;
      },
      [](ChesOpts& o) { return ches_bench(o.bench, o.setup); });
}

struct RationaleOpts {
  BenchSetup setup;
  RationaleBench bench;
  std::string train_pairs = "10,25,50,100,300", weights = "0,0.3,1";
};

void add_rationale(CLI::App& bench, Common& common) {
  add_verb<RationaleOpts>(
      bench, common, "rationale",
      "Rationales as training-time signal: accuracy by train pairs per user, with and without the rationale loss "
      "(Persona-K)",
      [](CLI::App* cmd, RationaleOpts& o) {
        cmd->add_option("--train-pairs", o.train_pairs, "train comparisons kept per seen user")->capture_default_str();
        cmd->add_option("--weights", o.weights, "rationale-loss weights (0 = without)")->capture_default_str();
        cmd->add_option("--k-star", o.bench.k_star)->capture_default_str();
        cmd->add_option("--family", o.bench.family, "the model trained")->capture_default_str();
      },
      [](RationaleOpts& o) {
        o.bench.train_pairs = parse_int_list(o.train_pairs, "--train-pairs");
        o.bench.weights = parse_number_list(o.weights, "--weights");
      },
      [](RationaleOpts& o) { return rationale_bench(o.bench, o.setup); });
}

struct AdaptOpts {
  BenchSetup setup;
  AdaptBench bench;
  std::string shots = "1,5,20,50";
};

void add_adapt(CLI::App& bench, Common& common) {
  add_verb<AdaptOpts>(
      bench, common, "adapt", "Newton vs the original AdamW adaptation: latency and accuracy",
      [](CLI::App* cmd, AdaptOpts& o) {
        cmd->add_option("--family", o.bench.family)->capture_default_str();
        cmd->add_option("--k", o.bench.k, "model K")->capture_default_str();
        cmd->add_option("--k-star", o.bench.k_star, "Persona-K's planted K*")->capture_default_str();
        cmd->add_option("--shots", o.shots)->capture_default_str();
        cmd->add_option("--repeats", o.bench.repeats, "Newton calls per user (the fastest counts)")
            ->capture_default_str();
        cmd->add_option("--unseen-users", o.bench.unseen_users,
                        "Persona-K's unseen users to adapt (the seen users and their data do not change)")
            ->capture_default_str();
        cmd->add_option("--model-config", o.bench.model_config,
                        "JSON over the family's default model config, e.g. '{\"variant\": \"f(Pw)\"}'");
        cmd->add_option("--adapt-threads", o.bench.adapt_threads, "LibTorch threads while adapting (0 = all cores)")
            ->capture_default_str();
      },
      [](AdaptOpts& o) {
        require_model_family(o.bench.family);
        o.bench.shots = parse_int_list(o.shots, "--shots");
        PLURAL_CHECK(o.bench.repeats >= 1, "--repeats must be >= 1");
        PLURAL_CHECK(o.bench.unseen_users >= 1, "--unseen-users must be >= 1");
      },
      [](AdaptOpts& o) { return adapt_bench(o.bench, o.setup); });
}

struct PersonaCOpts {
  BenchSetup setup;
  PersonaCBench bench;
  std::string models = "context:film,context:concat,bt";
};

void add_persona_c(CLI::App& bench, Common& common) {
  add_verb<PersonaCOpts>(
      bench, common, "persona-c",
      "Persona-C: context models with the true, no, a wrong and a held-out context (does it matter?)",
      [](CLI::App* cmd, PersonaCOpts& o) {
        cmd->add_option("--k-star", o.bench.k_star, "planted prototypes")->capture_default_str();
        cmd->add_option("--held-out", o.bench.held_out, "prototypes whose contexts no seen user has")
            ->capture_default_str();
        cmd->add_option("--models", o.models, "family[:conditioning] list")->capture_default_str();
      },
      [](PersonaCOpts& o) {
        o.bench.models.clear();
        for (const auto& m : split_list(o.models)) {
          require_model_family(m.substr(0, m.find(':')));
          o.bench.models.push_back(m);
        }
      },
      [](PersonaCOpts& o) { return persona_c_bench(o.bench, o.setup); });
}

struct TrainSpeedOpts {
  BenchSetup setup;
  TrainSpeedBench bench;
  std::string batches = "4,4096";
  bool no_tta = false;
};

void add_train_speed(CLI::App& bench, Common& common) {
  add_verb<TrainSpeedOpts>(
      bench, common, "train-speed", "PAL-B pairs/s vs idiomatic PyTorch-Python; time-to-accuracy",
      [](CLI::App* cmd, TrainSpeedOpts& o) {
        cmd->add_option("--batches", o.batches, "batch sizes")->capture_default_str();
        cmd->add_option("--small-batch-pairs", o.bench.small_batch_pairs, "pairs timed at batches < 256")
            ->capture_default_str();
        cmd->add_option("--python", o.bench.python, "interpreter with torch and h5py")->capture_default_str();
        cmd->add_option("--reference", o.bench.reference, "the Python reference script");
        cmd->add_option("--original-epochs", o.bench.original_epochs, "epochs of the original procedure")
            ->capture_default_str();
        cmd->add_flag("--no-time-to-accuracy", o.no_tta, "only the throughput table");
      },
      [](TrainSpeedOpts& o) {
        o.bench.batches = parse_int_list(o.batches, "--batches");
        for (auto b : o.bench.batches) PLURAL_CHECK(b >= 1, "--batches: batch sizes must be >= 1");
        o.bench.time_to_accuracy = !o.no_tta;
      },
      [](TrainSpeedOpts& o) { return train_speed_bench(o.bench, o.setup); });
}

struct QueryOpts {
  BenchSetup setup = [] {
    BenchSetup s;
    s.epochs = 2;  // latency does not depend on how well the weights are trained
    return s;
  }();
  QueryLatencyBench bench;
  std::string families = "pal-b,vpl", scorers = "bald,epig,dopt,bald-mc,random";
};

void add_query(CLI::App& bench, Common& common) {
  add_verb<QueryOpts>(
      bench, common, "query", "Latency of scoring a pool of candidate pairs for one user",
      [](CLI::App* cmd, QueryOpts& o) {
        cmd->add_option("--families", o.families)->capture_default_str();
        cmd->add_option("--scorers", o.scorers)->capture_default_str();
        cmd->add_option("--candidates", o.bench.candidates, "pool size")->capture_default_str();
        cmd->add_option("--repeats", o.bench.repeats, "timed calls per scorer (the median counts)")
            ->capture_default_str();
        cmd->add_option("--batch", o.bench.batch, "also time choosing this many pairs together (1 = no)")
            ->capture_default_str();
      },
      [](QueryOpts& o) {
        o.bench.families = family_list(o.families);
        o.bench.scorers = scorer_list(o.scorers);
        PLURAL_CHECK(o.bench.candidates >= 1 && o.bench.repeats >= 1 && o.bench.batch >= 1,
                     "--candidates, --repeats and --batch must be >= 1");
      },
      [](QueryOpts& o) { return query_latency_bench(o.bench, o.setup); });
}

struct ActiveOpts {
  BenchSetup setup;
  ActiveBench bench;
  std::string families = "pal-b,vpl", scorers = "random,bald,epig,dopt";
};

void add_active(CLI::App& bench, Common& common) {
  add_verb<ActiveOpts>(
      bench, common, "active", "Simulated active learning: accuracy vs answered queries, vs random",
      [](CLI::App* cmd, ActiveOpts& o) {
        cmd->add_option("--families", o.families)->capture_default_str();
        cmd->add_option("--scorers", o.scorers,
                        "query scorers (random first: the others are compared to it); <scorer>/top asks the top "
                        "--batch by score instead of a batch chosen together")
            ->capture_default_str();
        cmd->add_option("--queries", o.bench.queries, "answered queries per user")->capture_default_str();
        cmd->add_option("--batch", o.bench.batch, "pairs asked per round; her model updates after each round")
            ->capture_default_str();
        cmd->add_option("--pool", o.bench.pool, "candidate pairs per unseen user")->capture_default_str();
        cmd->add_option("--k", o.bench.k, "model K of the mixture families")->capture_default_str();
        cmd->add_option("--k-star", o.bench.k_star, "Persona-K's planted K*")->capture_default_str();
        cmd->add_option("--data", o.bench.data,
                        "a preference file instead of Persona-K (with --encoder): each unseen user's support pairs "
                        "are her pool, her test pairs are scored");
      },
      [](ActiveOpts& o) {
        o.bench.families = family_list(o.families);
        o.bench.scorers = split_list(o.scorers);
        for (const auto& name : o.bench.scorers) make_query_scorer(name.substr(0, name.find("/top")));
        PLURAL_CHECK(o.bench.batch >= 1, "--batch must be >= 1, got ", o.bench.batch);
        PLURAL_CHECK(o.bench.queries >= 1 && o.bench.pool > o.bench.queries,
                     "need --queries >= 1 and a --pool larger than --queries");
      },
      [](ActiveOpts& o) { return active_bench(o.bench, o.setup); });
}
struct RealOpts {
  BenchSetup setup;
  RealBench bench;
  std::vector<std::string> data, encoders;
  std::string models = "bt,per-user-bt,lore,pal-a,pal-b,pal-h,vpl", shots = "0,1,2,5,10";
  bool no_auto = false;
};

void add_real(CLI::App& bench, Common& common) {
  add_verb<RealOpts>(
      bench, common, "real",
      "Any preference files: every family and --model auto's pick, seen and unseen@shots, accuracy, NLL, ECE",
      [](CLI::App* cmd, RealOpts& o) {
        cmd->remove_option(cmd->get_option("--encoder"));  // one per --data here
        cmd->add_option("--data", o.data, "preference file (repeat for several datasets)")->required();
        cmd->add_option("--encoder", o.encoders, "its encoder spec (once for all, or once per --data)")->required();
        cmd->add_option("--models", o.models, "families in the table")->capture_default_str();
        cmd->add_option("--shots", o.shots, "unseen users' shots")->capture_default_str();
        cmd->add_flag("--no-auto", o.no_auto, "leave out --model auto's selection");
      },
      [](RealOpts& o) {
        PLURAL_CHECK(o.encoders.size() == 1 || o.encoders.size() == o.data.size(), "--encoder: give one for all or ",
                     o.data.size(), " (one per --data), got ", o.encoders.size());
        for (size_t i = 0; i < o.data.size(); ++i)
          o.bench.datasets.push_back({o.data[i], o.encoders[o.encoders.size() == 1 ? 0 : i]});
        o.bench.models = family_list(o.models);
        o.bench.shots = parse_int_list(o.shots, "--shots");
        for (auto s : o.bench.shots) PLURAL_CHECK(s >= 0, "--shots: must be >= 0, got ", s);
        o.bench.run_auto = !o.no_auto;
      },
      [](RealOpts& o) { return real_bench(o.bench, o.setup); });
}
}  // namespace

void add_bench_commands(CLI::App& bench, Common& common) {
  add_real(bench, common);
  add_persona(bench, common);
  add_ukp(bench, common);
  add_strength(bench, common);
  add_ches(bench, common);
  add_rationale(bench, common);
  add_adapt(bench, common);
  add_persona_c(bench, common);
  add_train_speed(bench, common);
  add_query(bench, common);
  add_active(bench, common);
}

}  // namespace plural::bench
