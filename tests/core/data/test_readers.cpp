#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>

#include "core/base/error.hpp"
#include "core/base/h5.hpp"
#include "core/base/text_io.hpp"
#include "core/data/readers.hpp"
#include "tests/helpers.hpp"

using namespace plural::core;
using Catch::Contains;
using plural::test::TempDir;
using plural::test::write_text;

TEST_CASE("JSONL reader accepts both schemas, soft labels, two prompts, contexts, weights and splits", "[core][data]") {
  TempDir tmp;
  auto path = tmp.file("d.jsonl");
  write_text(
      path,
      R"({"user": "u1", "prompt": "p", "chosen": "good", "rejected": "bad"})"
      "\n\n"
      R"({"user": "u1", "prompt": "p", "prompt_b": "q", "a": "x", "b": "y", "label": 0.25, "weight": 2, "margin": -0.5, "split": "val"})"
      "\n"
      R"({"user": 7, "a": "good", "b": "x", "label": 1, "context": "c", "rationale": "clearer", "split": "support"})"
      "\n");
  auto d = read_jsonl(path);
  REQUIRE(d.comparisons.size() == 3);
  REQUIRE(d.users.size() == 2);
  CHECK(d.users[0].id == "u1");
  CHECK(d.users[1].id == "7");
  CHECK(d.users[0].seen);
  CHECK_FALSE(d.users[1].seen);  // no train comparisons
  const auto& c0 = d.comparisons[0];
  CHECK(d.texts[c0.a] == "good");
  CHECK(d.texts[c0.b] == "bad");
  CHECK(c0.label == 1.f);
  CHECK(c0.prompt_a == c0.prompt_b);
  const auto& c1 = d.comparisons[1];
  CHECK(c1.label == 0.25f);
  CHECK(d.texts[c1.prompt_b] == "q");
  CHECK(c1.weight == 2.f);
  CHECK(c1.margin == -0.5f);
  CHECK(c0.margin == 0.f);
  CHECK(c1.split == Split::val);
  const auto& c2 = d.comparisons[2];
  CHECK(c2.prompt_a == -1);
  CHECK(d.texts[c2.context] == "c");
  CHECK(c2.a == c0.a);  // texts are interned by content
  CHECK(d.texts[c2.rationale] == "clearer");
  CHECK(c0.rationale == -1);
  CHECK(d.has_prompts());
  CHECK(d.has_contexts());
  CHECK(d.has_rationales());
}

TEST_CASE("JSONL reader errors name file, line and field", "[core][data][errors]") {
  TempDir tmp;
  auto path = tmp.file("bad.jsonl");
  auto expect = [&](const std::string& body, const std::string& what) {
    write_text(path, R"({"user": "u", "chosen": "a", "rejected": "b"})"
                     "\n" +
                         body + "\n");
    CHECK_THROWS_WITH(read_jsonl(path), Contains(path + ":2") && Contains(what));
  };
  SECTION("malformed JSON") { expect(R"({"user": "u", "chosen": )", "malformed JSON"); }
  SECTION("missing field") { expect(R"({"user": "u", "chosen": "a"})", "field 'rejected': missing"); }
  SECTION("no pair at all") { expect(R"({"user": "u", "prompt": "p"})", "either 'chosen' and 'rejected'"); }
  SECTION("missing user") { expect(R"({"chosen": "a", "rejected": "b"})", "field 'user': missing"); }
  SECTION("label outside [0,1]") { expect(R"({"user": "u", "a": "x", "b": "y", "label": 1.5})", "field 'label'"); }
  SECTION("label of the wrong type") {
    expect(R"({"user": "u", "a": "x", "b": "y", "label": "yes"})", "expected a number");
  }
  SECTION("negative weight") {
    expect(R"({"user": "u", "chosen": "a", "rejected": "b", "weight": -1})", "field 'weight'");
  }
  SECTION("margin of the wrong type") {
    expect(R"({"user": "u", "chosen": "a", "rejected": "b", "margin": "big"})", "field 'margin'");
  }
  SECTION("an empty rationale is none") {
    write_text(path, R"({"user": "u", "chosen": "a", "rejected": "b", "rationale": ""})"
                     "\n");
    CHECK_FALSE(read_jsonl(path).has_rationales());
  }
  SECTION("rationale of the wrong type") {
    expect(R"({"user": "u", "chosen": "a", "rejected": "b", "rationale": 2})", "field 'rationale'");
  }
  SECTION("unknown split") {
    expect(R"({"user": "u", "chosen": "a", "rejected": "b", "split": "dev2"})", "field 'split'");
  }
  SECTION("not an object") { expect(R"([1, 2])", "expected a JSON object"); }
  SECTION("text of the wrong type") { expect(R"({"user": "u", "chosen": 3, "rejected": "b"})", "field 'chosen'"); }
}

TEST_CASE("JSONL reader: empty and missing files", "[core][data][errors]") {
  TempDir tmp;
  write_text(tmp.file("empty.jsonl"), "\n");
  CHECK_THROWS_WITH(read_jsonl(tmp.file("empty.jsonl")), Contains("no comparisons"));
  CHECK_THROWS_AS(read_jsonl(tmp.file("nope.jsonl")), plural::IoError);
}

TEST_CASE("TSV reader with escapes, and its errors", "[core][data]") {
  TempDir tmp;
  auto path = tmp.file("d.tsv");
  write_text(path,
             "user\tprompt\ta\tb\tlabel\tsplit\trationale\nu1\tp\tline\\none\ttab\\there\t0.7\ttrain\tshorter\n"
             "u2\tp\tx\ty\t0\ttest\t\n");
  auto d = read_tsv(path);
  REQUIRE(d.comparisons.size() == 2);
  CHECK(d.texts[d.comparisons[0].rationale] == "shorter");
  CHECK(d.comparisons[1].rationale == -1);  // an empty cell: no rationale
  CHECK(d.texts[d.comparisons[0].a] == "line\none");
  CHECK(d.texts[d.comparisons[0].b] == "tab\there");
  CHECK(d.comparisons[0].label == Approx(0.7f));
  CHECK_FALSE(d.users[1].seen);

  write_text(path, "user\ta\tb\tlabel\nu1\tx\ty\n");
  CHECK_THROWS_WITH(read_tsv(path), Contains(path + ":2") && Contains("expected 4 columns"));
  write_text(path, "user\ta\tb\tlabel\nu1\tx\ty\tnan?\n");
  CHECK_THROWS_WITH(read_tsv(path), Contains(path + ":2") && Contains("column 'label'"));
  write_text(path, "user\ta\tb\tlabel\nu1\tx\ty\t-0.5\n");
  CHECK_THROWS_WITH(read_tsv(path), Contains("must be in [0, 1]"));
  write_text(path, "person\ta\tb\tlabel\n");
  CHECK_THROWS_WITH(read_tsv(path), Contains("no 'user' column"));
}

TEST_CASE("HDF5 layout round trip keeps every field", "[core][data]") {
  TempDir tmp;
  auto src = tmp.file("d.jsonl");
  write_text(
      src,
      R"({"user": "u1", "prompt": "p", "prompt_b": "q", "a": "x", "b": "y", "label": 0.25, "weight": 2, "context": "ctx", "margin": 1.5})"
      "\n"
      R"({"user": "ü2", "chosen": "x", "rejected": "z", "split": "test", "rationale": "z is off topic"})"
      "\n");
  auto d = read_jsonl(src);
  d.users[0].group = 3;
  write_h5(d, tmp.file("d.h5"));
  auto e = read_h5(tmp.file("d.h5"));
  REQUIRE(e.comparisons.size() == d.comparisons.size());
  REQUIRE(e.texts.all() == d.texts.all());
  REQUIRE(e.users.size() == 2);
  CHECK(e.users[1].id == "ü2");
  CHECK(e.users[0].group == 3);
  CHECK(e.users[1].seen == d.users[1].seen);
  for (size_t i = 0; i < d.comparisons.size(); ++i) {
    const auto &x = d.comparisons[i], &y = e.comparisons[i];
    CHECK(x.user == y.user);
    CHECK(x.a == y.a);
    CHECK(x.b == y.b);
    CHECK(x.prompt_a == y.prompt_a);
    CHECK(x.prompt_b == y.prompt_b);
    CHECK(x.context == y.context);
    CHECK(x.label == y.label);
    CHECK(x.weight == y.weight);
    CHECK(x.margin == y.margin);
    CHECK(x.rationale == y.rationale);
    CHECK(x.split == y.split);
  }
}

TEST_CASE("HDF5 reader refuses truncated files, foreign files and bad indices", "[core][data][errors]") {
  TempDir tmp;
  auto src = tmp.file("d.jsonl");
  write_text(src, R"({"user": "u1", "chosen": "x", "rejected": "y"})"
                  "\n");
  auto d = read_jsonl(src);
  auto good = tmp.file("d.h5");
  write_h5(d, good);

  SECTION("truncated") {
    auto size = std::filesystem::file_size(good);
    std::filesystem::copy_file(good, tmp.file("t.h5"));
    std::filesystem::resize_file(tmp.file("t.h5"), size / 2);
    CHECK_THROWS_WITH(read_h5(tmp.file("t.h5")), Contains(tmp.file("t.h5")));
  }
  SECTION("not HDF5") {
    write_text(tmp.file("x.h5"), "hello");
    CHECK_THROWS_WITH(read_h5(tmp.file("x.h5")), Contains("not a readable HDF5 file"));
  }
  SECTION("unknown text index") {
    {
      auto f = h5::open_file(good, h5::Mode::read_write);
      auto ds = h5::open_dataset(f, "comparisons/a", good);
      int32_t bad = 99;
      REQUIRE(H5Dwrite(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, &bad) >= 0);
    }
    // Changed by another program: the seal plural wrote no longer matches.
    CHECK_THROWS_WITH(read_h5(good), Contains("do not match the checksum"));
    {  // ... and with the seal cleared on purpose, the reader's own checks name the bad index
      std::fstream f(good, std::ios::in | std::ios::out | std::ios::binary);
      const std::string zeros(512, '\0');
      f.write(zeros.data(), 512);
    }
    CHECK_THROWS_WITH(read_h5(good), Contains("comparison 0, field 'a'") && Contains("unknown text index 99"));
  }
}

TEST_CASE("validate: a user with no comparisons is an error", "[core][data][errors]") {
  PreferenceData d;
  d.source = "hand-made";
  d.user_index("lonely");
  int32_t u = d.user_index("busy");
  Comparison c;
  c.user = u;
  c.a = d.texts.intern("x");
  c.b = d.texts.intern("y");
  d.comparisons.push_back(c);
  CHECK_THROWS_WITH(d.validate(), Contains("user 'lonely'") && Contains("no comparisons"));
}

TEST_CASE("invalid UTF-8 is replaced deterministically", "[core][data]") {
  std::string bad = "ok \xff\xfe end \xe2\x82";
  auto s = sanitize_utf8(bad);
  CHECK(s == "ok \xEF\xBF\xBD\xEF\xBF\xBD end \xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(sanitize_utf8("héllo ✓") == "héllo ✓");
  CHECK(sanitize_utf8("\xc0\xaf") == "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong '/'
}

TEST_CASE("PAL's label convention: y = -1 (left preferred) reads as label 1 with a = left, through HDF5 too",
          "[core][data][pal]") {
  plural::test::TempDir tmp;
  plural::test::write_text(tmp.file("pal.jsonl"),
                           "{\"user\": \"u\", \"left\": \"good\", \"right\": \"bad\", \"y\": -1}\n"
                           "{\"user\": \"u\", \"left\": \"bad\", \"right\": \"good\", \"y\": 1}\n");
  auto d = plural::core::read_jsonl(tmp.file("pal.jsonl"));
  REQUIRE(d.comparisons.size() == 2);
  CHECK(d.texts[d.comparisons[0].a] == "good");
  CHECK(d.comparisons[0].label == 1.f);
  CHECK(d.texts[d.comparisons[1].a] == "bad");
  CHECK(d.comparisons[1].label == 0.f);
  // Round trip through the HDF5 layout keeps the meaning: both rows say "good" ≻ "bad".
  plural::core::write_h5(d, tmp.file("pal.h5"));
  auto back = plural::core::read_h5(tmp.file("pal.h5"));
  for (const auto& c : back.comparisons) {
    const auto& preferred = back.texts[c.label > 0.5f ? c.a : c.b];
    CHECK(preferred == "good");
  }
  plural::test::write_text(tmp.file("bad.jsonl"), "{\"user\": \"u\", \"left\": \"a\", \"right\": \"b\", \"y\": 0}\n");
  CHECK_THROWS_WITH(plural::core::read_jsonl(tmp.file("bad.jsonl")),
                    Catch::Contains("field 'y'") && Catch::Contains("-1 (left preferred)"));
}

TEST_CASE("export: JSON Lines that read back to the same comparisons", "[core][data]") {
  TempDir tmp;
  auto in = tmp.file("in.jsonl");
  write_text(in, R"({"user": "u1", "prompt": "p", "chosen": "good", "rejected": "bad"})"
                 "\n"
                 R"({"user": "u1", "prompt": "p", "prompt_b": "q", "a": "x", "b": "y", "label": 0.1, "weight": 2.5, )"
                 R"("margin": -0.5, "split": "val", "context": "c", "rationale": "why"})"
                 "\n"
                 R"({"user": 7, "a": "good", "b": "x", "label": 0, "split": "support"})"
                 "\n");
  auto d = read_jsonl(in);
  auto out = tmp.file("out.jsonl");
  write_jsonl(d, out);
  auto back = read_jsonl(out);
  REQUIRE(back.comparisons.size() == d.comparisons.size());
  for (size_t i = 0; i < d.comparisons.size(); ++i) {
    const auto &x = d.comparisons[i], &y = back.comparisons[i];
    auto text = [](const PreferenceData& data, int32_t t) { return t >= 0 ? data.texts[t] : std::string("-"); };
    CHECK(d.users[x.user].id == back.users[y.user].id);
    CHECK(d.users[x.user].seen == back.users[y.user].seen);
    for (auto [tx, ty] : {std::pair{x.prompt_a, y.prompt_a},
                          {x.prompt_b, y.prompt_b},
                          {x.a, y.a},
                          {x.b, y.b},
                          {x.context, y.context},
                          {x.rationale, y.rationale}})
      CHECK(text(d, tx) == text(back, ty));
    CHECK(x.label == y.label);
    CHECK(x.weight == y.weight);
    CHECK(x.margin == y.margin);
    CHECK(x.split == y.split);
  }
  std::ifstream written(out);
  std::string all((std::istreambuf_iterator<char>(written)), std::istreambuf_iterator<char>());
  CHECK(all.find("\"label\":0.1,") != std::string::npos);  // 0.1, not 0.10000000149011612
  CHECK_THROWS_WITH(write_jsonl(d, tmp.file("out.jsonl.gz")), Contains("plain JSON Lines"));
}
