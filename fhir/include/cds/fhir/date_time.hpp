#pragma once
// FHIR date, dateTime and instant values (FHIR R4 §2.24.0.1 "Primitive Types").
// A value keeps the precision it was written with: "2025" is a year, not 2025-01-01T00:00Z.
// Rules that need one instant take the start of the period (CLINICAL-BASIS.md §1:
// "a partial date is taken at its start").

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <date/date.h>

namespace cds::fhir {

using instant = date::sys_time<std::chrono::milliseconds>;

enum class date_precision { year, month, day, second };

struct date_time {
    instant start{};  // start of the written period, in UTC
    date_precision precision = date_precision::second;
    bool has_time_zone = false;  // false for dates and for times without offset

    // End of the written period (exclusive): start + 1 year / month / day / 1 ms.
    [[nodiscard]] instant end() const;
    // A time written without an offset, which FHIR requires (taken as UTC; readers warn).
    [[nodiscard]] bool time_without_offset() const {
        return precision == date_precision::second && !has_time_zone;
    }
    friend bool operator==(date_time const&, date_time const&) = default;
};

// Parses FHIR date / dateTime / instant text: YYYY, YYYY-MM, YYYY-MM-DD,
// YYYY-MM-DDThh:mm:ss(.sss...)(Z|+hh:mm|-hh:mm). A time without an offset is taken as UTC
// (FHIR requires the offset; real systems sometimes omit it). Returns a message on failure
// that names what is wrong (e.g. "month 13 out of range").
struct date_time_parse_result {
    std::optional<date_time> value;
    std::string error;  // empty on success
};
[[nodiscard]] date_time_parse_result parse_date_time(std::string_view text);

// Formats an instant as a FHIR instant with millisecond precision and "Z".
[[nodiscard]] std::string format_instant(instant at);
// Formats YYYY-MM-DD (UTC) of the instant.
[[nodiscard]] std::string format_date(instant at);

}  // namespace cds::fhir
