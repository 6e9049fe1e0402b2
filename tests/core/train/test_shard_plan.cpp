// ShardPlan: every train comparison in exactly one shard, users whole, shards balanced, seeded and replayable.
#include <algorithm>
#include <catch2/catch.hpp>
#include <set>

#include "core/base/error.hpp"
#include "core/train/shard_plan.hpp"

using namespace plural::core;

namespace {
PreferenceData skewed_data() {
  PreferenceData d;
  d.source = "skewed";
  for (int u = 0; u < 9; ++u) {
    int32_t user = d.user_index("u" + std::to_string(u));
    int n = u == 0 ? 40 : 5 + u;  // one heavy user
    for (int i = 0; i < n; ++i) {
      Comparison c;
      c.user = user;
      c.a = d.texts.intern("a" + std::to_string(u) + "_" + std::to_string(i));
      c.b = d.texts.intern("shared" + std::to_string(i % 3));
      c.split = i % 5 == 4 ? Split::val : Split::train;
      if (i % 4 == 1) c.rationale = d.texts.intern("why" + std::to_string(u % 2));
      d.comparisons.push_back(c);
    }
  }
  int32_t unseen = d.user_index("new");
  Comparison c;
  c.user = unseen;
  c.a = d.texts.intern("x");
  c.b = d.texts.intern("y");
  c.split = Split::support;
  d.comparisons.push_back(c);
  d.infer_seen();
  return d;
}
}  // namespace

TEST_CASE("ShardPlan: a partition of the train comparisons by user, balanced and seeded", "[shard]") {
  auto d = skewed_data();
  ShardPlan plan(d, 3, 7);
  std::multiset<size_t> seen;
  for (int s = 0; s < 3; ++s)
    for (auto r : plan.train_rows(s)) {
      seen.insert(r);
      CHECK(plan.owner(d.comparisons[r].user) == s);
      CHECK(d.comparisons[r].split == Split::train);
    }
  CHECK(seen.size() == d.select(Split::train, true).size());
  CHECK(std::set<size_t>(seen.begin(), seen.end()).size() == seen.size());
  CHECK(plan.owner(d.find_user("new")) == -1);
  // LPT: the heavy user (32 train rows) alone on a shard; the rest share the other two within one user's rows.
  std::vector<size_t> sizes;
  for (int s = 0; s < 3; ++s) sizes.push_back(plan.train_rows(s).size());
  std::sort(sizes.begin(), sizes.end());
  CHECK(sizes[2] == 32);
  CHECK(sizes[1] - sizes[0] <= 11);
  // Same seed, same plan and orders; an epoch's steps cover each shard's rows once.
  ShardPlan again(d, 3, 7);
  for (int s = 0; s < 3; ++s) CHECK(again.epoch_order(s, 2) == plan.epoch_order(s, 2));
  CHECK(plan.epoch_order(0, 1) != plan.epoch_order(0, 2));
  const int64_t batch = 10;
  CHECK(plan.local_batch(batch) == 4);
  CHECK(plan.steps(batch) == 8);  // the 32-row shard at 4 per step
  for (int s = 0; s < 3; ++s) {
    auto order = plan.epoch_order(s, 1);
    std::vector<size_t> walked;
    for (int64_t st = 0; st < plan.steps(batch); ++st) {
      auto rows = plan.step_rows(order, st, batch);
      CHECK(rows.size() <= 4);
      walked.insert(walked.end(), rows.begin(), rows.end());
    }
    CHECK(walked == order);
  }
  CHECK_THROWS_AS(ShardPlan(d, 0, 1), plural::ValueError);
}

TEST_CASE("ShardPlan::shard_data keeps every user row, only the shard's comparisons and their texts", "[shard]") {
  auto d = skewed_data();
  ShardPlan plan(d, 2, 1);
  size_t total = 0;
  for (int s = 0; s < 2; ++s) {
    std::vector<size_t> full_row;
    auto part = plan.shard_data(d, s, &full_row);
    REQUIRE(part.users.size() == d.users.size());
    for (size_t u = 0; u < d.users.size(); ++u) {
      CHECK(part.users[u].id == d.users[u].id);
      CHECK(part.users[u].seen == d.users[u].seen);
    }
    REQUIRE(full_row.size() == part.comparisons.size());
    std::set<std::string> used;
    for (size_t i = 0; i < part.comparisons.size(); ++i) {
      const auto& a = part.comparisons[i];
      const auto& b = d.comparisons[full_row[i]];
      CHECK(plan.owner(b.user) == s);
      CHECK(a.split == b.split);
      CHECK(part.texts[a.a] == d.texts[b.a]);
      CHECK(part.texts[a.b] == d.texts[b.b]);
      used.insert(part.texts[a.a]);
      used.insert(part.texts[a.b]);
      REQUIRE((a.rationale < 0) == (b.rationale < 0));  // rationales are renumbered into the shard's texts too
      if (a.rationale >= 0) {
        CHECK(part.texts[a.rationale] == d.texts[b.rationale]);
        used.insert(part.texts[a.rationale]);
      }
    }
    CHECK(used.size() == part.texts.size());  // no text the shard does not use
    total += part.comparisons.size();
  }
  CHECK(total == d.comparisons.size() - 1);  // all but the unseen user's support pair
}
