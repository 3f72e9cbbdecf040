#include "cds/service/ops/duration.hpp"

#include <array>
#include <charconv>
#include <limits>
#include <sstream>
#include <stdexcept>

#include <boost/program_options/errors.hpp>
#include <boost/program_options/value_semantic.hpp>

namespace cds::service::ops {

namespace {

struct unit {
    std::string_view suffix;
    std::chrono::milliseconds length;
};

// Longest suffix first where one suffix ends another ("ms" before "s").
constexpr std::array<unit, 4> units{{{"ms", std::chrono::milliseconds{1}},
                                     {"s", std::chrono::seconds{1}},
                                     {"m", std::chrono::minutes{1}},
                                     {"h", std::chrono::hours{1}}}};

constexpr std::string_view forms = "a whole number with a unit: 250ms, 10s, 2m or 1h";

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text, std::string& error) {
    auto const digits_end = text.find_first_not_of("0123456789");
    std::string_view problem = "has an unknown unit";
    if (digits_end == std::string_view::npos) problem = "has no unit";
    if (digits_end == 0 || text.empty()) problem = "is not a duration";
    for (auto const& u : units) {
        if (digits_end == 0 || digits_end == std::string_view::npos || text.empty()) break;
        if (text.substr(digits_end) != u.suffix) continue;
        std::int64_t count = 0;
        auto const [end, ec] = std::from_chars(text.data(), text.data() + digits_end, count);
        if (ec == std::errc{} &&
            count <= std::numeric_limits<std::int64_t>::max() / u.length.count())
            return count * u.length;
        problem = "is too long a duration";
        break;
    }
    std::ostringstream message;
    message << '"' << text << "\" " << problem << ": write " << forms;
    error = message.str();
    return std::nullopt;
}

std::string format_duration(std::chrono::milliseconds value) {
    if (value.count() == 0) return "0s";
    for (auto it = units.rbegin(); it != units.rend(); ++it) {
        if (value.count() % it->length.count() == 0) {
            return std::to_string(value.count() / it->length.count()) + std::string{it->suffix};
        }
    }
    return std::to_string(value.count()) + "ms";
}

std::ostream& operator<<(std::ostream& out, duration const& d) {
    return out << format_duration(d.value);
}

void validate(boost::any& out, std::vector<std::string> const& values, duration*, int) {
    namespace po = boost::program_options;
    po::validators::check_first_occurrence(out);
    auto const& text = po::validators::get_single_string(values);
    std::string error;
    auto const parsed = parse_duration(text, error);
    // The parser adds the option's name (as given: flag or environment variable) to the text.
    if (!parsed) throw po::error_with_option_name("%canonical_option%: " + error);
    out = duration{*parsed};
}

std::chrono::milliseconds bounded_duration(char const* option,
                                           duration value,
                                           std::chrono::milliseconds low,
                                           std::chrono::milliseconds high) {
    if (value.value < low || value.value > high) {
        throw std::invalid_argument(std::string{"--"} + option + " must be from " +
                                    format_duration(low) + " to " + format_duration(high) +
                                    ", got " + format_duration(value.value));
    }
    return value.value;
}

}  // namespace cds::service::ops
