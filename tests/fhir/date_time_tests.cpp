#include <string>
#include <string_view>

#include <doctest/doctest.h>

#include "cds/fhir/date_time.hpp"
#include "test_support.hpp"

using namespace cds::fhir;
using cds::fhir::test::dt;
using cds::fhir::test::utc;

TEST_CASE("parse_date_time reads every FHIR precision") {
    auto check = [](std::string_view text, instant start, date_precision precision,
                    bool has_time_zone) {
        INFO("text: " << text);
        auto parsed = parse_date_time(text);
        REQUIRE_MESSAGE(parsed.value.has_value(), parsed.error);
        CHECK(parsed.error.empty());
        CHECK(parsed.value->start == start);
        CHECK(parsed.value->precision == precision);
        CHECK(parsed.value->has_time_zone == has_time_zone);
    };
    using enum date_precision;
    check("2025", utc(2025, 1, 1), year, false);
    check("0001", utc(1, 1, 1), year, false);
    check("9999", utc(9999, 1, 1), year, false);
    check("2025-03", utc(2025, 3, 1), month, false);
    check("2025-12", utc(2025, 12, 1), month, false);
    check("2025-03-04", utc(2025, 3, 4), day, false);
    check("2024-02-29", utc(2024, 2, 29), day, false);  // leap year
    check("2000-02-29", utc(2000, 2, 29), day, false);  // divisible by 400
    check("1960-03-13", utc(1960, 3, 13), day, false);  // before the epoch
    check("2025-03-04T10:30:00Z", utc(2025, 3, 4, 10, 30), second, true);
    check("2025-03-04T10:30:15+00:00", utc(2025, 3, 4, 10, 30, 15), second, true);
    check("2025-03-04T10:30:15-00:00", utc(2025, 3, 4, 10, 30, 15), second, true);
    check("2025-03-04T10:30:00+02:00", utc(2025, 3, 4, 8, 30), second, true);
    check("2025-03-04T01:30:00+02:00", utc(2025, 3, 3, 23, 30), second, true);  // previous UTC day
    check("2025-03-04T22:30:00-05:00", utc(2025, 3, 5, 3, 30), second, true);   // next UTC day
    check("2025-03-04T10:30:00+05:45", utc(2025, 3, 4, 4, 45), second, true);   // Nepal
    check("2025-03-04T10:30:00+14:00", utc(2025, 3, 3, 20, 30), second, true);  // largest offset
    check("2025-03-04T10:30:00-12:00", utc(2025, 3, 4, 22, 30), second, true);
    check("2025-01-01T00:30:00+01:00", utc(2024, 12, 31, 23, 30), second, true);  // previous year
    // Fractional seconds of any length; the model keeps milliseconds.
    check("2025-03-04T10:30:00.1Z", utc(2025, 3, 4, 10, 30, 0, 100), second, true);
    check("2025-03-04T10:30:00.12Z", utc(2025, 3, 4, 10, 30, 0, 120), second, true);
    check("2025-03-04T10:30:00.123Z", utc(2025, 3, 4, 10, 30, 0, 123), second, true);
    check("2025-03-04T10:30:00.1239Z", utc(2025, 3, 4, 10, 30, 0, 123), second, true);
    check("2025-03-04T10:30:00.123456789+01:00", utc(2025, 3, 4, 9, 30, 0, 123), second, true);
    check("2005-07-05T15:29:58.597000+00:00", utc(2005, 7, 5, 15, 29, 58, 597), second, true);
    check("2025-03-04T10:30:00.000Z", utc(2025, 3, 4, 10, 30), second, true);
    // Without an offset the time is taken as UTC and flagged.
    check("2025-03-04T10:30:00", utc(2025, 3, 4, 10, 30), second, false);
    check("2025-03-04T10:30:00.5", utc(2025, 3, 4, 10, 30, 0, 500), second, false);
    check("2025-03-04T00:00:00", utc(2025, 3, 4), second, false);
    check("2025-03-04T23:59:59.999Z", utc(2025, 3, 4, 23, 59, 59, 999), second, true);
    // A leap second rolls into the next minute.
    check("2016-12-31T23:59:60Z", utc(2017, 1, 1), second, true);
}

TEST_CASE("parse_date_time rejects bad shapes and out-of-range fields with a message") {
    auto check = [](std::string_view text, std::string_view message_part) {
        INFO("text: '" << text << "'");
        auto parsed = parse_date_time(text);
        CHECK_FALSE(parsed.value.has_value());
        INFO("error: " << parsed.error);
        CHECK(parsed.error.find(message_part) != std::string::npos);
    };
    check("", "empty");
    check("25", "four-digit year");
    check("abcd", "four-digit year");
    check(" 2025", "four-digit year");
    check("-2025", "four-digit year");
    check("0000", "year 0000 out of range");
    check("20251", "'-' after the year");
    check("2025/03/04", "'-' after the year");
    check("2025-3-4", "two-digit month");
    check("2025-", "two-digit month");
    check("2025-13", "month 13 out of range");
    check("2025-00", "month 00 out of range");
    check("2025-99-01", "month 99 out of range");
    check("2025-03-4", "two-digit day");
    check("2025-03.04", "'-' after the month");
    check("2025-02-29", "day 29 out of range for 2025-02");
    check("2024-02-30", "day 30 out of range for 2024-02");
    check("2025-02-31", "day 31 out of range");
    check("1900-02-29", "day 29 out of range");  // 1900 was not a leap year
    check("2025-04-31", "day 31 out of range for 2025-04");
    check("2025-03-32", "day 32 out of range");
    check("2025-03-00", "day 00 out of range");
    check("2025-03-04 10:30:00Z", "'T' between the date and the time");
    check("2025-03-04Z", "'T' between the date and the time");
    check("2025-03-04T", "expected a time hh:mm:ss");
    check("2025-03-04T10", "expected a time hh:mm:ss");
    check("2025-03-04T10:30", "expected a time hh:mm:ss");
    check("2025-03-04T10:30Z", "expected a time hh:mm:ss");
    check("2025-03-04T1:30:00Z", "expected a time hh:mm:ss");
    check("2025-03-04T10-30-00Z", "expected a time hh:mm:ss");
    check("2025-03-04T24:00:00Z", "hour 24 out of range");
    check("2025-03-04T25:00:00Z", "hour 25 out of range");
    check("2025-03-04T10:60:00Z", "minute 60 out of range");
    check("2025-03-04T10:30:61Z", "second 61 out of range");
    check("2025-03-04T10:30:00.Z", "digits after the decimal point");
    check("2025-03-04T10:30:00.", "digits after the decimal point");
    check("2025-03-04T10:30:00 ", "time-zone offset");
    check("2025-03-04T10:30:00z", "time-zone offset");
    check("2025-03-04T10:30:00Zjunk", "after the time-zone 'Z'");
    check("2025-03-04T10:30:00+0530", "+hh:mm");
    check("2025-03-04T10:30:00+05", "+hh:mm");
    check("2025-03-04T10:30:00+5:30", "+hh:mm");
    check("2025-03-04T10:30:00+01:00x", "unexpected text after the time-zone offset");
    check("2025-03-04T10:30:00+15:00", "offset +15:00 out of range");
    check("2025-03-04T10:30:00-14:30", "offset -14:30 out of range");
    check("2025-03-04T10:30:00+05:60", "offset +05:60 out of range");
}

TEST_CASE("date_time::end is the exclusive end of the written period") {
    auto check = [](std::string_view text, instant end) {
        INFO("text: " << text);
        CHECK(dt(text).end() == end);
    };
    check("2025", utc(2026, 1, 1));
    check("2024", utc(2025, 1, 1));  // leap year: still the next 1 January
    check("2025-02", utc(2025, 3, 1));
    check("2024-02", utc(2024, 3, 1));
    check("2024-12", utc(2025, 1, 1));
    check("2025-03-04", utc(2025, 3, 5));
    check("2024-02-29", utc(2024, 3, 1));
    check("2025-12-31", utc(2026, 1, 1));
    check("2025-03-04T10:30:00Z", utc(2025, 3, 4, 10, 30, 0, 1));
    check("2025-03-04T10:30:00.999+01:00", utc(2025, 3, 4, 9, 30, 1));
}

TEST_CASE("date_time equality compares start, precision and time-zone flag") {
    CHECK(dt("2025-03-04") == dt("2025-03-04"));
    CHECK(dt("2025") != dt("2025-01"));                     // same start, other precision
    CHECK(dt("2025-01-01") != dt("2025-01-01T00:00:00Z"));  // same start, other precision
    CHECK(dt("2025-03-04T10:00:00Z") == dt("2025-03-04T12:00:00+02:00"));
    CHECK(dt("2025-03-04T10:00:00Z") != dt("2025-03-04T10:00:00"));  // offset given vs assumed
}

TEST_CASE("format_instant writes a FHIR instant with milliseconds and Z") {
    auto check = [](instant at, std::string_view expected) {
        CHECK(format_instant(at) == expected);
    };
    check(utc(2025, 3, 4, 8, 30, 0, 5), "2025-03-04T08:30:00.005Z");
    check(utc(1970, 1, 1), "1970-01-01T00:00:00.000Z");
    check(utc(1960, 3, 13, 23, 59, 59, 999), "1960-03-13T23:59:59.999Z");
    check(utc(2024, 2, 29, 12), "2024-02-29T12:00:00.000Z");
    check(utc(9999, 12, 31, 23, 59, 59, 999), "9999-12-31T23:59:59.999Z");
    check(utc(1, 1, 1), "0001-01-01T00:00:00.000Z");
    // The earliest FHIR dateTime with a positive offset falls in year 0 in UTC.
    check(dt("0001-01-01T00:00:00+01:00").start, "0000-12-31T23:00:00.000Z");
}

TEST_CASE("format_instant output parses back to the same instant") {
    for (auto const at :
         {utc(2025, 3, 4, 8, 30, 0, 5), utc(1969, 12, 31, 23, 59, 59, 1), utc(2000, 2, 29)}) {
        auto const text = format_instant(at);
        INFO(text);
        auto const parsed = dt(text);
        CHECK(parsed.start == at);
        CHECK(parsed.precision == date_precision::second);
        CHECK(parsed.has_time_zone);
    }
}

TEST_CASE("format_date writes the UTC calendar date") {
    CHECK(format_date(utc(2025, 3, 4)) == "2025-03-04");
    CHECK(format_date(utc(2025, 3, 4, 23, 59, 59, 999)) == "2025-03-04");
    CHECK(format_date(utc(1960, 3, 13, 12)) == "1960-03-13");
    CHECK(format_date(dt("2025-03-04T01:30:00+02:00").start) == "2025-03-03");
    CHECK(format_date(dt("2025-07").start) == "2025-07-01");
}
