// The RLHF ecosystem's pairwise formats: HH-RLHF conversations as strings, TRL's standard, conversational and
// implicit-prompt formats, UltraFeedback-binarized; bad records name the file, line and field.
#include <catch2/catch.hpp>

#include "core/base/error.hpp"
#include "core/data/chat_pairs.hpp"
#include "tests/helpers.hpp"

using namespace plural::core;
using Catch::Contains;
using plural::test::TempDir;
using plural::test::write_text;

namespace {
// (prompt, chosen, rejected, user) of comparison i.
std::vector<std::string> pair_of(const PreferenceData& d, size_t i) {
  const auto& c = d.comparisons[i];
  return {c.prompt_a >= 0 ? d.texts[c.prompt_a] : "<none>", d.texts[c.a], d.texts[c.b], d.users[c.user].id};
}
}  // namespace

TEST_CASE("RLHF formats: each is read as prompt, chosen response and rejected response", "[core][data]") {
  TempDir tmp;
  auto path = tmp.file("mixed.jsonl");
  write_text(
      path,
      // HH-RLHF: whole conversations; the prompt is the shared part up to the last assistant turn.
      R"({"chosen": "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Name a fruit\n\nAssistant: An apple.", )"
      R"("rejected": "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Name a fruit\n\nAssistant: A car."})"
      "\n"
      // TRL standard (explicit prompt, strings).
      R"({"prompt": "Sky colour?", "chosen": "Blue.", "rejected": "Green.", "user": "ann"})"
      "\n"
      // TRL conversational with an explicit prompt.
      R"({"prompt": [{"role": "user", "content": "2+2?"}], "chosen": [{"role": "assistant", "content": "4"}], )"
      R"("rejected": [{"role": "assistant", "content": "5"}]})"
      "\n"
      // TRL implicit prompt: the shared messages.
      R"({"chosen": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}], )"
      R"("rejected": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Go away"}]})"
      "\n"
      // UltraFeedback-binarized: a prompt string and whole message lists.
      R"({"prompt": "Translate 'chat'", "prompt_id": "x1", "score_chosen": 8.0, "score_rejected": 3.0, )"
      R"("chosen": [{"role": "user", "content": "Translate 'chat'"}, {"role": "assistant", "content": "cat"}], )"
      R"("rejected": [{"role": "user", "content": "Translate 'chat'"}, {"role": "assistant", "content": "dog"}]})"
      "\n"
      // A dialogue as the implicit prompt.
      R"({"chosen": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hi"}, )"
      R"({"role": "assistant", "content": "Hi!"}], "rejected": [{"role": "system", "content": "Be brief"}, )"
      R"({"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there, how are you today?"}]})"
      "\n");
  auto d = read_chat_pairs(path, {"crowd", ""});
  REQUIRE(d.comparisons.size() == 6);
  using V = std::vector<std::string>;
  CHECK(pair_of(d, 0) == V{"Human: Hi\n\nAssistant: Hello!\n\nHuman: Name a fruit", "An apple.", "A car.", "crowd"});
  CHECK(pair_of(d, 1) == V{"Sky colour?", "Blue.", "Green.", "crowd"});  // --user wins over the record's field
  CHECK(pair_of(d, 2) == V{"2+2?", "4", "5", "crowd"});
  CHECK(pair_of(d, 3) == V{"Hi", "Hello", "Go away", "crowd"});
  CHECK(pair_of(d, 4) == V{"Translate 'chat'", "cat", "dog", "crowd"});
  CHECK(pair_of(d, 5) == V{"system: Be brief\nuser: Hi", "Hi!", "Hello there, how are you today?", "crowd"});
  for (const auto& c : d.comparisons) CHECK(c.label == 1.f);

  SECTION("the user from a field of each record") {
    auto users = tmp.file("users.jsonl");
    write_text(users, R"({"prompt": "p", "chosen": "a", "rejected": "b", "annotator": 17})"
                      "\n"
                      R"({"prompt": "p", "chosen": "a", "rejected": "c", "annotator": "bo"})"
                      "\n");
    auto u = read_chat_pairs(users, {"", "annotator"});
    CHECK(pair_of(u, 0)[3] == "17");
    CHECK(pair_of(u, 1)[3] == "bo");
  }
}

TEST_CASE("RLHF formats: bad records name the file, line and field", "[core][data]") {
  TempDir tmp;
  auto bad = [&](const std::string& record, const std::string& words, ChatPairsOptions o = {"u", ""}) {
    auto path = tmp.file("bad.jsonl");
    write_text(path, R"({"prompt": "p", "chosen": "a", "rejected": "b", "user": "x"})"
                     "\n" +
                         record + "\n");
    CHECK_THROWS_WITH(read_chat_pairs(path, o), Contains("bad.jsonl:2") && Contains(words));
  };
  bad(R"({"prompt": "p", "chosen": "a", "rejected": "b"})", "no 'user' field: give --user NAME", {"", ""});
  bad(R"({"chosen": "a"})", "field 'rejected': missing");
  bad(R"({"chosen": "same", "rejected": "same"})", "the same response as chosen");
  bad(R"({"chosen": [{"role": "user", "content": "q"}], "rejected": [{"role": "assistant", "content": "x"}]})",
      "field 'chosen[0].role': the last message must be the assistant's");
  bad(R"({"chosen": [{"role": "assistant"}], "rejected": [{"role": "assistant", "content": "x"}]})",
      "field 'chosen[0].content': missing");
  bad(R"({"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "x"}], )"
      R"("rejected": [{"role": "user", "content": "other"}, {"role": "assistant", "content": "y"}]})",
      "must share every message but their last");
  bad(R"({"chosen": [], "rejected": []})", "field 'chosen': expected a non-empty list");
  bad(R"({"prompt": 3, "chosen": "a", "rejected": "b"})", "field 'prompt': expected a string");
  bad(R"({"chosen": "\n\nHuman: q\n\nAssistant: ", "rejected": "\n\nHuman: q\n\nAssistant: no"})",
      "the chosen response is empty");
  bad("[1, 2]", "expected a JSON object");
  bad(R"({"chosen": "same", "rejected": "same"})", "--skip-unusable leaves such records out");
}

TEST_CASE("RLHF formats: skip_unusable leaves out equal or empty responses and lists them", "[core][data]") {
  TempDir tmp;
  auto path = tmp.file("hh.jsonl");
  write_text(path, R"({"prompt": "p", "chosen": "a", "rejected": "b"})"
                   "\n"
                   R"({"prompt": "p", "chosen": "same", "rejected": "same"})"
                   "\n"
                   R"({"chosen": "\n\nHuman: q\n\nAssistant: ", "rejected": "\n\nHuman: q\n\nAssistant: no"})"
                   "\n"
                   R"({"prompt": "p", "chosen": "c", "rejected": "d"})"
                   "\n");
  std::vector<std::string> skipped;
  auto d = read_chat_pairs(path, {"u", "", true}, &skipped);
  CHECK(d.comparisons.size() == 2);
  REQUIRE(skipped.size() == 2);
  CHECK_THAT(skipped[0], Contains("hh.jsonl:2: the same response as chosen"));
  CHECK_THAT(skipped[1], Contains("hh.jsonl:3: the chosen response is empty"));
  CHECK_THROWS_WITH(read_chat_pairs(path, {"u", "", false}), Contains("hh.jsonl:2"));
}
