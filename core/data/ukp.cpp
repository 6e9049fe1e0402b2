#include "core/data/ukp.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <unordered_map>

#include "core/base/error.hpp"
#include "core/base/random.hpp"
#include "core/base/text_io.hpp"

namespace plural::core {

namespace {
std::string find_table(const std::string& dir, const std::string& name) {
  for (const auto& candidate : {dir + "/" + name + ".gz", dir + "/" + name})
    if (std::filesystem::exists(candidate)) return candidate;
  throw IoError(detail::cat(dir, ": missing ", name, " (or ", name, ".gz)"));
}

// Reads a headed TSV and checks the header names the expected columns in order.
template <typename Fn>
void each_row(const std::string& path, const std::vector<std::string>& header, Fn fn) {
  LineReader reader(path);
  std::string line;
  PLURAL_CHECK(reader.next(line), path, ": empty file");
  auto got = split_tsv(line);
  PLURAL_CHECK(got == header, path, ":1: unexpected header (expected ", header.size(), " columns starting '", header[0],
               "')");
  while (reader.next(line)) {
    if (line.empty()) continue;
    auto f = split_tsv(line);
    PLURAL_CHECK(f.size() == header.size(), path, ":", reader.line_number(), ": expected ", header.size(),
                 " columns, got ", f.size());
    fn(f, reader.line_number());
  }
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
  return s;
}
}  // namespace

void UkpConfig::validate() const {
  PLURAL_CHECK(min_strict >= 1, "UkpConfig: min_strict must be >= 1, got ", min_strict);
  PLURAL_CHECK(unseen_fraction >= 0 && unseen_fraction < 1, "UkpConfig: unseen_fraction must be in [0, 1)");
  PLURAL_CHECK(val_fraction >= 0 && test_fraction > 0 && val_fraction + test_fraction < 1,
               "UkpConfig: need test_fraction > 0 and val_fraction + test_fraction < 1");
  PLURAL_CHECK(support_fraction > 0 && support_fraction < 1, "UkpConfig: support_fraction must be in (0, 1)");
  PLURAL_CHECK(stance_context.empty() || stance_context == "true" || stance_context == "flipped",
               "UkpConfig: stance_context must be '', 'true' or 'flipped', got '", stance_context, "'");
}

PreferenceData import_ukp(const UkpConfig& cfg) {
  cfg.validate();
  std::map<std::string, std::string> title;  // topic_id -> debate title
  std::string topics = find_table(cfg.dir, "topics.tsv");
  each_row(topics, {"topic_id", "topic_file", "debate_title"},
           [&](const std::vector<std::string>& f, size_t) { title[f[0]] = f[2]; });

  struct Arg {
    std::string prompt, text;
  };
  std::unordered_map<std::string, Arg> args;  // "topic/arg_id"
  std::string arguments = find_table(cfg.dir, "arguments.tsv");
  each_row(arguments, {"topic_id", "arg_id", "stance", "text"}, [&](const std::vector<std::string>& f, size_t ln) {
    auto t = title.find(f[0]);
    PLURAL_CHECK(t != title.end(), arguments, ":", ln, ": column 'topic_id': unknown topic '", f[0], "'");
    args[f[0] + "/" + f[1]] = {sanitize_utf8(t->second + ": " + f[2]), sanitize_utf8(replace_all(f[3], "<br/>", "\n"))};
  });

  // The worker's stance towards the side both arguments argue: whether it changes which one convinces.
  auto stance_text = [&](std::string stance) -> std::string {
    if (cfg.stance_context.empty() || stance == "-") return "";
    if (cfg.stance_context == "flipped" && stance != "none") stance = stance == "same" ? "opposite" : "same";
    if (stance == "same") return "The reader agrees with the side these arguments take.";
    if (stance == "opposite") return "The reader disagrees with the side these arguments take.";
    return "The reader has no stance on this debate.";
  };
  struct Judgement {
    std::string worker, a, b;
    float label;
    std::string context;
  };
  std::vector<Judgement> all;
  std::map<std::string, int> strict;
  std::string annotations = find_table(cfg.dir, "annotations.tsv");
  each_row(annotations, {"topic_id", "arg1_id", "arg2_id", "worker_id", "label", "worker_stance", "gold_label"},
           [&](const std::vector<std::string>& f, size_t ln) {
             const std::string a = f[0] + "/" + f[1], b = f[0] + "/" + f[2];
             PLURAL_CHECK(args.count(a), annotations, ":", ln, ": column 'arg1_id': unknown argument '", f[1], "'");
             PLURAL_CHECK(args.count(b), annotations, ":", ln, ": column 'arg2_id': unknown argument '", f[2], "'");
             float label;
             if (f[4] == "a1")
               label = 1.f;
             else if (f[4] == "a2")
               label = 0.f;
             else if (f[4] == "equal")
               label = 0.5f;
             else
               throw ValueError(
                   detail::cat(annotations, ":", ln, ": column 'label': expected a1, a2 or equal, got '", f[4], "'"));
             PLURAL_CHECK(f[5] == "same" || f[5] == "opposite" || f[5] == "none" || f[5] == "-", annotations, ":", ln,
                          ": column 'worker_stance': expected same, opposite, none or -, got '", f[5], "'");
             if (label != 0.5f) ++strict[f[3]];
             if (label == 0.5f && !cfg.keep_equal) return;
             all.push_back({f[3], a, b, label, stance_text(f[5])});
           });

  std::vector<std::string> workers;
  for (const auto& [w, n] : strict)
    if (n >= cfg.min_strict) workers.push_back(w);
  PLURAL_CHECK(!workers.empty(), cfg.dir, ": no worker has ", cfg.min_strict, " strict judgements");
  Rng rng(cfg.seed);
  rng.shuffle(workers);
  size_t n_unseen = static_cast<size_t>(std::round(workers.size() * cfg.unseen_fraction));
  std::map<std::string, bool> seen;
  for (size_t i = 0; i < workers.size(); ++i) seen[workers[i]] = i >= n_unseen;

  PreferenceData data;
  data.source = detail::cat("ukpconvarg1(", cfg.dir, ", min_strict=", cfg.min_strict, ", seed=", cfg.seed,
                            cfg.stance_context.empty() ? "" : ", stance_context=" + cfg.stance_context, ")");
  std::map<std::string, std::vector<size_t>> rows_of;
  for (size_t i = 0; i < all.size(); ++i)
    if (seen.count(all[i].worker)) rows_of[all[i].worker].push_back(i);
  for (auto& [worker, rows] : rows_of) {
    bool is_seen = seen[worker];
    int32_t u = data.user_index(worker);
    data.users[u].seen = is_seen;
    rng.shuffle(rows);
    size_t n = rows.size();
    size_t n_test =
        is_seen ? size_t(std::round(n * cfg.test_fraction)) : n - size_t(std::round(n * cfg.support_fraction));
    size_t n_val = is_seen ? size_t(std::round(n * cfg.val_fraction)) : 0;
    for (size_t j = 0; j < n; ++j) {
      const auto& jd = all[rows[j]];
      Comparison c;
      c.user = u;
      c.prompt_a = c.prompt_b = data.texts.intern(args[jd.a].prompt);
      c.a = data.texts.intern(args[jd.a].text);
      c.b = data.texts.intern(args[jd.b].text);
      c.label = jd.label;
      if (!jd.context.empty()) c.context = data.texts.intern(jd.context);
      c.split = j < n_test ? Split::test : j < n_test + n_val ? Split::val : is_seen ? Split::train : Split::support;
      data.comparisons.push_back(c);
    }
  }
  data.validate();
  return data;
}

}  // namespace plural::core
