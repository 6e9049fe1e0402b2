#include "core/diagnostics/attribution.hpp"

#include <boost/math/distributions/normal.hpp>
#include <cmath>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "core/base/error.hpp"
#include "core/base/json_rows.hpp"
#include "core/base/text_io.hpp"
#include "core/diagnostics/logistic.hpp"
#include "core/eval/stats.hpp"

namespace plural::core {

void AttributionConfig::validate() const {
  PLURAL_CHECK(prior_sd > 0 && std::isfinite(prior_sd), "attribution: prior_sd must be > 0, got ", prior_sd);
  PLURAL_CHECK(min_pairs >= 1, "attribution: min_pairs must be >= 1, got ", min_pairs);
  PLURAL_CHECK(level > 0 && level < 1, "attribution: level must be in (0, 1), got ", level);
}

ItemProperties length_property(const PreferenceData& data) {
  ItemProperties p;
  p.names = {"log_length"};
  for (const auto& t : data.texts.all()) p.values.push_back({std::log1p(static_cast<double>(t.size()))});
  return p;
}

void read_item_properties(const std::string& path, const PreferenceData& data, ItemProperties& properties) {
  const size_t n_texts = data.texts.size(), first = properties.names.size();
  if (properties.values.size() != n_texts) properties.values.assign(n_texts, {});
  std::unordered_map<std::string, size_t> column;
  for (size_t j = 0; j < properties.names.size(); ++j) column[properties.names[j]] = j;
  std::vector<std::vector<std::pair<size_t, double>>> set(n_texts);  // per text: (column, value)
  std::vector<size_t> line_of(n_texts, 0);                           // the row that gave a text its values
  LineReader reader(path);
  std::string line;
  int64_t rows = 0;
  while (reader.next(line)) {
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const auto where = detail::cat(path, ":", reader.line_number());
    auto obj = parse_json_object_row(line, where);
    PLURAL_CHECK(obj.contains("text") && obj["text"].is_string(), where, ": field 'text': missing or not a string");
    ++rows;
    int32_t t = data.texts.find(sanitize_utf8(obj["text"].get<std::string>()));
    if (t >= 0) {
      PLURAL_CHECK(line_of[static_cast<size_t>(t)] == 0, where, ": field 'text': the same text as line ",
                   line_of[static_cast<size_t>(t)], "; give each text's properties once");
      line_of[static_cast<size_t>(t)] = reader.line_number();
    }
    for (const auto& [key, value] : obj.items()) {
      if (key == "text" || value.is_null()) continue;
      PLURAL_CHECK(value.is_number() || value.is_boolean(), where, ": field '", key, "': expected a number, got ",
                   value.type_name());
      const double v = value.is_boolean() ? double(value.get<bool>()) : value.get<double>();
      PLURAL_CHECK(std::isfinite(v), where, ": field '", key, "': must be finite");
      auto [it, added] = column.emplace(key, properties.names.size());
      if (added) {
        properties.names.push_back(key);
      }
      PLURAL_CHECK(it->second >= first, where, ": field '", key, "' is already a property");
      if (t >= 0) set[static_cast<size_t>(t)].push_back({it->second, v});
    }
    if (t < 0) ++properties.unmatched_rows;
  }
  PLURAL_CHECK(rows > 0, path, ": no property rows");
  for (size_t t = 0; t < n_texts; ++t) {
    properties.values[t].resize(properties.names.size(), std::nan(""));
    for (const auto& [j, v] : set[t]) properties.values[t][j] = v;
  }
}

namespace {
AttributionFit fit_one(const std::string& user, const Eigen::MatrixXd& X, const Eigen::VectorXd& y,
                       const Eigen::VectorXd& w, const AttributionConfig& config) {
  boost::math::normal standard;
  const double z = normal_two_sided(config.level);
  auto fit = fit_logistic(X, y, w, config.prior_sd);
  AttributionFit out{user, X.rows(), {}};
  for (Eigen::Index j = 0; j < X.cols(); ++j) {
    PropertyEffect e;
    e.mean = fit.mean[j];
    e.sd = std::sqrt(std::max(fit.cov(j, j), 0.0));
    e.lo = e.mean - z * e.sd;
    e.hi = e.mean + z * e.sd;
    e.p_positive = e.sd > 0 ? boost::math::cdf(standard, e.mean / e.sd) : (e.mean > 0 ? 1.0 : 0.0);
    out.effects.push_back(e);
  }
  return out;
}
}  // namespace

Attribution attribute_preferences(const PreferenceData& data, const ItemProperties& properties,
                                  const AttributionConfig& config) {
  config.validate();
  const size_t P = properties.names.size();
  PLURAL_CHECK(P > 0, "attribution: no properties");
  PLURAL_CHECK(properties.values.size() == data.texts.size(), "attribution: properties for ", properties.values.size(),
               " texts, the data has ", data.texts.size());
  Attribution a;
  a.properties = properties.names;
  std::vector<size_t> rows;
  for (size_t i = 0; i < data.comparisons.size(); ++i) {
    const auto& c = data.comparisons[i];
    bool known = true;
    for (size_t j = 0; j < P; ++j)
      known = known && std::isfinite(properties.values[c.a][j]) && std::isfinite(properties.values[c.b][j]);
    if (known && c.weight > 0) rows.push_back(i);
    a.missing += !known;
  }
  a.usable = static_cast<int64_t>(rows.size());
  PLURAL_CHECK(!rows.empty(), "attribution: no comparison has every property known for both items (", a.missing,
               " left out)");
  // Differences, standardized by their RMS so that effects compare across properties.
  Eigen::MatrixXd D(rows.size(), P);
  Eigen::VectorXd y(rows.size()), w(rows.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    const auto& c = data.comparisons[rows[r]];
    for (size_t j = 0; j < P; ++j) D(r, j) = properties.values[c.a][j] - properties.values[c.b][j];
    y[r] = c.label;
    w[r] = c.weight;
  }
  a.scale.resize(P);
  for (size_t j = 0; j < P; ++j) {
    double rms = std::sqrt(D.col(j).squaredNorm() / double(rows.size()));
    if (!(rms > 0)) {
      a.warnings.push_back("property '" + properties.names[j] + "' never differs within a pair: no effect to fit");
      rms = 1;
    }
    a.scale[j] = rms;
    D.col(j) /= rms;
  }
  a.population = fit_one("", D, y, w, config);

  std::vector<std::vector<Eigen::Index>> by_user(data.users.size());
  for (size_t r = 0; r < rows.size(); ++r) by_user[data.comparisons[rows[r]].user].push_back(r);
  for (size_t u = 0; u < data.users.size(); ++u) {
    const auto& idx = by_user[u];
    if (static_cast<int>(idx.size()) < config.min_pairs) continue;
    Eigen::MatrixXd Xu(idx.size(), P);
    Eigen::VectorXd yu(idx.size()), wu(idx.size());
    for (size_t k = 0; k < idx.size(); ++k) Xu.row(k) = D.row(idx[k]), yu[k] = y[idx[k]], wu[k] = w[idx[k]];
    a.users.push_back(fit_one(data.users[u].id, Xu, yu, wu, config));
  }
  a.user_average.assign(P, std::nan(""));
  a.user_spread.assign(P, std::nan(""));
  a.users_positive.assign(P, 0);
  a.users_negative.assign(P, 0);
  if (!a.users.empty()) {
    for (size_t j = 0; j < P; ++j) {
      double mean = 0, sq = 0;
      for (const auto& f : a.users) {
        mean += f.effects[j].mean;
        a.users_positive[j] += f.effects[j].lo > 0;
        a.users_negative[j] += f.effects[j].hi < 0;
      }
      mean /= double(a.users.size());
      for (const auto& f : a.users) sq += (f.effects[j].mean - mean) * (f.effects[j].mean - mean);
      a.user_average[j] = mean;
      a.user_spread[j] = a.users.size() > 1 ? std::sqrt(sq / double(a.users.size() - 1)) : 0.0;
    }
  }
  return a;
}

}  // namespace plural::core
