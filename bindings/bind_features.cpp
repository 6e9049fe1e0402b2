// Frozen features: encoders, the HDF5 feature cache, and DatasetView (data joined with its features).
#include <pybind11/stl.h>

#include "bindings/bindings.hpp"
#include "core/base/error.hpp"
#include "core/dataset_view.hpp"
#include "embeddings/encode.hpp"
#include "embeddings/encoder.hpp"
#include "embeddings/feature_cache.hpp"

namespace plural::bindings {

using namespace plural::core;

namespace {

torch::Tensor checked_features(const torch::Tensor& f, const char* fn) {
  PLURAL_CHECK(f.defined() && f.dim() == 2, fn, ": features must be a 2-D tensor [rows, dim], got ",
               f.defined() ? f.dim() : 0, "-D");
  PLURAL_CHECK(f.is_floating_point(), fn, ": features must be floating point, got ", f.dtype());
  return f.to(torch::kFloat32).contiguous();
}

}  // namespace

void bind_features(py::module_& m) {
  py::enum_<Storage>(m, "Storage").value("float32", Storage::float32).value("float16", Storage::float16);

  py::class_<Encoder>(m, "Encoder", "Text -> frozen feature vector; id() keys the feature cache")
      .def_property_readonly("id", &Encoder::id)
      .def_property_readonly("dim", &Encoder::dim)
      .def_property_readonly("batch_size", &Encoder::batch_size)
      .def("encode", &Encoder::encode, py::arg("texts"), py::call_guard<py::gil_scoped_release>(),
           "float32 [n, dim] features of the texts")
      .def("__repr__", [](const Encoder& e) { return "<Encoder " + e.id() + ">"; });
  m.def("make_encoder", &make_encoder, py::arg("spec"),
        "An encoder from a spec: 'minilm', 'hashed:dim=512', 'precomputed:features=x.npy,texts=t.txt', ...");
  m.def("encoder_names", &encoder_names);
  m.def("encoder_spec_for", &encoder_spec_for, py::arg("encoder_id"),
        "The spec that rebuilds the encoder behind a feature id ('' when the id alone cannot say)");

  // Shared: a Personalizer built in Python reads through the same open cache as the FeatureStore that holds it.
  py::class_<FeatureCache, std::shared_ptr<FeatureCache>>(
      m, "FeatureCache",
      "One HDF5 file of frozen-encoder features, content-addressed per (encoder, text); every "
      "write is an atomic transaction")
      .def(py::init<std::string>(), py::arg("path"))
      .def_property_readonly("path", &FeatureCache::path)
      .def("encoders", &FeatureCache::encoders)
      .def("has_encoder", &FeatureCache::has_encoder, py::arg("encoder_id"))
      .def("dim", &FeatureCache::dim, py::arg("encoder_id"))
      .def("rows", &FeatureCache::rows, py::arg("encoder_id"))
      .def("storage", &FeatureCache::storage, py::arg("encoder_id"))
      .def("contains", &FeatureCache::contains, py::arg("encoder_id"), py::arg("texts"))
      .def("lookup", &FeatureCache::lookup, py::arg("encoder_id"), py::arg("texts"),
           py::call_guard<py::gil_scoped_release>(), "float32 [n, dim]; a missing text is a ValueError naming it")
      .def(
          "add",
          [](FeatureCache& c, const std::string& encoder_id, const std::vector<std::string>& texts,
             const py::object& features, Storage storage) {
            auto f = checked_features(tensor_arg(features, "FeatureCache.add", "features"), "FeatureCache.add");
            py::gil_scoped_release release;
            auto w = c.writer(encoder_id, f.size(1), storage);
            int64_t added = w.append(texts, f);
            w.commit();
            return added;
          },
          py::arg("encoder_id"), py::arg("texts"), py::arg("features"), py::arg("storage") = Storage::float32,
          "Adds features computed elsewhere (e.g. an LLM's hidden states) in one transaction; returns new rows")
      .def("refresh", &FeatureCache::refresh)
      .def("__repr__", [](const FeatureCache& c) { return "<FeatureCache " + c.path() + ">"; });

  m.def(
      "encode_into_cache",
      [](FeatureCache& cache, Encoder& encoder, const std::vector<std::string>& texts, int64_t commit_every,
         Storage storage, bool progress) {
        EncodeOptions o;
        o.commit_every = commit_every;
        o.storage = storage;
        o.progress = progress;
        EncodeStats s;
        {
          py::gil_scoped_release release;
          s = encode_into_cache(cache, encoder, texts, o);
        }
        py::dict d;
        d["texts"] = s.texts;
        d["cached"] = s.cached;
        d["encoded"] = s.encoded;
        d["seconds"] = s.seconds;
        return d;
      },
      py::arg("cache"), py::arg("encoder"), py::arg("texts"), py::arg("commit_every") = 20000,
      py::arg("storage") = Storage::float32, py::arg("progress") = false,
      "Encodes the texts the cache lacks and commits them; returns counts and seconds");
  m.def(
      "dataset_features",
      [](FeatureCache& cache, const std::string& encoder_id, const PreferenceData& data, Encoder* encoder) {
        EncodeOptions o;
        o.progress = false;
        py::gil_scoped_release release;
        return dataset_features(cache, encoder_id, data, encoder, o);
      },
      py::arg("cache"), py::arg("encoder_id"), py::arg("data"), py::arg("encoder") = nullptr,
      "Features [texts, D] of every text of `data` (missing ones encoded first when `encoder` is given)");

  py::class_<DatasetView>(m, "DatasetView", "Preference data joined with its text features, cut into PairBatches")
      .def(py::init([](const PreferenceData& data, const py::object& features) {
             auto f = checked_features(tensor_arg(features, "DatasetView", "features"), "DatasetView");
             PLURAL_CHECK(f.size(0) == static_cast<int64_t>(data.texts.size()), "DatasetView: features have ",
                          f.size(0), " rows but the data has ", data.texts.size(), " texts (one row per text)");
             return std::make_unique<DatasetView>(data, f);
           }),
           py::arg("data"), py::arg("features"), py::keep_alive<1, 2>())
      .def("dims", &DatasetView::dims)
      .def("bind", &DatasetView::bind, py::arg("model"))
      .def(
          "batch",
          [](const DatasetView& v, const torch::Tensor& rows) {
            const int64_t n = static_cast<int64_t>(v.data().comparisons.size());
            PLURAL_CHECK(rows.dim() == 1 && !rows.is_floating_point(),
                         "DatasetView.batch: rows must be a 1-D integer "
                         "tensor of comparison indices");
            auto r = rows.to(torch::kInt64);
            PLURAL_CHECK(r.numel() == 0 || (r.min().item<int64_t>() >= 0 && r.max().item<int64_t>() < n),
                         "DatasetView.batch: rows must be in [0, ", n, ")");
            return v.batch(r);
          },
          py::arg("rows"), "The PairBatch of comparison rows")
      .def(
          "batch",
          [](const DatasetView& v, const std::vector<int64_t>& rows) {
            const int64_t n = static_cast<int64_t>(v.data().comparisons.size());
            for (auto r : rows) PLURAL_CHECK(r >= 0 && r < n, "DatasetView.batch: row ", r, " is not in [0, ", n, ")");
            return v.batch(torch::tensor(rows, torch::kInt64));
          },
          py::arg("rows"))
      .def(
          "rows",
          [](const DatasetView& v, Split split, bool seen) {
            auto r = v.rows(split, seen);
            return torch::tensor(std::vector<int64_t>(r.begin(), r.end()), torch::kInt64);
          },
          py::arg("split"), py::arg("seen_users"), "Comparison rows (int64 tensor) of one split")
      .def_property_readonly("data", &DatasetView::data, py::return_value_policy::reference_internal)
      .def_property_readonly("features", &DatasetView::features)
      .def_property_readonly("has_prompts", &DatasetView::has_prompts)
      .def_property_readonly("has_contexts", &DatasetView::has_contexts)
      .def_property_readonly("has_rationales", &DatasetView::has_rationales)
      .def(
          "set_graded_variants",
          [](DatasetView& v, const GradedVariants& g) { v.set_graded_variants(std::make_shared<GradedVariants>(g)); },
          py::arg("variants"), "Graded variants (read_graded_variants on this view's data) for SPO's degree loss");
  py::class_<GradedVariants>(m, "GradedVariants", "Graded variants of a dataset's texts (SPO's degree loss)")
      .def_readonly("levels", &GradedVariants::levels, "K: degrees 0 .. K-1 (0 = the original)")
      .def_readonly("variants", &GradedVariants::variants, "rows read")
      .def_readonly("unmatched_rows", &GradedVariants::unmatched_rows, "rows whose original is not in the data")
      .def_property_readonly("originals", [](const GradedVariants& g) { return g.of.size(); });
  m.def("read_graded_variants", &read_graded_variants, py::arg("path"), py::arg("data"),
        "Reads JSONL {text, variant, degree} and adds the variants to data's texts (before building a view)");
}

}  // namespace plural::bindings
