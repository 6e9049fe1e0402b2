#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "embeddings/row_memo.hpp"

using plural::core::RowMemo;

TEST_CASE("row memo: gives rows only when it has every text, exactly as added, within its byte limit", "[features]") {
  RowMemo memo(/*max_bytes=*/3 * 4 * 4);  // three rows of 4 floats
  CHECK_FALSE(memo.find({"a"}).defined());
  auto rows = torch::arange(16, torch::kFloat).view({4, 4});
  memo.add({"a", "b", "c", "d"}, rows);  // "d" does not fit
  auto got = memo.find({"c", "a", "c"});
  REQUIRE(got.defined());
  CHECK(torch::equal(got, torch::stack({rows[2], rows[0], rows[2]})));
  CHECK_FALSE(memo.find({"a", "d"}).defined());
  CHECK(memo.missing({"d", "a", "x", "d"}) == std::vector<std::string>{"d", "x"});
  // A full memo still answers from what it holds plus rows just read, in the asked order.
  auto fresh = torch::full({2, 4}, 7.f);
  fresh[1].fill_(9.f);
  auto mixed = memo.gather({"d", "a", "x", "d"}, {"d", "x"}, fresh);
  REQUIRE(mixed.defined());
  CHECK(torch::equal(mixed, torch::stack({fresh[0], rows[0], fresh[1], fresh[0]})));
  CHECK_FALSE(memo.gather({"a", "y"}, {"d", "x"}, fresh).defined());
  CHECK_FALSE(memo.find({}).defined());
  memo.add({"e"}, torch::ones({1, 5}));  // another width is not mixed in
  CHECK_FALSE(memo.find({"e"}).defined());
  rows.fill_(-1);  // the memo holds copies
  CHECK(memo.find({"b"})[0][0].item<float>() == 4.f);
}

TEST_CASE("row memo: grows past its first block", "[features]") {
  RowMemo memo;
  std::vector<std::string> texts;
  for (int i = 0; i < 3000; ++i) texts.push_back("t" + std::to_string(i));
  auto rows = torch::randn({3000, 8});
  memo.add(texts, rows);
  CHECK(torch::equal(memo.find(texts), rows));
}
