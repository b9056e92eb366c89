// How a model describes itself, once: the names of each enumeration's values,
// and the hyper-parameters of each configuration struct (name, field, valid
// range; the default is the struct's initialiser). Code that handles any model
// (the model files, the Python bindings and through them the estimators'
// parameter constraints, the command line and the docs) loops over these
// descriptions instead of spelling the fields out again.
//
// An enumeration describes its values by specialising EnumNames next to it:
//
//   enum class Likelihood { Gaussian, Bernoulli };
//   template <> struct EnumNames<Likelihood> {
//     static constexpr const char* what = "likelihood";
//     static constexpr std::array<const char*, 2> names{"gaussian", "bernoulli"};  // value 0, 1, ...
//   };
//
// A configuration struct lists its hyper-parameters in a static member
// template `fields(self, visit)`, called with a const or a mutable struct:
//
//   template <class Self, class Visit>
//   static void fields(Self& self, Visit&& visit) {
//     visit("n_components", self.n_components, Range::at_least(1));
//     visit("likelihood", self.likelihood, Range());
//   }
//
// Field types: bool, int, Index, double, std::vector<Index> (the range bounds
// each element) and described enumerations.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "vaekit/common.hpp"

namespace vaekit {

template <class E>
struct EnumNames;  // specialised next to each enumeration

// True for enumerations that specialise EnumNames.
template <class E, class = void>
struct is_described_enum : std::false_type {};
template <class E>
struct is_described_enum<E, std::void_t<decltype(EnumNames<E>::names)>> : std::true_type {};

// The name of an enumeration's value ("gaussian").
template <class E>
const char* enum_name(E value) {
  const auto index = static_cast<std::size_t>(value);
  require(index < EnumNames<E>::names.size(), std::string("invalid ") + EnumNames<E>::what + " value");
  return EnumNames<E>::names[index];
}

// The names of all values, for messages: "\"gaussian\" or \"bernoulli\"".
template <class E>
std::string enum_choices() {
  const auto& names = EnumNames<E>::names;
  std::string text;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) text += i + 1 == names.size() ? " or " : ", ";
    text += std::string("\"") + names[i] + "\"";
  }
  return text;
}

// Other accepted spellings, when EnumNames<E> has a member
//   static constexpr std::array<std::pair<const char*, E>, N> aliases{...};
template <class E, class = void>
struct has_enum_aliases : std::false_type {};
template <class E>
struct has_enum_aliases<E, std::void_t<decltype(EnumNames<E>::aliases)>> : std::true_type {};

// The value of a name (or alias); InvalidArgument naming the choices otherwise.
template <class E>
E parse_enum(const std::string& name) {
  const auto& names = EnumNames<E>::names;
  for (std::size_t i = 0; i < names.size(); ++i)
    if (name == names[i]) return static_cast<E>(i);
  if constexpr (has_enum_aliases<E>::value) {
    for (const auto& alias : EnumNames<E>::aliases)
      if (name == alias.first) return alias.second;
  }
  throw InvalidArgument(std::string(EnumNames<E>::what) + " must be " + enum_choices<E>() + ", got \"" + name + "\"");
}

namespace detail {
// A number for messages: the shortest text that reads back the same double.
inline std::string format_number(double value) {
  char buffer[32];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buffer, sizeof buffer, "%.*g", digits, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  return buffer;
}
}  // namespace detail

// The valid values of a numeric field (of each element for a list).
struct Range {
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_inclusive = true;
  bool max_inclusive = true;

  static Range any() { return Range(); }
  static Range at_least(double value) { return {value, std::numeric_limits<double>::infinity(), true, true}; }
  static Range positive() { return {0.0, std::numeric_limits<double>::infinity(), false, true}; }
  static Range open(double low, double high) { return {low, high, false, false}; }

  bool contains(double value) const {
    if (std::isnan(value)) return false;
    const bool above = min_inclusive ? value >= min : value > min;
    const bool below = max_inclusive ? value <= max : value < max;
    return above && below;
  }
  // "at least 1", "positive", "in (0, 1)", ...
  std::string text() const {
    const auto number = detail::format_number;
    const bool bounded_below = std::isfinite(min), bounded_above = std::isfinite(max);
    if (bounded_below && bounded_above)
      return std::string("in ") + (min_inclusive ? "[" : "(") + number(min) + ", " + number(max) +
             (max_inclusive ? "]" : ")");
    if (bounded_below) {
      if (min == 0 && !min_inclusive) return "positive";
      return (min_inclusive ? "at least " : "greater than ") + number(min);
    }
    if (bounded_above) return (max_inclusive ? "at most " : "less than ") + number(max);
    return "a number";
  }
};

namespace detail {

// Checks one field's value against its range (and its type's own limits).
struct FieldValidator {
  const std::string& owner;  // "VAE", for the messages
  void operator()(const char*, bool, const Range&) const {}
  void operator()(const char* name, double value, const Range& range) const {
    require(std::isfinite(value) && range.contains(value),
            owner + ": " + name + " must be finite and " + range.text() + ", got " + format_number(value));
  }
  template <class Integer, std::enable_if_t<std::is_integral<Integer>::value, int> = 0>
  void operator()(const char* name, Integer value, const Range& range) const {
    require(range.contains(static_cast<double>(value)),
            owner + ": " + name + " must be " + range.text() + ", got " + std::to_string(value));
  }
  void operator()(const char* name, const std::vector<Index>& values, const Range& range) const {
    for (const Index value : values)
      require(range.contains(static_cast<double>(value)),
              owner + ": every entry of " + name + " must be " + range.text() + ", got " + std::to_string(value));
  }
  template <class E, std::enable_if_t<is_described_enum<E>::value, int> = 0>
  void operator()(const char* name, E value, const Range&) const {
    require(static_cast<std::size_t>(value) < EnumNames<E>::names.size(), owner + ": invalid " + name + " value");
  }
};

}  // namespace detail

// Throws InvalidArgument ("VAE: beta must be at least 0, got -1") when a
// field of `config` is out of its range.
template <class Config>
void validate_fields(const Config& config, const std::string& owner) {
  const detail::FieldValidator validator{owner};
  Config::fields(config, [&](const char* name, const auto& value, const Range& range) { validator(name, value, range); });
}

}  // namespace vaekit
