// What the models are, for the Python package: the kinds of model (one per
// model type the model files know, vaekit::AnyModel) and each kind's
// hyper-parameters with their types, defaults, choices and ranges, read from
// the configuration structs' fields() (vaekit/describe.hpp). The estimators
// derive their parameter constraints from these, the command line its options,
// and tests check the estimators' defaults and the type stubs against them.
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "describe.hpp"
#include "pybind11.hpp"
#include "vaekit/io.hpp"

namespace vaekit::python {
namespace {

// Models trained by the shared mini-batch loop (TrainingOptions) have an optimiser state.
template <class Model, class = void>
struct is_trained_with_options : std::false_type {};
template <class Model>
struct is_trained_with_options<Model, std::void_t<decltype(std::declval<const Model&>().optimizer_state())>>
    : std::true_type {};

// Models that take NaN as a missing value in training and inference say so (kAllowsMissing).
template <class Model, class = void>
struct allows_missing : std::false_type {};
template <class Model>
struct allows_missing<Model, std::void_t<decltype(Model::kAllowsMissing)>>
    : std::bool_constant<Model::kAllowsMissing> {};

template <class Model>
py::dict describe_model() {
  py::dict description;
  description["kind"] = Model::kKind;
  description["hyper_parameters"] = describe_fields<typename Model::Config>();
  description["training"] = is_trained_with_options<Model>::value ? describe_fields<TrainingOptions>() : py::list();
  description["allows_missing"] = allows_missing<Model>::value;
  return description;
}

// {kind: description} over AnyModel's alternatives (float and double share one).
template <std::size_t... I>
py::dict describe_models(std::index_sequence<I...>) {
  py::dict descriptions;
  const auto add = [&](const char* kind, py::dict (*describe)()) {
    if (!descriptions.contains(kind)) descriptions[kind] = describe();
  };
  (add(std::variant_alternative_t<I, AnyModel>::kKind, &describe_model<std::variant_alternative_t<I, AnyModel>>), ...);
  return descriptions;
}

}  // namespace

void register_models(py::module_& m) {
  m.def("model_kinds", &model_kinds, "The kinds of model the model files hold, as their \"kind\" entry spells them.");
  m.def(
      "model_descriptions", [] { return describe_models(std::make_index_sequence<std::variant_size_v<AnyModel>>()); },
      "{kind: {\"kind\", \"hyper_parameters\", \"training\", \"allows_missing\"}}: each hyper-parameter's name, "
      "type (bool, int, float, str, int_list), default, choices (str) and range (min, max, min_inclusive, "
      "max_inclusive); whether the neural model takes NaN as a missing value.");
}

}  // namespace vaekit::python
