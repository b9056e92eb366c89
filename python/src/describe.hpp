// The models' descriptions (vaekit/describe.hpp) on the Python side: a
// configuration struct from a dict of hyper-parameters, and each field's
// name, type, default, choices and range as Python data, from which the
// estimators derive their parameter constraints and the command line its
// options. Nothing here names a field: adding one to a configuration's
// fields() is all the bindings need.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "pybind11.hpp"
#include "vaekit/describe.hpp"

namespace vaekit::python {

namespace detail {

// One field's description: {"name", "type", "default", ["choices"], "min",
// "max", "min_inclusive", "max_inclusive"}; type is "bool", "int", "float",
// "str" (an enumeration) or "int_list".
struct FieldDescriber {
  py::list& out;
  py::dict base(const char* name, const char* type, const Range& range) const {
    py::dict field;
    field["name"] = name;
    field["type"] = type;
    field["min"] = std::isfinite(range.min) ? py::object(py::float_(range.min)) : py::object(py::none());
    field["max"] = std::isfinite(range.max) ? py::object(py::float_(range.max)) : py::object(py::none());
    field["min_inclusive"] = range.min_inclusive;
    field["max_inclusive"] = range.max_inclusive;
    return field;
  }
  void operator()(const char* name, bool value, const Range& range) const {
    py::dict field = base(name, "bool", range);
    field["default"] = value;
    out.append(field);
  }
  void operator()(const char* name, double value, const Range& range) const {
    py::dict field = base(name, "float", range);
    field["default"] = value;
    out.append(field);
  }
  template <class Integer, std::enable_if_t<std::is_integral<Integer>::value, int> = 0>
  void operator()(const char* name, Integer value, const Range& range) const {
    // The field's type bounds it too (an int holds at most 2^31 - 1).
    Range bounded = range;
    bounded.max = std::min(range.max, static_cast<double>(std::numeric_limits<Integer>::max()));
    py::dict field = base(name, "int", bounded);
    field["default"] = value;
    out.append(field);
  }
  void operator()(const char* name, const std::vector<Index>& values, const Range& range) const {
    py::dict field = base(name, "int_list", range);
    field["default"] = py::tuple(py::cast(values));
    out.append(field);
  }
  template <class E, std::enable_if_t<is_described_enum<E>::value, int> = 0>
  void operator()(const char* name, E value, const Range& range) const {
    py::dict field = base(name, "str", range);
    field["default"] = enum_name(value);
    py::list choices;
    for (const char* choice : EnumNames<E>::names) choices.append(choice);
    if constexpr (has_enum_aliases<E>::value) {
      for (const auto& alias : EnumNames<E>::aliases) choices.append(alias.first);
    }
    field["choices"] = choices;
    out.append(field);
  }
};

// Sets a field from a Python value (pybind11's conversion, so a wrong type is
// a TypeError naming the field).
struct FieldAssigner {
  const py::dict& values;
  std::set<std::string>& used;
  template <class Field>
  void operator()(const char* name, Field& field, const Range&) const {
    if (!values.contains(name)) return;
    used.insert(name);
    const py::handle value = values[name];
    try {
      if constexpr (is_described_enum<Field>::value) {
        field = parse_enum<Field>(value.cast<std::string>());
      } else {
        field = value.cast<Field>();
      }
    } catch (const py::cast_error&) {
      throw py::type_error(std::string(name) + ": cannot convert " + py::repr(value).cast<std::string>());
    }
  }
};

}  // namespace detail

// The fields of a configuration type as a list of dicts (see FieldDescriber).
template <class Config>
py::list describe_fields() {
  py::list out;
  const Config defaults{};
  const detail::FieldDescriber describer{out};
  Config::fields(defaults, [&](const char* name, const auto& value, const Range& range) { describer(name, value, range); });
  return out;
}

// A configuration from {field name: value}; fields not given keep their
// defaults, an unknown name is an InvalidArgument. The caller validates.
template <class Config>
Config config_from_dict(const py::dict& values, const std::string& owner, Config config = Config{}) {
  std::set<std::string> used;
  const detail::FieldAssigner assigner{values, used};
  Config::fields(config, [&](const char* name, auto& value, const Range& range) { assigner(name, value, range); });
  for (const auto& item : values) {
    const std::string key = py::str(item.first);
    require(used.count(key) > 0, owner + ": unknown hyper-parameter \"" + key + "\"");
  }
  return config;
}

}  // namespace vaekit::python
