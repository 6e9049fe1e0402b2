// Training-set cuts for learning curves and timing: which comparisons survive, and that users and texts do not move.
#include <catch2/catch.hpp>

#include "core/data/subsets.hpp"

using namespace plural::core;

namespace {
// Two users; u0 has 3 train, 1 val, 1 test comparisons, u1 has 2 train and 1 support comparison.
PreferenceData two_users() {
  PreferenceData d;
  d.users = {User{"u0"}, User{"u1"}};
  d.users[1].seen = false;
  auto add = [&](int32_t user, Split split, int32_t a) {
    Comparison c;
    c.user = user;
    c.a = a;
    c.b = a + 1;
    c.split = split;
    d.comparisons.push_back(c);
  };
  add(0, Split::train, 0), add(1, Split::train, 1), add(0, Split::val, 2), add(0, Split::train, 3);
  add(1, Split::support, 4), add(0, Split::test, 5), add(1, Split::train, 6), add(0, Split::train, 7);
  return d;
}

std::vector<int32_t> items(const PreferenceData& d) {
  std::vector<int32_t> out;
  for (const auto& c : d.comparisons) out.push_back(c.a);
  return out;
}
}  // namespace

TEST_CASE("train_pairs_per_user keeps each user's first n train pairs and every other split", "[data]") {
  auto d = two_users();
  CHECK(items(train_pairs_per_user(d, 1)) == std::vector<int32_t>{0, 1, 2, 4, 5});
  CHECK(items(train_pairs_per_user(d, 2)) == std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6});
  CHECK(items(train_pairs_per_user(d, 100)) == items(d));
  CHECK(items(train_pairs_per_user(d, 0)) == std::vector<int32_t>{2, 4, 5});
  CHECK(train_pairs_per_user(d, 1).users.size() == 2);
}

TEST_CASE("first_train_pairs keeps the file's first n train pairs and nothing else", "[data]") {
  auto d = two_users();
  CHECK(items(first_train_pairs(d, 3)) == std::vector<int32_t>{0, 1, 3});
  CHECK(items(first_train_pairs(d, 100)) == std::vector<int32_t>{0, 1, 3, 6, 7});
  CHECK(first_train_pairs(d, 0).comparisons.empty());
  CHECK(first_train_pairs(d, 3).users.size() == 2);
}

TEST_CASE("carve_validation holds out about a tenth of each seen user's train pairs, seeded, never a lone pair",
          "[data]") {
  PreferenceData d;
  d.users = {User{"many"}, User{"few"}, User{"unseen"}};
  d.users[2].seen = false;
  auto add = [&](int32_t user, int n) {
    for (int i = 0; i < n; ++i) {
      Comparison c;
      c.user = user;
      c.a = static_cast<int32_t>(d.comparisons.size());
      d.comparisons.push_back(c);
    }
  };
  add(0, 40), add(1, 4), add(2, 20);
  auto carved = d;
  CHECK(!has_validation(d));
  CHECK(carve_validation(carved, 7) == 4);  // 10 % of 40; "few" has fewer than 5, the unseen user is not trained
  std::vector<int> val(3, 0);
  for (const auto& c : carved.comparisons)
    if (c.split == Split::val) ++val[static_cast<size_t>(c.user)];
  CHECK(val == std::vector<int>{4, 0, 0});
  CHECK(has_validation(carved));
  CHECK(carve_validation(carved, 7) == 0);  // data with a val split is left as it is
  auto again = d;
  carve_validation(again, 7);
  auto other = d;
  carve_validation(other, 8);
  auto val_rows = [](const PreferenceData& x) {
    std::vector<int32_t> out;
    for (const auto& c : x.comparisons)
      if (c.split == Split::val) out.push_back(c.a);
    return out;
  };
  CHECK(val_rows(again) == val_rows(carved));  // the same seed, the same pairs
  CHECK(val_rows(other) != val_rows(carved));
  // Five pairs: one held out, four left to train on.
  PreferenceData five;
  five.users = {User{"five"}};
  for (int i = 0; i < 5; ++i) {
    Comparison c;
    c.user = 0;
    five.comparisons.push_back(c);
  }
  CHECK(carve_validation(five, 0) == 1);
}
