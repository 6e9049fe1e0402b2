#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "core/base/error.hpp"
#include "core/base/h5.hpp"
#include "core/base/npy.hpp"
#include "embeddings/encoder.hpp"
#include "tests/helpers.hpp"

using namespace plural::core;
using Catch::Contains;
using plural::test::TempDir;

TEST_CASE("hashed encoder: deterministic, unit norm, overlapping texts closer than unrelated ones", "[core][encoder]") {
  auto enc = make_encoder("hashed:dim=256");
  CHECK(enc->dim() == 256);
  CHECK(enc->id() == "hashed-ngram-v1:dim=256,w12,c3");
  std::vector<std::string> t = {"I believe in gun rights", "I strongly believe in gun rights", "The sky is blue today",
                                ""};
  auto a = enc->encode(t), b = enc->encode(t);
  CHECK(torch::equal(a, b));
  auto norms = a.norm(2, 1);
  CHECK(norms[0].item<float>() == Approx(1.f).margin(1e-5));
  CHECK(norms[3].item<float>() == 0.f);  // the empty text is the zero vector, not NaN
  double close = torch::dot(a[0], a[1]).item<double>(), far = torch::dot(a[0], a[2]).item<double>();
  CHECK(close > 0.6);
  CHECK(far < 0.2);
}

TEST_CASE("encoder specs: unknown names and options are errors", "[core][encoder][errors]") {
  CHECK_THROWS_WITH(make_encoder("bert"), Contains("unknown encoder 'bert'") && Contains("hashed"));
  CHECK_THROWS_WITH(make_encoder("hashed:dimm=3"), Contains("unknown option 'dimm'"));
  CHECK_THROWS_WITH(make_encoder("hashed:dim=abc"), Contains("must be an integer"));
  CHECK_THROWS_WITH(make_encoder("hashed:dim"), Contains("not key=value"));
  CHECK_THROWS_AS(make_encoder("hashed:dim=2"), plural::ValueError);
}

TEST_CASE("precomputed encoder imports .npy + texts and .h5 with a texts dataset", "[core][encoder]") {
  TempDir tmp;
  auto feats = torch::randn({3, 5});
  write_npy(tmp.file("f.npy"), feats.data_ptr<float>(), 3, 5);
  plural::test::write_text(tmp.file("t.txt"), "first\nsecond line\\nwith break\nthird\n");
  auto enc = make_encoder("precomputed:features=" + tmp.file("f.npy") + ",texts=" + tmp.file("t.txt") + ",name=llm");
  CHECK(enc->dim() == 5);
  CHECK(enc->id().rfind("precomputed:llm:", 0) == 0);
  auto got = enc->encode({"third", "second line\nwith break"});
  CHECK(torch::equal(got, torch::stack({feats[2], feats[1]})));
  CHECK_THROWS_WITH(enc->encode({"fourth"}), Contains("no features for text \"fourth\""));

  // Same numbers from HDF5 give the same id; other numbers a different one.
  {
    auto f = h5::open_file(tmp.file("f.h5"), h5::Mode::create);
    hsize_t dims[2] = {3, 5};
    h5::Handle space(H5Screate_simple(2, dims, nullptr));
    h5::Handle ds(H5Dcreate2(f, "emb", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, feats.data_ptr<float>());
    h5::write_strings(f, "texts", {"first", "second line\nwith break", "third"});
  }
  auto enc2 = make_encoder("precomputed:features=" + tmp.file("f.h5") + ",dataset=emb,name=llm");
  CHECK(enc2->id() == enc->id());
  auto other = torch::randn({3, 5});
  write_npy(tmp.file("g.npy"), other.data_ptr<float>(), 3, 5);
  CHECK(make_encoder("precomputed:features=" + tmp.file("g.npy") + ",texts=" + tmp.file("t.txt") + ",name=llm")->id() !=
        enc->id());
}

TEST_CASE("precomputed encoder errors: row count, NaN, duplicate texts, truncated npy", "[core][encoder][errors]") {
  TempDir tmp;
  auto feats = torch::randn({3, 4});
  write_npy(tmp.file("f.npy"), feats.data_ptr<float>(), 3, 4);
  plural::test::write_text(tmp.file("two.txt"), "a\nb\n");
  CHECK_THROWS_WITH(make_encoder("precomputed:features=" + tmp.file("f.npy") + ",texts=" + tmp.file("two.txt")),
                    Contains("3 feature rows but 2 texts"));
  plural::test::write_text(tmp.file("dup.txt"), "a\nb\na\n");
  CHECK_THROWS_WITH(make_encoder("precomputed:features=" + tmp.file("f.npy") + ",texts=" + tmp.file("dup.txt")),
                    Contains("row 2 repeats row 0"));
  feats[1][1] = std::numeric_limits<float>::infinity();
  write_npy(tmp.file("inf.npy"), feats.data_ptr<float>(), 3, 4);
  plural::test::write_text(tmp.file("t.txt"), "a\nb\nc\n");
  CHECK_THROWS_WITH(make_encoder("precomputed:features=" + tmp.file("inf.npy") + ",texts=" + tmp.file("t.txt")),
                    Contains("row 1") && Contains("NaN or Inf"));
  auto size = std::filesystem::file_size(tmp.file("f.npy"));
  std::filesystem::resize_file(tmp.file("f.npy"), size - 8);
  CHECK_THROWS_WITH(read_npy(tmp.file("f.npy")), Contains("truncated"));
  CHECK_THROWS_WITH(make_encoder("precomputed:texts=x"), Contains("needs features=PATH"));
}
