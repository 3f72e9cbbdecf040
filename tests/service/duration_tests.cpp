#include "cds/service/ops/duration.hpp"

#include <doctest/doctest.h>

#include <stdexcept>

#include <boost/program_options.hpp>

using namespace std::chrono_literals;
namespace ops = cds::service::ops;
namespace po = boost::program_options;

namespace {

std::chrono::milliseconds parsed(std::string_view text) {
    std::string error;
    auto const value = ops::parse_duration(text, error);
    REQUIRE_MESSAGE(value.has_value(), error);
    return *value;
}

std::string refusal(std::string_view text) {
    std::string error;
    CHECK_FALSE(ops::parse_duration(text, error).has_value());
    return error;
}

// One duration option through Boost.Program_options, as serve declares them.
ops::duration through_program_options(std::vector<std::string> const& args) {
    po::options_description description;
    description.add_options()("wait", po::value<ops::duration>()->default_value({10s}), "");
    po::variables_map values;
    po::store(po::command_line_parser(args).options(description).run(), values);
    po::notify(values);
    return values["wait"].as<ops::duration>();
}

}  // namespace

TEST_CASE("a duration is a whole number and one unit") {
    CHECK(parsed("250ms") == 250ms);
    CHECK(parsed("10s") == 10s);
    CHECK(parsed("2m") == 2min);
    CHECK(parsed("1h") == 1h);
    CHECK(parsed("0s") == 0ms);
}

TEST_CASE("a bare number, a fraction, a sign or an unknown unit is refused, saying the forms") {
    CHECK(refusal("10") ==
          "\"10\" has no unit: write a whole number with a unit: 250ms, 10s, 2m or 1h");
    CHECK(refusal("1.5s").find("has an unknown unit") != std::string::npos);
    CHECK(refusal("-1s").find("is not a duration") != std::string::npos);
    CHECK(refusal("").find("is not a duration") != std::string::npos);
    CHECK(refusal("10 s").find("has an unknown unit") != std::string::npos);
    CHECK(refusal("3d").find("has an unknown unit") != std::string::npos);
    CHECK(refusal("99999999999999999999s").find("too long") != std::string::npos);
}

TEST_CASE("a duration is written in the largest unit that is exact") {
    CHECK(ops::format_duration(250ms) == "250ms");
    CHECK(ops::format_duration(1500ms) == "1500ms");
    CHECK(ops::format_duration(10s) == "10s");
    CHECK(ops::format_duration(90s) == "90s");
    CHECK(ops::format_duration(120s) == "2m");
    CHECK(ops::format_duration(86400s) == "24h");
    CHECK(ops::format_duration(0ms) == "0s");
}

TEST_CASE("Boost.Program_options reads durations and names the option in a refusal") {
    CHECK(through_program_options({}).value == 10s);
    CHECK(through_program_options({"--wait", "750ms"}).value == 750ms);
    CHECK_THROWS_WITH_AS(through_program_options({"--wait", "750"}),
                         "--wait: \"750\" has no unit: write a whole number with a unit: 250ms, "
                         "10s, 2m or 1h",
                         po::error);
}

TEST_CASE("bounded_duration names the option and the range") {
    CHECK(ops::bounded_duration("fhir-deadline", {2s}, 1ms, 1min) == 2s);
    CHECK_THROWS_WITH_AS(ops::bounded_duration("fhir-deadline", {2min}, 1ms, 1min),
                         "--fhir-deadline must be from 1ms to 1m, got 2m", std::invalid_argument);
}
