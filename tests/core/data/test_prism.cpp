// PRISM's conversations.jsonl: responses rated in the same turn become that participant's comparisons; survey fields
// become context; bad records name the file, line and field.
#include <catch2/catch.hpp>

#include "core/base/error.hpp"
#include "core/data/prism.hpp"
#include "tests/helpers.hpp"

using namespace plural::core;
using Catch::Contains;
using plural::test::TempDir;
using plural::test::write_text;

namespace {
const std::string kFixture = std::string(PLURAL_SOURCE_DIR) + "/tests/data/prism/";

// Index of the comparison of `user` whose chosen and rejected texts are these (-1: none).
int find_pair(const PreferenceData& d, const std::string& chosen, const std::string& rejected) {
  for (size_t i = 0; i < d.comparisons.size(); ++i) {
    const auto& c = d.comparisons[i];
    if (d.texts[c.a] == chosen && d.texts[c.b] == rejected) return static_cast<int>(i);
  }
  return -1;
}
}  // namespace

TEST_CASE("PRISM: every two differently rated responses of a turn are one comparison", "[core][data]") {
  PrismCounts n;
  auto d = read_prism(kFixture + "conversations.jsonl", {}, &n);
  CHECK(n.conversations == 3);
  CHECK(n.turns == 5);
  CHECK(n.pairs == 18);
  CHECK(n.ties == 1);
  CHECK(n.single_response_turns == 1);
  REQUIRE(d.comparisons.size() == 18);
  REQUIRE(d.users.size() == 2);
  // The higher score is chosen whatever the order in the file; the prompt is the turn's user message.
  const int i = find_pair(d, "It depends on your values and health.", "Many people do; it is a personal choice.");
  REQUIRE(i >= 0);
  const auto& c = d.comparisons[static_cast<size_t>(i)];
  CHECK(d.texts[c.prompt_a] == "Is it ok to eat meat?");
  CHECK(d.users[c.user].id == "user0");
  CHECK(c.label == 1.f);
  CHECK(c.context < 0);
  CHECK(find_pair(d, "Many people do; it is a personal choice.", "It depends on your values and health.") < 0);
  CHECK(find_pair(d, "Fish is a good source of protein.", "Fish feel pain too.") >= 0);
  // The tie (55 vs 55) is left out; kept, it is one more pair at label 0.5.
  CHECK(find_pair(d, "Try 'Middlemarch'.", "Read whatever you like.") < 0);
  auto kept = read_prism(kFixture + "conversations.jsonl", {"", {}, false, true});
  REQUIRE(kept.comparisons.size() == 19);
  const int tie = find_pair(kept, "Try 'Middlemarch'.", "Read whatever you like.");
  REQUIRE(tie >= 0);
  CHECK(kept.comparisons[static_cast<size_t>(tie)].label == 0.5f);
}

TEST_CASE("PRISM: history prompts and survey context", "[core][data]") {
  PrismOptions o;
  o.history = true;
  o.survey = kFixture + "survey.jsonl";
  o.context_fields = {"age", "location.reside_country", "religion.self_described"};
  auto d = read_prism(kFixture + "conversations.jsonl", o);
  const int i = find_pair(d, "Fish is a good source of protein.", "Fish feel pain too.");
  REQUIRE(i >= 0);
  const auto& c = d.comparisons[static_cast<size_t>(i)];
  // Turn 1's prompt carries turn 0 with the response the conversation went on with (the flagged, best rated one).
  CHECK(d.texts[c.prompt_a] ==
        "user: Is it ok to eat meat?\nassistant: It depends on your values and health.\nuser: What about fish?");
  CHECK(d.texts[c.context] == "age: 25-34 years old; location.reside_country: Kenya; religion.self_described: n/a");
  const int j = find_pair(d, "Make a budget and track spending.", "Buy lottery tickets.");
  REQUIRE(j >= 0);
  CHECK(d.texts[d.comparisons[static_cast<size_t>(j)].context] ==
        "age: 55-64 years old; location.reside_country: Spain; religion.self_described: none");
}

TEST_CASE("PRISM: bad input names the file, line and field", "[core][data]") {
  TempDir tmp;
  auto path = tmp.file("conversations.jsonl");
  const std::string ok_user = R"({"turn": 0, "role": "user", "content": "Hi"})";
  auto one = [&](const std::string& model_a, const std::string& model_b) {
    write_text(path, R"({"conversation_id": "c", "user_id": "u", "conversation_history": [)" + ok_user + ", " +
                         model_a + ", " + model_b + "]}\n");
  };
  one(R"({"turn": 0, "role": "model", "content": "A", "score": 10})",
      R"({"turn": 0, "role": "model", "content": "B", "score": null})");
  CHECK_THROWS_WITH(read_prism(path), Contains(path + ":1: field 'conversation_history[2].score'"));
  one(R"({"turn": 0, "role": "model", "content": "A", "score": 10})",
      R"({"turn": 0, "role": "bot", "content": "B", "score": 3})");
  CHECK_THROWS_WITH(read_prism(path), Contains("conversation_history[2].role'") && Contains("\"bot\""));
  one(R"({"turn": 1, "role": "model", "content": "A", "score": 10})",
      R"({"turn": 1, "role": "model", "content": "B", "score": 3})");
  CHECK_THROWS_WITH(read_prism(path), Contains("turn 1 has model responses but no user message"));
  one(R"({"turn": 0, "role": "model", "content": "A", "score": 10})",
      R"({"turn": 0, "role": "model", "content": "B", "score": 10})");
  CHECK_THROWS_WITH(read_prism(path), Contains("no comparisons") && Contains("1 tied pairs"));
  // Context needs the survey, each participant in it, and a field that is a value.
  one(R"({"turn": 0, "role": "model", "content": "A", "score": 10})",
      R"({"turn": 0, "role": "model", "content": "B", "score": 3})");
  CHECK_THROWS_WITH(read_prism(path, {"", {"age"}}), Contains("give its path"));
  auto survey = tmp.file("survey.jsonl");
  write_text(survey, R"({"user_id": "other", "age": "18-24"})"
                     "\n");
  CHECK_THROWS_WITH(read_prism(path, {survey, {"age"}}),
                    Contains(path + ":1: field 'user_id'") && Contains("\"u\" is not in"));
  write_text(survey, R"({"user_id": "u", "location": {"reside_country": "Peru"}})"
                     "\n");
  CHECK_THROWS_WITH(read_prism(path, {survey, {"location"}}),
                    Contains(survey + ":1: field 'location'") && Contains("location.NAME"));
  CHECK_THROWS_WITH(read_prism(path, {survey, {"age"}}), Contains(survey + ":1: field 'age': missing"));
  CHECK(read_prism(path, {survey, {"location.reside_country"}}).comparisons.size() == 1);
}
