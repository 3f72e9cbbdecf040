#pragma once
// A duration option of the command line and environment, written with its unit: `250ms`,
// `10s`, `2m`, `1h` (a whole number and one unit). A bare number is refused, because the
// service's durations span milliseconds to minutes and a number alone would be read in the
// wrong unit somewhere. --print-config and --help show durations in the same form.

#include <chrono>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <boost/any.hpp>

namespace cds::service::ops {

struct duration {
    std::chrono::milliseconds value{0};
    friend bool operator==(duration const&, duration const&) = default;
};

// "250ms" -> 250 ms; nullopt with `error` set when `text` is not a whole number followed by
// ms, s, m or h.
[[nodiscard]] std::optional<std::chrono::milliseconds> parse_duration(std::string_view text,
                                                                      std::string& error);

// The largest unit that writes `value` exactly: 250ms, 10s, 2m, 1h; 0s for zero.
[[nodiscard]] std::string format_duration(std::chrono::milliseconds value);

// For help text and --print-config defaults.
std::ostream& operator<<(std::ostream& out, duration const& d);

// Boost.Program_options reads a `duration` option through this overload (found by argument
// dependent lookup); a value without a unit is an invalid_option_value naming the forms.
void validate(boost::any& out, std::vector<std::string> const& values, duration*, int);

// `value` within [low, high]; throws std::invalid_argument naming --`option` and the range.
std::chrono::milliseconds bounded_duration(char const* option,
                                           duration value,
                                           std::chrono::milliseconds low,
                                           std::chrono::milliseconds high);

}  // namespace cds::service::ops
