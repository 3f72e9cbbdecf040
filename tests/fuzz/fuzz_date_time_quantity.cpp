// Harness (a): FHIR date/dateTime/instant text and the small data types (Quantity,
// CodeableConcept, Coding, Reference, Period) with magnesium unit conversion.
//
// The input is used twice: as raw dateTime text, and as JSON. Every string inside the JSON
// is parsed as a dateTime as well (so escapes and non-ASCII reach the parser), and every
// value is read as each data type.
//
// Properties checked beyond "no crash": a parsed dateTime's period is non-empty
// (end() > start); its FHIR instant rendering parses back to the same instant; the start of
// a day-precision value is a midnight; a Quantity in a known unit converts to value * factor
// exactly when that is finite.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "cds/fhir/date_time.hpp"
#include "cds/fhir/types.hpp"
#include "fuzz_support.hpp"
#include "json_mutator.hpp"

namespace {

constexpr char const* harness = "date_time_quantity";

void check_date_time(std::string_view text) {
    auto const parsed = cds::fhir::parse_date_time(text);
    if (!parsed.value) {
        CDS_FUZZ_REQUIRE(harness, !parsed.error.empty(), text);
        return;
    }
    CDS_FUZZ_REQUIRE(harness, parsed.error.empty(), text);
    auto const& dt = *parsed.value;
    CDS_FUZZ_REQUIRE(harness, dt.end() > dt.start, text);
    if (dt.precision != cds::fhir::date_precision::second) {
        CDS_FUZZ_REQUIRE(harness, date::floor<date::days>(dt.start) == dt.start, text);
        CDS_FUZZ_REQUIRE(harness, !dt.has_time_zone, text);
    }
    // format_date must not crash for any instant parse_date_time can produce (offsets can
    // move it outside 0001..9999).
    (void)cds::fhir::format_date(dt.start);
    std::string const rendered = cds::fhir::format_instant(dt.start);
    auto const again = cds::fhir::parse_date_time(rendered);
    // Years outside 0001..9999 (reachable through an offset) are not FHIR and may be refused.
    auto const year =
        static_cast<int>(date::year_month_day{date::floor<date::days>(dt.start)}.year());
    if (year >= 1 && year <= 9999) {
        CDS_FUZZ_REQUIRE(harness, again.value.has_value(), rendered);
        CDS_FUZZ_REQUIRE(harness, again.value->start == dt.start, rendered);
        CDS_FUZZ_REQUIRE(harness, again.value->has_time_zone, rendered);
    }
}

cds::fhir::unit_table const& magnesium_units() {
    // CLINICAL-BASIS.md §1 conversion to mg/dL; the factors only need to be distinct here.
    static cds::fhir::unit_table const table{
        {{"mg/dL", 1.0}, {"mg/L", 0.1}, {"mmol/L", 2.431}, {"mEq/L", 1.2155}}};
    return table;
}

// Units as unit_table compares them, written out here from CLINICAL-BASIS.md §1 and §7:
// trimmed, ASCII lower-cased, U+00B5 and U+03BC read as the prefix `u`.
std::string reference_unit(std::string_view unit) {
    auto const space = [](char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
    };
    while (!unit.empty() && space(unit.front())) unit.remove_prefix(1);
    while (!unit.empty() && space(unit.back())) unit.remove_suffix(1);
    std::string out;
    for (std::size_t i = 0; i < unit.size(); ++i) {
        auto const rest = unit.substr(i);
        if (rest.starts_with("\xC2\xB5") || rest.starts_with("\xCE\xBC")) {
            out += 'u';
            ++i;
        } else {
            char const c = unit[i];
            out += c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
        }
    }
    return out;
}

// A table with the micro prefix written three ways and a unit whose first byte is a micro
// sign's (U+00B0 DEGREE SIGN): factor_for finds exactly the units the reference reads alike.
void check_unit_lookup(std::string_view unit) {
    static std::vector<std::pair<std::string, double>> const units{{"\xC2\xB5mol/L", 1.0},
                                                                   {"\xCE\xBCg/L", 2.0},
                                                                   {"umol/min", 3.0},
                                                                   {"\xC2\xB0"
                                                                    "C",
                                                                    4.0},
                                                                   {"mg/dL", 5.0}};
    static cds::fhir::unit_table const table{[] {
        std::vector<cds::fhir::unit_factor> factors;
        for (auto const& [u, f] : units) factors.push_back({u, f});
        return factors;
    }()};
    std::string const written = reference_unit(unit);
    std::optional<double> expected;
    for (auto const& [u, f] : units) {
        if (!written.empty() && reference_unit(u) == written) expected = f;
    }
    CDS_FUZZ_REQUIRE(harness, table.factor_for(unit) == expected, std::string{unit});
}

void check_data_types(boost::json::value const& v, std::string const& path) {
    cds::fhir::issue_list issues;
    if (auto q = cds::fhir::parse_quantity(v, path, issues)) {
        auto const key = q->unit_key();
        if (auto factor = magnesium_units().factor_for(key); factor && q->value) {
            // A known unit converts exactly when the converted value is a finite number.
            auto const converted = magnesium_units().convert(*q->value, key);
            bool const finite = std::isfinite(*q->value * *factor);
            CDS_FUZZ_REQUIRE(harness, converted.has_value() == finite, key);
            if (converted) CDS_FUZZ_REQUIRE(harness, *converted == *q->value * *factor, key);
        }
    }
    (void)cds::fhir::parse_coding(v, path, issues);
    auto const concept_value = cds::fhir::parse_codeable_concept(v, path, issues);
    (void)concept_value.has_code("http://loinc.org", "19123-9");
    if (auto r = cds::fhir::parse_reference(v, path, issues))
        (void)cds::fhir::make_reference(r->reference, r->display);
    if (auto p = cds::fhir::parse_period(v, path, issues)) {
        if (p->start) (void)p->start->end();
        if (p->end) (void)p->end->end();
    }
    for (auto const& issue : issues) {
        // Every issue names where it was found, inside the value that was read.
        CDS_FUZZ_REQUIRE(harness, issue.path.starts_with(path), issue.path);
        CDS_FUZZ_REQUIRE(harness, !issue.message.empty(), issue.path);
    }
}

void walk(boost::json::value const& v, std::string const& path, int depth) {
    if (v.is_string()) {
        auto const s = v.get_string();
        check_date_time(std::string_view{s.data(), s.size()});
        check_unit_lookup(std::string_view{s.data(), s.size()});
        (void)cds::fhir::make_reference(std::string_view{s.data(), s.size()});
    }
    check_data_types(v, path);
    if (depth > 8) return;  // the data types are shallow; bound the work per input
    if (auto const* o = v.if_object()) {
        for (auto const& member : *o)
            walk(member.value(), path + "." + std::string{member.key()}, depth + 1);
    } else if (auto const* a = v.if_array()) {
        for (std::size_t i = 0; i < a->size(); ++i)
            walk((*a)[i], path + "[" + std::to_string(i) + "]", depth + 1);
    }
}

}  // namespace

CDS_FUZZ_JSON_MUTATOR()

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    if (size > 64 * 1024) return -1;  // not a dateTime or a data type; keep iterations fast
    auto const text = cds::fuzz::as_text(data, size);
    check_date_time(text);
    check_unit_lookup(text);
    if (auto value = cds::fuzz::parse_json(text)) walk(*value, "value", 0);
    return 0;
}
