// Preference data: the data model, its readers and writers, and the bundled generators (Persona-K, UKP).
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>

#include "bindings/bindings.hpp"
#include "core/base/error.hpp"
#include "core/data/chat_pairs.hpp"
#include "core/data/data.hpp"
#include "core/data/persona_k.hpp"
#include "core/data/prism.hpp"
#include "core/data/read_records.hpp"
#include "core/data/readers.hpp"
#include "core/data/subsets.hpp"
#include "core/data/ukp.hpp"
#include "core/diagnostics/attribution.hpp"

namespace plural::bindings {

using namespace plural::core;
using namespace pybind11::literals;

namespace {

template <typename T, typename F>
py::array_t<T> column(const PreferenceData& d, F get) {
  py::array_t<T> out(static_cast<py::ssize_t>(d.comparisons.size()));
  auto v = out.template mutable_unchecked<1>();
  for (size_t i = 0; i < d.comparisons.size(); ++i) v(static_cast<py::ssize_t>(i)) = get(d.comparisons[i]);
  return out;
}

py::dict columns(const PreferenceData& d) {
  py::dict c;
  c["user"] = column<int32_t>(d, [](const Comparison& x) { return x.user; });
  c["prompt_a"] = column<int32_t>(d, [](const Comparison& x) { return x.prompt_a; });
  c["prompt_b"] = column<int32_t>(d, [](const Comparison& x) { return x.prompt_b; });
  c["a"] = column<int32_t>(d, [](const Comparison& x) { return x.a; });
  c["b"] = column<int32_t>(d, [](const Comparison& x) { return x.b; });
  c["label"] = column<float>(d, [](const Comparison& x) { return x.label; });
  c["context"] = column<int32_t>(d, [](const Comparison& x) { return x.context; });
  c["weight"] = column<float>(d, [](const Comparison& x) { return x.weight; });
  c["margin"] = column<float>(d, [](const Comparison& x) { return x.margin; });
  c["rationale"] = column<int32_t>(d, [](const Comparison& x) { return x.rationale; });
  c["split"] = column<uint8_t>(d, [](const Comparison& x) { return static_cast<uint8_t>(x.split); });
  return c;
}

py::dict effects_dict(const std::vector<std::string>& names, const AttributionFit& f) {
  py::dict d;
  for (size_t k = 0; k < names.size(); ++k) {
    const auto& e = f.effects[k];
    d[py::str(names[k])] =
        py::dict("mean"_a = e.mean, "sd"_a = e.sd, "lo"_a = e.lo, "hi"_a = e.hi, "p_positive"_a = e.p_positive);
  }
  return d;
}

// properties: {name: values per text of `data` (NaN: unknown)}; log_length is added unless include_length=False.
py::dict attribute(const PreferenceData& data, const py::dict& properties, bool include_length, double prior_sd,
                   int min_pairs, double level) {
  ItemProperties props;
  if (include_length)
    props = length_property(data);
  else
    props.values.assign(data.texts.size(), {});
  for (const auto& [key, value] : properties) {
    const auto name = py::cast<std::string>(key);
    PLURAL_CHECK(std::find(props.names.begin(), props.names.end(), name) == props.names.end(),
                 "attribute_preferences: property '", name, "' given twice");
    auto v = py::cast<std::vector<double>>(value);
    PLURAL_CHECK(v.size() == data.texts.size(), "attribute_preferences: property '", name, "' has ", v.size(),
                 " values, the data has ", data.texts.size(), " texts");
    props.names.push_back(name);
    for (size_t t = 0; t < v.size(); ++t) props.values[t].push_back(v[t]);
  }
  AttributionConfig config;
  config.prior_sd = prior_sd, config.min_pairs = min_pairs, config.level = level;
  Attribution a;
  {
    py::gil_scoped_release nogil;
    a = attribute_preferences(data, props, config);
  }
  py::dict users;
  for (const auto& u : a.users) {
    users[py::str(u.user)] = py::dict("pairs"_a = u.pairs, "effects"_a = effects_dict(a.properties, u));
  }
  return py::dict("properties"_a = a.properties, "scale"_a = a.scale, "usable"_a = a.usable, "left_out"_a = a.missing,
                  "population"_a = effects_dict(a.properties, a.population), "users"_a = users,
                  "user_average"_a = a.user_average, "user_spread"_a = a.user_spread,
                  "users_positive"_a = a.users_positive, "users_negative"_a = a.users_negative,
                  "warnings"_a = a.warnings);
}

py::array_t<int64_t> as_array(const std::vector<size_t>& rows) {
  py::array_t<int64_t> out(static_cast<py::ssize_t>(rows.size()));
  auto v = out.mutable_unchecked<1>();
  for (size_t i = 0; i < rows.size(); ++i) v(static_cast<py::ssize_t>(i)) = static_cast<int64_t>(rows[i]);
  return out;
}

// One cell of a column as JSON (null = absent, as in JSONL); `row` is 1-based.
nlohmann::json cell_json(const py::handle& v, const std::string& source, size_t row, const std::string& column) {
  auto where = [&] { return detail::cat(source, ":", row, ": field '", column, "'"); };
  if (v.is_none()) return nullptr;
  if (py::isinstance<py::bool_>(v)) return v.cast<bool>();
  if (py::isinstance<py::int_>(v)) {
    try {
      return v.cast<int64_t>();
    } catch (const py::cast_error&) {
      throw ValueError(detail::cat(where(), ": ", py::str(v).cast<std::string>(), " does not fit 64 bits"));
    }
  }
  if (py::isinstance<py::float_>(v)) {
    const double d = v.cast<double>();
    PLURAL_CHECK(std::isfinite(d), where(), ": ", d,
                 std::isnan(d) ? " (a missing value): fill it or drop the row" : " is not a finite number");
    return d;
  }
  if (py::isinstance<py::str>(v)) return v.cast<std::string>();
  if (py::isinstance<py::list>(v) || py::isinstance<py::tuple>(v)) {  // chat messages
    auto out = nlohmann::json::array();
    for (const auto& item : v) out.push_back(cell_json(item, source, row, column));
    return out;
  }
  if (py::isinstance<py::dict>(v)) {
    auto out = nlohmann::json::object();
    for (const auto& [key, item] : v.cast<py::dict>()) {
      PLURAL_CHECK(py::isinstance<py::str>(key), where(), ": keys of a nested record must be strings");
      out[key.cast<std::string>()] = cell_json(item, source, row, column + "." + key.cast<std::string>());
    }
    return out;
  }
  if (py::hasattr(v, "item") && py::hasattr(v, "dtype")) return cell_json(v.attr("item")(), source, row, column);
  throw ValueError(
      detail::cat(where(), ": unsupported value of type ", py::type::of(v).attr("__name__").cast<std::string>()));
}

// Records column by column (a DataFrame's or a datasets.Dataset's columns as sequences), without JSON text.
PreferenceData data_from_columns(const py::dict& columns, const std::string& source, bool unlabelled) {
  std::vector<nlohmann::json> records;
  bool first = true;
  for (const auto& [key, values] : columns) {
    PLURAL_CHECK(py::isinstance<py::str>(key), source, ": column names must be strings, got ",
                 py::repr(key).cast<std::string>());
    const std::string column = key.cast<std::string>();
    const py::sequence cells = py::reinterpret_borrow<py::sequence>(values);
    if (first) records.assign(cells.size(), nlohmann::json::object());
    PLURAL_CHECK(cells.size() == records.size(), source, ": column '", column, "' has ", cells.size(),
                 " rows, the first column ", records.size());
    first = false;
    for (size_t i = 0; i < records.size(); ++i) {
      auto cell = cell_json(cells[i], source, i + 1, column);
      if (!cell.is_null()) records[i][column] = std::move(cell);
    }
  }
  return parse_json_objects(records, source, unlabelled);  // which refuses no rows, as the file readers do
}
}  // namespace

void bind_data(py::module_& m) {
  py::enum_<Split>(m, "Split", "Which part of the protocol a comparison belongs to")
      .value("train", Split::train)
      .value("val", Split::val)
      .value("test", Split::test)
      .value("support", Split::support);

  py::class_<PreferenceData>(m, "PreferenceData",
                             "Users, interned texts and pairwise comparisons (label = P(a preferred to b))")
      .def_static("from_json_records", &parse_jsonl_records, py::arg("records"), py::arg("source") = "<records>",
                  py::arg("unlabelled") = false,
                  "Comparisons from JSON object strings with the JSONL schema (docs/data_format.md)")
      .def_static("from_columns", &data_from_columns, py::arg("columns"), py::arg("source") = "<columns>",
                  py::arg("unlabelled") = false,
                  "Comparisons from {field: sequence} columns of equal length with the JSONL schema's fields; row i "
                  "is record i + 1 in errors. None is an absent field; NaN is an error naming its row and column")
      .def("__len__", [](const PreferenceData& d) { return d.comparisons.size(); })
      .def_readonly("source", &PreferenceData::source)
      .def_property_readonly("user_ids",
                             [](const PreferenceData& d) {
                               std::vector<std::string> ids;
                               for (const auto& u : d.users) ids.push_back(u.id);
                               return ids;
                             })
      .def_property_readonly("user_seen",
                             [](const PreferenceData& d) {
                               std::vector<bool> s;
                               for (const auto& u : d.users) s.push_back(u.seen);
                               return s;
                             })
      .def_property_readonly(
          "user_groups",
          [](const PreferenceData& d) {
            std::vector<int32_t> g;
            for (const auto& u : d.users) g.push_back(u.group);
            return g;
          },
          "ground-truth cluster per user (-1 when unknown)")
      .def_property_readonly("texts", [](const PreferenceData& d) { return d.texts.all(); })
      .def("columns", &columns,
           "The comparisons as numpy columns: user, prompt_a, prompt_b, a, b (text indices), "
           "label, context, weight, margin, rationale (text index, -1 = none), split")
      .def(
          "rows", [](const PreferenceData& d, Split split, bool seen) { return as_array(d.select(split, seen)); },
          py::arg("split"), py::arg("seen_users"))
      .def(
          "rows",
          [](const PreferenceData& d, const std::string& split, bool seen) {
            return as_array(d.select(parse_split(split, "rows"), seen));
          },
          py::arg("split"), py::arg("seen_users"), "Comparison rows of one split for seen or unseen users")
      .def("find_user", &PreferenceData::find_user, py::arg("user_id"), "user index, -1 when absent")
      .def(
          "find_text", [](const PreferenceData& d, const std::string& t) { return d.texts.find(t); }, py::arg("text"),
          "text index, -1 when absent")
      .def_property_readonly("has_prompts", &PreferenceData::has_prompts)
      .def_property_readonly("has_contexts", &PreferenceData::has_contexts)
      .def_property_readonly("has_rationales", &PreferenceData::has_rationales)
      .def("validate", &PreferenceData::validate)
      .def("summary", &PreferenceData::summary)
      .def(
          "write_h5", [](const PreferenceData& d, const std::string& path) { write_h5(d, path); }, py::arg("path"))
      .def("__repr__", [](const PreferenceData& d) {
        return "<PreferenceData " + std::to_string(d.comparisons.size()) + " comparisons, " +
               std::to_string(d.users.size()) + " users, " + std::to_string(d.texts.size()) + " texts from " +
               d.source + ">";
      });

  m.def("attribute_preferences", &attribute, py::arg("data"), py::arg("properties") = py::dict(),
        py::arg("include_length") = true, py::arg("prior_sd") = 1.0, py::arg("min_pairs") = 10, py::arg("level") = 0.95,
        "Which item properties explain each user's choices: Bayesian logistic regression of the labels on "
        "standardized property differences, per user and pooled (docs/doctor.md). properties: {name: one value per "
        "text, NaN where unknown}");
  m.def("read_preferences", &read_preferences, py::arg("path"),
        "Reads .jsonl[.gz], .tsv[.gz] or .h5 preference data; errors name the file, row and field");
  m.def("read_jsonl", py::overload_cast<const std::string&>(&read_jsonl), py::arg("path"));
  m.def(
      "read_rlhf",
      [](const std::string& path, const std::string& user, const std::string& user_field, bool skip_unusable) {
        std::vector<std::string> skipped;
        auto data = read_chat_pairs(path, {user, user_field, skip_unusable}, &skipped);
        return std::make_pair(std::move(data), std::move(skipped));
      },
      py::arg("path"), py::arg("user") = "", py::arg("user_field") = "", py::arg("skip_unusable") = false,
      "HH-RLHF, UltraFeedback-binarized and TRL preference files (docs/data_format.md, 'RLHF formats') -> (data, "
      "skipped records); `user` names the user of every comparison, `user_field` the record field holding it");
  m.def(
      "read_prism",
      [](const std::string& path, const std::string& survey, const std::vector<std::string>& context_fields,
         bool history, bool keep_ties) {
        PrismCounts n;
        auto data = read_prism(path, {survey, context_fields, history, keep_ties}, &n);
        py::dict counts;
        counts["conversations"] = n.conversations;
        counts["turns"] = n.turns;
        counts["pairs"] = n.pairs;
        counts["ties"] = n.ties;
        counts["single_response_turns"] = n.single_response_turns;
        return py::make_tuple(std::move(data), counts);
      },
      py::arg("path"), py::arg("survey") = "", py::arg("context_fields") = std::vector<std::string>{},
      py::arg("history") = false, py::arg("keep_ties") = false,
      "PRISM's conversations.jsonl -> (data, counts): responses rated in the same turn as that participant's "
      "comparisons; context_fields from survey.jsonl become each comparison's context");
  m.def("write_jsonl", &write_jsonl, py::arg("data"), py::arg("path"), py::call_guard<py::gil_scoped_release>(),
        "Writes the data as JSON Lines (one comparison per line, atomically), as `plural export` does");
  m.def("read_candidates", &read_candidates, py::arg("path"), "A pool of candidate pairs (JSONL, labels optional)");
  m.def("read_tsv", &read_tsv, py::arg("path"));
  m.def("read_h5", &read_h5, py::arg("path"));
  m.def("has_validation", &has_validation, py::arg("data"), "True when some seen user has val comparisons");
  m.def(
      "with_validation",
      [](const PreferenceData& data, uint64_t seed, double fraction, int64_t min_train) {
        PLURAL_CHECK(fraction > 0 && fraction < 1, "with_validation: fraction must be in (0, 1), got ", fraction);
        PLURAL_CHECK(min_train >= 2, "with_validation: min_train must be >= 2, got ", min_train);
        PreferenceData out = data;
        int64_t carved = carve_validation(out, seed, fraction, min_train);
        return py::make_tuple(std::move(out), carved);
      },
      py::arg("data"), py::arg("seed") = 0, py::arg("fraction") = 0.1, py::arg("min_train") = 5,
      "(a copy of data, n): without val comparisons, about `fraction` of each seen user's train pairs (none from "
      "users with fewer than min_train) become val, drawn with seed; n = how many (0: data had a val split)");
  m.def("write_h5", &write_h5, py::arg("data"), py::arg("path"), "Atomic: a failed write leaves the old file");

  py::class_<PersonaKConfig>(m, "PersonaKConfig", "Synthetic pluralistic users over persona statements")
      .def(py::init<>())
      .def_readwrite("statements_path", &PersonaKConfig::statements_path)
      .def_readwrite("behaviors", &PersonaKConfig::behaviors)
      .def_readwrite("behavior_names", &PersonaKConfig::behavior_names)
      .def_readwrite("prototypes", &PersonaKConfig::prototypes)
      .def_readwrite("alpha", &PersonaKConfig::alpha)
      .def_readwrite("statements_per_behavior", &PersonaKConfig::statements_per_behavior)
      .def_readwrite("val_fraction", &PersonaKConfig::val_fraction)
      .def_readwrite("test_fraction", &PersonaKConfig::test_fraction)
      .def_readwrite("seen_users", &PersonaKConfig::seen_users)
      .def_readwrite("unseen_users", &PersonaKConfig::unseen_users)
      .def_readwrite("train_pairs", &PersonaKConfig::train_pairs)
      .def_readwrite("val_pairs", &PersonaKConfig::val_pairs)
      .def_readwrite("test_pairs", &PersonaKConfig::test_pairs)
      .def_readwrite("support_pairs", &PersonaKConfig::support_pairs)
      .def_readwrite("noise_temperature", &PersonaKConfig::noise_temperature)
      .def_readwrite("soft_labels", &PersonaKConfig::soft_labels)
      .def_readwrite("prompt", &PersonaKConfig::prompt)
      .def_readwrite("contexts", &PersonaKConfig::contexts,
                     "Persona-C: each comparison carries its prototype's context")
      .def_readwrite("held_out_contexts", &PersonaKConfig::held_out_contexts,
                     "Persona-C: the last this-many prototypes have no seen users")
      .def_readwrite("rationales", &PersonaKConfig::rationales,
                     "every comparison carries a rationale naming both statements' behaviour and stance")
      .def_readwrite("seed", &PersonaKConfig::seed)
      .def("validate", &PersonaKConfig::validate);

  py::class_<PersonaK>(m, "PersonaK", "Persona-K data with its ground truth")
      .def_readonly("data", &PersonaK::data, py::return_value_policy::reference_internal)
      .def_readonly("behaviors", &PersonaK::behaviors)
      .def_readonly("prototypes", &PersonaK::prototypes, "[K*][D] signs")
      .def_readonly("weights", &PersonaK::weights, "[users][K*] true mixture weights, in data.user_ids order")
      .def_readonly("text_behavior", &PersonaK::text_behavior)
      .def_readonly("text_stance", &PersonaK::text_stance)
      .def_readonly("contexts", &PersonaK::contexts, "[K*] each prototype's context text (Persona-C)");
  m.def("generate_persona_k", &generate_persona_k, py::arg("config"), py::call_guard<py::gil_scoped_release>());

  py::class_<UkpConfig>(m, "UkpConfig", "UKPConvArg1: real annotators' argument-convincingness judgements")
      .def(py::init<>())
      .def_readwrite("dir", &UkpConfig::dir)
      .def_readwrite("min_strict", &UkpConfig::min_strict)
      .def_readwrite("keep_equal", &UkpConfig::keep_equal)
      .def_readwrite("unseen_fraction", &UkpConfig::unseen_fraction)
      .def_readwrite("val_fraction", &UkpConfig::val_fraction)
      .def_readwrite("test_fraction", &UkpConfig::test_fraction)
      .def_readwrite("support_fraction", &UkpConfig::support_fraction)
      .def_readwrite("seed", &UkpConfig::seed)
      .def_readwrite("stance_context", &UkpConfig::stance_context);
  m.def("import_ukp", &import_ukp, py::arg("config"), py::call_guard<py::gil_scoped_release>());
}

}  // namespace plural::bindings
