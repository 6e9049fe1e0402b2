// plural import / plural encode
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "apps/commands.hpp"
#include "core/base/atomic_file.hpp"
#include "core/base/error.hpp"
#include "core/base/file_roles.hpp"
#include "core/base/npy.hpp"
#include "core/base/progress.hpp"
#include "core/base/text_io.hpp"
#include "core/data/chat_pairs.hpp"
#include "core/data/ideal_points.hpp"
#include "core/data/persona_k.hpp"
#include "core/data/prism.hpp"
#include "core/data/readers.hpp"
#include "core/data/ukp.hpp"
#include "core/eval/report.hpp"
#include "embeddings/encode.hpp"

namespace plural::apps {

using namespace plural::core;

namespace {
void print_written(const PreferenceData& data, const std::string& out, bool json_out) {
  if (json_out) {
    auto j = data_json(data);
    j["out"] = out;
    std::cout << j.dump() << "\n";
  } else {
    std::cout << data.summary() << "\nwrote " << out << "\n";
  }
}
// `plural import ideal-points`: the data, the items' features as .npy and their texts, and the encoder spec that
// reads them back (precomputed:...), so the output trains like any real import with numeric item features.
void add_import_ideal_points(CLI::App* import) {
  struct Opts {
    IdealPointsConfig gen;
    std::string out, features_out, texts_out;
    bool json_out = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = import->add_subcommand(
      "ideal-points", "Generate low-dimensional ideal-point users, a stand-in for real crowds (docs/ideal_points.md)");
  cmd->add_option("-o,--out", o->out, "output .h5")->required();
  cmd->add_option("--features-out", o->features_out, "items' features .npy (default: <out>.features.npy)");
  cmd->add_option("--texts-out", o->texts_out, "items' texts, one per line (default: <out>.texts.txt)");
  cmd->add_flag("--json", o->json_out, "print one JSON object");
  auto& g = o->gen;
  cmd->add_option("--dim", g.dim, "item space dimension")->capture_default_str();
  cmd->add_option("--items", g.items)->capture_default_str();
  cmd->add_option("--k,--prototypes", g.prototypes, "K*: mixture centres of the ideal points")->capture_default_str();
  cmd->add_option("--centre-spread", g.centre_spread)->capture_default_str();
  cmd->add_option("--user-spread", g.user_spread, "individual deviation around the centre")->capture_default_str();
  cmd->add_option("--quality", g.quality, "std of the item quality everybody shares")->capture_default_str();
  cmd->add_option("--temperature", g.temperature, "logistic answer noise")->capture_default_str();
  cmd->add_option("--lapse", g.lapse, "share of answers given at random")->capture_default_str();
  cmd->add_option("--seen-users", g.seen_users)->capture_default_str();
  cmd->add_option("--unseen-users", g.unseen_users)->capture_default_str();
  cmd->add_option("--min-train-pairs", g.min_train_pairs, "per seen user")->capture_default_str();
  cmd->add_option("--max-train-pairs", g.max_train_pairs, "per seen user")->capture_default_str();
  cmd->add_option("--test-pairs", g.test_pairs, "per user")->capture_default_str();
  cmd->add_option("--support-pairs", g.support_pairs, "per unseen user")->capture_default_str();
  cmd->add_option("--one-hot", g.one_hot, "append each item's one-hot to its coordinates")->capture_default_str();
  cmd->add_option("--seed", g.seed)->capture_default_str();
  cmd->callback([o] {
    auto stem =
        o->out.size() > 3 && o->out.substr(o->out.size() - 3) == ".h5" ? o->out.substr(0, o->out.size() - 3) : o->out;
    if (o->features_out.empty()) o->features_out = stem + ".features.npy";
    if (o->texts_out.empty()) o->texts_out = stem + ".texts.txt";
    require_distinct_files({{"--out", o->out}, {"--features-out", o->features_out}, {"--texts-out", o->texts_out}}, {});
    auto ip = generate_ideal_points(o->gen);
    std::string texts;
    for (const auto& t : ip.data.texts.all()) texts += tsv_escape(t) + "\n";
    write_npy(o->features_out, ip.features.data(), static_cast<int64_t>(ip.data.texts.size()), ip.feature_dim);
    write_file_atomic(o->texts_out, texts);
    write_h5(ip.data, o->out);
    const std::string spec =
        "precomputed:features=" + o->features_out + ",texts=" + o->texts_out + ",name=ideal-points";
    if (o->json_out) {
      auto j = data_json(ip.data);
      j["out"] = o->out;
      j["features"] = o->features_out;
      j["texts"] = o->texts_out;
      j["feature_dim"] = ip.feature_dim;
      j["encoder"] = spec;
      std::cout << j.dump() << "\n";
      return;
    }
    std::cout << ip.data.summary() << "\nwrote " << o->out << ", " << o->features_out << " and " << o->texts_out
              << "\nencoder: " << spec << "\n";
  });
}
// `plural import prism`: PRISM's per-turn ratings as within-turn comparisons by each participant.
void add_import_prism(CLI::App* import) {
  struct Opts {
    PrismOptions prism;
    std::string in, out;
    bool json_out = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = import->add_subcommand(
      "prism", "PRISM's conversations.jsonl: responses rated in the same turn become that participant's comparisons");
  cmd->add_option("input", o->in, "PRISM's conversations.jsonl[.gz]")->required();
  cmd->add_option("-o,--out", o->out, "output .h5")->required();
  cmd->add_option("--survey", o->prism.survey, "PRISM's survey.jsonl[.gz] (for --context)");
  cmd->add_option("--context", o->prism.context_fields,
                  "survey fields that become each comparison's context (age, location.reside_country, ...)")
      ->delimiter(',');
  cmd->add_flag("--history", o->prism.history, "prompt = the conversation so far, not only the turn's user message");
  cmd->add_flag("--keep-ties", o->prism.keep_ties, "keep equally rated responses as label 0.5 (default: left out)");
  cmd->add_flag("--json", o->json_out, "print one JSON object");
  cmd->callback([o] {
    require_distinct_files({{"--out", o->out}}, {{"input", o->in}, {"--survey", o->prism.survey}});
    PrismCounts n;
    auto data = read_prism(o->in, o->prism, &n);
    write_h5(data, o->out);
    if (o->json_out) {
      auto j = data_json(data);
      j["out"] = o->out;
      j["prism"] = {{"conversations", n.conversations},
                    {"turns", n.turns},
                    {"pairs", n.pairs},
                    {"ties", n.ties},
                    {"keep_ties", o->prism.keep_ties},
                    {"single_response_turns", n.single_response_turns}};
      std::cout << j.dump() << "\n";
      return;
    }
    std::cout << n.conversations << " conversations, " << n.turns << " turns: " << n.pairs << " comparisons (" << n.ties
              << " tied pairs " << (o->prism.keep_ties ? "kept as 0.5" : "left out") << ", " << n.single_response_turns
              << " turns with one response)\n";
    print_written(data, o->out, false);
  });
}
}  // namespace

void add_import(CLI::App& app, Common&) {
  auto* cmd = app.add_subcommand("import", "Convert preference data into plural's HDF5 layout");
  cmd->require_subcommand(1);

  struct FileOpts {
    std::string in, out;
    bool json_out = false;
  };
  auto fo = std::make_shared<FileOpts>();
  auto* file = cmd->add_subcommand("file", "A JSONL or TSV file of comparisons (docs/data_format.md)");
  file->add_option("input", fo->in, "input .jsonl[.gz] / .tsv[.gz] / .h5")->required();
  file->add_option("-o,--out", fo->out, "output .h5")->required();
  file->add_flag("--json", fo->json_out, "print one JSON object");
  file->callback([fo] {
    require_distinct_files({{"--out", fo->out}}, {{"file", fo->in}});
    auto data = read_preferences(fo->in);
    write_h5(data, fo->out);
    print_written(data, fo->out, fo->json_out);
  });

  auto chat = std::make_shared<ChatPairsOptions>();
  auto chat_io = std::make_shared<FileOpts>();
  auto* rlhf = cmd->add_subcommand(
      "rlhf", "HH-RLHF, UltraFeedback-binarized and TRL preference files: chosen/rejected as strings or message lists");
  rlhf->add_option("input", chat_io->in, "input .jsonl[.gz]")->required();
  rlhf->add_option("-o,--out", chat_io->out, "output .h5")->required();
  rlhf->add_option("--user", chat->user, "the user of every comparison (these files rarely name one)");
  rlhf->add_option("--user-field", chat->user_field, "the record field holding the user id (default: user)");
  rlhf->add_flag("--skip-unusable", chat->skip_unusable,
                 "leave out records whose responses are equal or empty (listed on stderr) instead of failing");
  rlhf->add_flag("--json", chat_io->json_out, "print one JSON object");
  rlhf->callback([chat, chat_io] {
    require_distinct_files({{"--out", chat_io->out}}, {{"file", chat_io->in}});
    std::vector<std::string> skipped;
    auto data = read_chat_pairs(chat_io->in, *chat, &skipped);
    if (!skipped.empty()) {
      std::cerr << "note: skipped " << skipped.size() << " records whose responses are equal or empty:\n";
      for (size_t i = 0; i < std::min<size_t>(skipped.size(), 5); ++i) std::cerr << "  " << skipped[i] << "\n";
      if (skipped.size() > 5) std::cerr << "  ... and " << skipped.size() - 5 << " more\n";
    }
    write_h5(data, chat_io->out);
    print_written(data, chat_io->out, chat_io->json_out);
  });

  add_import_prism(cmd);

  auto pk = std::make_shared<PersonaKConfig>();
  pk->statements_path = bundled_data("persona/statements.tsv.gz");
  auto pk_out = std::make_shared<std::string>();
  auto pk_json = std::make_shared<bool>(false);
  auto* persona =
      cmd->add_subcommand("persona-k", "Generate Persona-K from the bundled persona statements (docs/persona_k.md)");
  persona->add_option("-o,--out", *pk_out, "output .h5")->required();
  persona->add_flag("--json", *pk_json, "print one JSON object");
  persona->add_option("--statements", pk->statements_path, "persona statements TSV")->capture_default_str();
  persona->add_option("--k,--prototypes", pk->prototypes, "K*: number of prototypes")->capture_default_str();
  persona->add_option("--behaviors", pk->behaviors, "D: behaviours drawn at random")->capture_default_str();
  persona->add_option("--behavior-names", pk->behavior_names, "explicit behaviour names (overrides --behaviors)");
  persona->add_option("--alpha", pk->alpha, "Dirichlet concentration of user mixtures (0 = one prototype each)")
      ->capture_default_str();
  persona->add_option("--statements-per-behavior", pk->statements_per_behavior)->capture_default_str();
  persona->add_option("--seen-users", pk->seen_users)->capture_default_str();
  persona->add_option("--unseen-users", pk->unseen_users)->capture_default_str();
  persona->add_option("--train-pairs", pk->train_pairs, "per seen user")->capture_default_str();
  persona->add_option("--val-pairs", pk->val_pairs, "per seen user")->capture_default_str();
  persona->add_option("--test-pairs", pk->test_pairs, "per user")->capture_default_str();
  persona->add_option("--support-pairs", pk->support_pairs, "per unseen user")->capture_default_str();
  persona->add_option("--noise", pk->noise_temperature, "logistic label-noise temperature (0 = none)")
      ->capture_default_str();
  persona->add_flag("--soft-labels", pk->soft_labels, "store σ(Δr/T) as the label (with --noise)");
  persona->add_flag("--rationales", pk->rationales,
                    "give every comparison a rationale naming the behaviour and stance of both statements");
  persona->add_option("--seed", pk->seed)->capture_default_str();
  persona->callback([pk, pk_out, pk_json] {
    require_distinct_files({{"--out", *pk_out}}, {{"--statements", pk->statements_path}});
    auto p = generate_persona_k(*pk);
    write_h5(p.data, *pk_out);
    if (*pk_json) {
      auto j = data_json(p.data);
      j["out"] = *pk_out;
      j["behaviors"] = p.behaviors;
      std::cout << j.dump() << "\n";
      return;
    }
    std::cout << p.data.summary() << "\nbehaviours:";
    for (const auto& b : p.behaviors) std::cout << " " << b;
    std::cout << "\nwrote " << *pk_out << "\n";
  });

  add_import_ideal_points(cmd);

  auto uk = std::make_shared<UkpConfig>();
  uk->dir = bundled_data("ukpconvarg1");
  auto uk_out = std::make_shared<std::string>();
  auto uk_json = std::make_shared<bool>(false);
  auto* ukp = cmd->add_subcommand("ukp", "UKPConvArg1 crowd judgements as per-worker preferences");
  ukp->add_option("-o,--out", *uk_out, "output .h5")->required();
  ukp->add_flag("--json", *uk_json, "print one JSON object");
  ukp->add_option("--dir", uk->dir, "folder with topics/arguments/annotations TSVs")->capture_default_str();
  ukp->add_option("--min-strict", uk->min_strict, "keep workers with at least this many strict judgements")
      ->capture_default_str();
  ukp->add_flag("--keep-equal", uk->keep_equal, "keep 'equal' judgements as label 0.5 (default: drop)");
  ukp->add_option("--unseen-fraction", uk->unseen_fraction)->capture_default_str();
  ukp->add_option("--seed", uk->seed)->capture_default_str();
  ukp->add_option("--stance-context", uk->stance_context,
                  "give each judgement the worker's stance as a context: true, or flipped (same <-> opposite)");
  ukp->callback([uk, uk_out, uk_json] {
    auto data = import_ukp(*uk);
    write_h5(data, *uk_out);
    print_written(data, *uk_out, *uk_json);
  });
}

void add_export(CLI::App& app, Common&) {
  struct Opts {
    std::string in, out;
    bool json_out = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("export", "Write preference data back out as JSON Lines (docs/data_format.md)");
  cmd->add_option("input", o->in, "input .h5 / .jsonl[.gz] / .tsv[.gz]")->required();
  cmd->add_option("-o,--out", o->out, "output .jsonl")->required();
  cmd->add_flag("--json", o->json_out, "print one JSON object");
  cmd->callback([o] {
    require_distinct_files({{"--out", o->out}}, {{"file", o->in}});
    auto data = read_preferences(o->in);
    write_jsonl(data, o->out);
    print_written(data, o->out, o->json_out);
  });
}

void add_encode(CLI::App& app, Common& common) {
  struct Opts {
    std::string data, texts, cache, encoder = "minilm", storage = "float32";
    int64_t commit_every = 20000;
    bool quiet = false, json_out = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("encode", "Fill the feature cache with an encoder's features (skips cached texts)");
  cmd->add_option("--data", o->data, "preference data whose texts to encode (.h5/.jsonl/.tsv)");
  cmd->add_option("--texts", o->texts, "or a text file, one text per line (\\n escaped)");
  cmd->add_option("--cache", o->cache, "feature cache .h5")->required();
  cmd->add_option("--encoder", o->encoder, "encoder spec, e.g. hashed, hashed:dim=1024, precomputed:...")
      ->capture_default_str();
  cmd->add_option("--storage", o->storage, "float32 or float16")->capture_default_str();
  cmd->add_option("--commit-every", o->commit_every, "rows per transaction (an interruption loses at most this)")
      ->capture_default_str();
  cmd->add_option("--threads", common.threads, "LibTorch threads (0 = all cores)");
  cmd->add_flag("-q,--quiet", o->quiet, "no progress bar");
  cmd->add_flag("--json", o->json_out, "print one JSON object");
  cmd->callback([o, &common] {
    PLURAL_CHECK(o->data.empty() != o->texts.empty(), "encode: give exactly one of --data or --texts");
    require_distinct_files({{"--cache", o->cache}}, {{"--data", o->data}, {"--texts", o->texts}});
    set_threads(common.threads);
    std::vector<std::string> texts;
    if (!o->data.empty()) {
      texts = read_preferences(o->data).texts.all();
    } else {
      LineReader r(o->texts);
      std::string line;
      while (r.next(line)) texts.push_back(sanitize_utf8(tsv_unescape(line)));
    }
    auto encoder = make_encoder(o->encoder);
    FeatureCache cache(o->cache);
    EncodeOptions opts;
    opts.commit_every = o->commit_every;
    opts.storage = parse_storage(o->storage);
    opts.progress = !o->quiet && !o->json_out;
    auto st = encode_into_cache(cache, *encoder, texts, opts);
    if (o->json_out) {
      nlohmann::json j = {{"encoder", encoder->id()}, {"dim", encoder->dim()}, {"texts", st.texts},
                          {"cached", st.cached},      {"encoded", st.encoded}, {"seconds", st.seconds},
                          {"cache", o->cache}};
      std::cout << j.dump() << "\n";
      return;
    }
    std::printf("encoder %s (dim %lld): %lld texts, %lld already cached, %lld encoded in %.2f s (%.0f texts/s)\n",
                encoder->id().c_str(), static_cast<long long>(encoder->dim()), static_cast<long long>(st.texts),
                static_cast<long long>(st.cached), static_cast<long long>(st.encoded), st.seconds,
                st.encoded / std::max(st.seconds, 1e-9));
  });
}

void add_embed(CLI::App& app, Common& common) {
  struct Opts {
    std::string texts, out, encoder = "minilm";
    bool json_out = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("embed", "Embed texts with an encoder straight into a .npy (no cache), in file order");
  cmd->add_option("--texts", o->texts, "one text per line (\\n, \\t escaped)")->required();
  cmd->add_option("-o,--out", o->out, "output .npy [n, dim] float32")->required();
  cmd->add_option("--encoder", o->encoder, "encoder spec")->capture_default_str();
  cmd->add_option("--threads", common.threads, "LibTorch threads (0 = all cores)");
  cmd->add_flag("--json", o->json_out, "print one JSON object");
  cmd->callback([o, &common] {
    require_distinct_files({{"--out", o->out}}, {{"--texts", o->texts}});
    set_threads(common.threads);
    std::vector<std::string> texts;
    LineReader r(o->texts);
    std::string line;
    while (r.next(line)) texts.push_back(sanitize_utf8(tsv_unescape(line)));
    auto encoder = make_encoder(o->encoder);
    auto t0 = std::chrono::steady_clock::now();
    auto f = encoder->encode(texts).contiguous();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    write_npy(o->out, f.data_ptr<float>(), f.size(0), f.size(1));
    if (o->json_out) {
      nlohmann::json j = {
          {"encoder", encoder->id()}, {"texts", texts.size()}, {"dim", f.size(1)}, {"seconds", secs}, {"out", o->out}};
      std::cout << j.dump() << "\n";
      return;
    }
    std::printf("%s: %zu texts in %.2f s (%.1f texts/s), wrote %s\n", encoder->id().c_str(), texts.size(), secs,
                texts.size() / std::max(secs, 1e-9), o->out.c_str());
  });
}

}  // namespace plural::apps
