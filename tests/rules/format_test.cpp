// The card text formatter (CLINICAL-BASIS.md §5): dates at every FHIR precision and offset,
// ages, units without UCUM annotations, and the text templates' placeholders.

#include "common/format.hpp"
#include "common/text.hpp"

#include <doctest/doctest.h>

#include <string>

#include "helpers.hpp"

namespace {

cds::rules::rule_set_data const& words() { return rules_test::bundled()->data(); }

cds::fhir::date_time parsed(char const* text) {
    auto r = cds::fhir::parse_date_time(text);
    REQUIRE_MESSAGE(r.value, text << ": " << r.error);
    return *r.value;
}

cds::fhir::instant hook_time() { return parsed("2026-03-10T08:40:00Z").start; }

}  // namespace

TEST_CASE("a FHIR dateTime is shown at its own precision, in UTC, with its age") {
    struct row {
        char const* fhir;
        char const* when;
    };
    row const table[] = {
        {"2025", "2025"},
        {"2025-03", "Mar 2025"},
        {"2026-03-09", "9 Mar 2026, yesterday"},
        {"2026-03-10", "10 Mar 2026, today"},
        {"2026-02-08", "8 Feb 2026, 30 days ago"},
        {"2025-12-01", "1 Dec 2025, 14 weeks ago"},
        {"2026-03-09T06:40:00Z", "9 Mar 2026 06:40 UTC, 26 h ago"},
        {"2026-03-09T06:40:59.999Z", "9 Mar 2026 06:40 UTC, 25 h ago"},  // completed hours
        // An offset is converted to UTC: the same instant reads the same wherever it was written.
        {"2026-03-09T07:40:00+01:00", "9 Mar 2026 06:40 UTC, 26 h ago"},
        {"2026-03-09T01:40:00-05:00", "9 Mar 2026 06:40 UTC, 26 h ago"},
        {"2026-03-10T05:10:00+05:30", "9 Mar 2026 23:40 UTC, 9 h ago"},
        // A time without an offset is taken as UTC (fhir/date_time.hpp).
        {"2026-03-09T06:40:00", "9 Mar 2026 06:40 UTC, 26 h ago"},
        {"2026-03-10T08:38:00Z", "10 Mar 2026 08:38 UTC, just now"},
        {"2026-03-06T08:40:00Z", "6 Mar 2026 08:40 UTC, 4 days ago"},
        {"2026-03-10T11:40:00Z", "10 Mar 2026 11:40 UTC, in 3 h"},
    };
    for (auto const& r : table) {
        CAPTURE(r.fhir);
        CHECK(cds::rules::format_when(parsed(r.fhir), hook_time(), words()) == r.when);
    }
}

TEST_CASE("a date alone has no age wording beyond its precision") {
    CHECK(cds::rules::format_card_date(parsed("2026-03-09T06:40:00Z"), words()) ==
          "9 Mar 2026 06:40 UTC");
    CHECK(cds::rules::format_card_date(parsed("2026-01-31"), words()) == "31 Jan 2026");
    CHECK(cds::rules::format_card_date(parsed("2024-12"), words()) == "Dec 2024");
}

TEST_CASE("units are written as a prescriber writes them, without annotations or UCUM brackets") {
    struct row {
        char const* ucum;
        char const* shown;
    };
    row const table[] = {
        {"mL/min/{1.73_m2}", "mL/min/1.73 m²"},
        {"mL/min/1.73m2", "mL/min/1.73 m²"},
        {"mL/min/{1.73m2}", "mL/min/1.73 m²"},
        {"mL/min", "mL/min"},
        {"mg/dL", "mg/dL"},
        {"mmol/L", "mmol/L"},
        {"mg/{dose}", "mg"},
        {"{tablet}", ""},
        {"10*3/uL{cells}", "10*3/uL"},
        {"[lb_av]", "lb"},
        {"[in_i]", "in"},
        {"[degF]", "degF"},
        {"mg/[lb_av]", "mg/lb"},
    };
    for (auto const& r : table) {
        CAPTURE(r.ucum);
        CHECK(cds::rules::format_unit(r.ucum) == r.shown);
    }
}

TEST_CASE("a text template is filled where it names a value, and left as written elsewhere") {
    using cds::rules::fill;
    CHECK(fill("", {}) == "");
    CHECK(fill("no placeholder", {{"a", "x"}}) == "no placeholder");
    CHECK(fill("{a}", {{"a", "x"}}) == "x");
    CHECK(fill("give {dose} mg {when}.", {{"dose", "400"}, {"when", "at bedtime"}}) ==
          "give 400 mg at bedtime.");
    CHECK(fill("{a}{a}{b}", {{"a", "1"}, {"b", "2"}}) == "112");
    // A brace that names no value, or is not closed, stays; the text after it is still filled.
    CHECK(fill("{unknown} {a}", {{"a", "x"}}) == "{unknown} x");
    CHECK(fill("open { then {a}", {{"a", "x"}}) == "open { then x");
    CHECK(fill("{{a}}", {{"a", "x"}}) == "{x}");
    CHECK(fill("end {", {{"a", "x"}}) == "end {");
    CHECK(fill("{a", {{"a", "x"}}) == "{a");
}
