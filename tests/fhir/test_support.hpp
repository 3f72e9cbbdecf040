#pragma once
// Helpers shared by the cds_fhir unit tests.

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include <date/date.h>
#include <doctest/doctest.h>
#include <boost/json.hpp>

#include "cds/fhir/date_time.hpp"
#include "cds/fhir/issue.hpp"

namespace cds::fhir::test {

// Parses JSON written in a test (test input is trusted; a typo fails the test loudly).
inline boost::json::value json(std::string_view text) { return boost::json::parse(text); }

// A JSON file of the fixtures, which must parse.
inline boost::json::value read_json_file(std::string const& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    boost::system::error_code ec;
    auto v = boost::json::parse(text.str(), ec);
    INFO(path << ": " << ec.message());
    REQUIRE_FALSE(ec);
    return v;
}

// An instant from UTC calendar fields.
inline instant utc(int y, unsigned m, unsigned d, int h = 0, int mi = 0, int s = 0, int ms = 0) {
    return date::sys_days{date::year{y} / date::month{m} / date::day{d}} + std::chrono::hours{h} +
           std::chrono::minutes{mi} + std::chrono::seconds{s} + std::chrono::milliseconds{ms};
}

// A dateTime that must parse.
inline date_time dt(std::string_view text) {
    auto parsed = parse_date_time(text);
    INFO("text: " << text << " error: " << parsed.error);
    REQUIRE(parsed.value.has_value());
    return *parsed.value;
}

// Every issue on its own line, for failure messages.
inline std::string describe(issue_list const& issues) {
    std::string out;
    for (auto const& i : issues) {
        out += i.severity == issue_severity::error ? "error " : "warning ";
        out += i.path + ": " + i.message + "\n";
    }
    return out;
}

inline bool has_issue(issue_list const& issues, std::string_view path, issue_severity severity) {
    for (auto const& i : issues) {
        if (i.path == path && i.severity == severity) return true;
    }
    return false;
}

inline std::size_t count_errors(issue_list const& issues) {
    std::size_t n = 0;
    for (auto const& i : issues) n += i.severity == issue_severity::error ? 1 : 0;
    return n;
}

}  // namespace cds::fhir::test
