#include "core/data/ideal_points.hpp"

#include <cmath>

#include "core/base/error.hpp"
#include "core/base/random.hpp"

namespace plural::core {

void IdealPointsConfig::validate() const {
  PLURAL_CHECK(dim >= 1 && dim <= 4096, "ideal points: dim must be in [1, 4096], got ", dim);
  PLURAL_CHECK(items >= 2, "ideal points: need at least 2 items, got ", items);
  PLURAL_CHECK(prototypes >= 1, "ideal points: prototypes must be >= 1, got ", prototypes);
  PLURAL_CHECK(centre_spread >= 0 && user_spread >= 0 && quality >= 0,
               "ideal points: centre_spread, user_spread and quality must be >= 0");
  PLURAL_CHECK(temperature > 0, "ideal points: temperature must be > 0, got ", temperature);
  PLURAL_CHECK(lapse >= 0 && lapse <= 1, "ideal points: lapse must be in [0, 1], got ", lapse);
  PLURAL_CHECK(seen_users >= 1 && unseen_users >= 0, "ideal points: need >= 1 seen user and >= 0 unseen users");
  PLURAL_CHECK(min_train_pairs >= 1 && max_train_pairs >= min_train_pairs,
               "ideal points: need 1 <= min_train_pairs <= max_train_pairs, got ", min_train_pairs, " and ",
               max_train_pairs);
  PLURAL_CHECK(test_pairs >= 1 && support_pairs >= 1, "ideal points: test_pairs and support_pairs must be >= 1");
}

namespace {
std::vector<double> gaussian(Rng& rng, int n, double sd, const std::vector<double>* mean = nullptr) {
  std::vector<double> v(n);
  for (int i = 0; i < n; ++i) v[i] = (mean ? (*mean)[i] : 0.0) + sd * rng.normal();
  return v;
}

struct World {
  std::vector<std::vector<double>> x;  // item coordinates
  std::vector<double> q;               // item quality
  double scale = 1;                    // 1 / √(2·dim)
  double utility(int item, const std::vector<double>& theta) const {
    double d2 = 0;
    for (size_t j = 0; j < theta.size(); ++j) d2 += (x[item][j] - theta[j]) * (x[item][j] - theta[j]);
    return q[item] - d2 * scale;
  }
};

// One answer: the first of a random ordered pair of distinct items, labelled by a noisy (or lapsed) choice.
void add_pairs(IdealPoints& out, const World& w, const IdealPointsConfig& cfg, Rng& rng, int32_t user,
               const std::vector<double>& theta, int n, Split split) {
  for (int i = 0; i < n; ++i) {
    int a = static_cast<int>(rng.index(cfg.items));
    int b = static_cast<int>(rng.index(cfg.items - 1));
    if (b >= a) ++b;
    double p = 1.0 / (1.0 + std::exp(-(w.utility(a, theta) - w.utility(b, theta)) / cfg.temperature));
    if (rng.uniform() < cfg.lapse) p = 0.5;
    Comparison c;
    c.user = user;
    c.a = a;
    c.b = b;
    c.label = rng.uniform() < p ? 1.f : 0.f;
    c.split = split;
    out.data.comparisons.push_back(c);
  }
}
}  // namespace

IdealPoints generate_ideal_points(const IdealPointsConfig& cfg) {
  cfg.validate();
  Rng rng(cfg.seed * 0x9E3779B97F4A7C15ull + 0x1d7a);
  IdealPoints out;
  World w;
  w.scale = 1.0 / std::sqrt(2.0 * cfg.dim);
  for (int i = 0; i < cfg.items; ++i) {
    w.x.push_back(gaussian(rng, cfg.dim, 1.0));
    w.q.push_back(cfg.quality * rng.normal());
    out.data.texts.intern("item " + std::to_string(i));  // text i is item i
  }
  out.feature_dim = cfg.dim + (cfg.one_hot ? cfg.items : 0);
  out.features.assign(static_cast<size_t>(cfg.items * out.feature_dim), 0.f);
  for (int i = 0; i < cfg.items; ++i) {
    float* row = out.features.data() + i * out.feature_dim;
    for (int j = 0; j < cfg.dim; ++j) row[j] = static_cast<float>(w.x[i][j]);
    if (cfg.one_hot) row[cfg.dim + i] = 1.f;
  }
  std::vector<std::vector<double>> centres;
  for (int k = 0; k < cfg.prototypes; ++k) centres.push_back(gaussian(rng, cfg.dim, cfg.centre_spread));
  const int users = cfg.seen_users + cfg.unseen_users;
  for (int u = 0; u < users; ++u) {
    const bool seen = u < cfg.seen_users;
    int32_t row = out.data.user_index((seen ? "seen-" : "unseen-") + std::to_string(u));
    int k = static_cast<int>(rng.index(cfg.prototypes));
    out.data.users[row].group = k;
    out.ideal.push_back(gaussian(rng, cfg.dim, cfg.user_spread, &centres[k]));
    const auto& theta = out.ideal.back();
    if (seen) {
      int n = cfg.min_train_pairs + static_cast<int>(rng.index(cfg.max_train_pairs - cfg.min_train_pairs + 1));
      add_pairs(out, w, cfg, rng, row, theta, n, Split::train);
    } else {
      add_pairs(out, w, cfg, rng, row, theta, cfg.support_pairs, Split::support);
    }
    add_pairs(out, w, cfg, rng, row, theta, cfg.test_pairs, Split::test);
  }
  out.data.infer_seen();
  out.data.source = "ideal-points(dim=" + std::to_string(cfg.dim) + ", items=" + std::to_string(cfg.items) +
                    ", K*=" + std::to_string(cfg.prototypes) + ", seed=" + std::to_string(cfg.seed) + ")";
  out.data.validate();
  return out;
}

}  // namespace plural::core
