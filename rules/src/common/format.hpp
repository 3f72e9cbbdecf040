#pragma once
// Human-readable dates, ages and units for card text (CLINICAL-BASIS.md §5: "9 Mar 2026
// 06:40 UTC, 26 h ago"; "mL/min/1.73 m²"). The one formatter every card sentence uses, so no
// card shows an ISO-8601 timestamp or a UCUM annotation.
//
// Every word of it (month names, "just now", "ago", "days") is a configured text (the "dates",
// "ages" and "durations" groups of the rule configuration's texts); only the digits, the separators
// and the order of day, month and year are written here.
//
// Times are shown in UTC whatever offset the source wrote: the hook's time and every age are
// UTC (CLINICAL-BASIS.md §7 "Age is in completed years at the hook's date (UTC)"), and one
// zone on a card lets a prescriber compare two results at a glance. A value shows only what
// its precision has: "2025", "Mar 2025", "9 Mar 2026", "9 Mar 2026 06:40 UTC".

#include <string>
#include <string_view>

#include "cds/fhir/date_time.hpp"

namespace cds::rules {

struct lab_result;
struct rule_set_data;

enum class time_unit { hour, day, week, month };
// A count of a unit in words, singular for exactly 1: "1 day", "5 hours", "12 months".
[[nodiscard]] std::string duration_text(double count, time_unit unit, rule_set_data const& d);
// An age in completed hours, days (from 48 hours) or weeks (from 60 days): "5 hours", "3 days".
[[nodiscard]] std::string describe_age_hours(double hours, rule_set_data const& d);
// "2025", "Mar 2025", "9 Mar 2026", "9 Mar 2026 06:40 UTC".
[[nodiscard]] std::string format_card_date(fhir::date_time const& t, rule_set_data const& d);
// How long before `now` (UTC) a time was: "just now", "5 h ago", "3 days ago", "7 weeks ago",
// "in 2 h" for a time after `now`.
[[nodiscard]] std::string format_age(fhir::instant at, fhir::instant now, rule_set_data const& d);
// The date and, for a day or a time, its age: "9 Mar 2026 06:40 UTC, 26 h ago",
// "8 Mar 2026, 2 days ago", "Mar 2025". A day's age counts whole days between the dates.
[[nodiscard]] std::string format_when(fhir::date_time const& t,
                                      fhir::instant now,
                                      rule_set_data const& d);
// When a result was taken (its effective time at the precision its source wrote), with its age.
[[nodiscard]] std::string card_when(lab_result const& r, fhir::instant now, rule_set_data const& d);
// A UCUM unit as a prescriber writes it: annotations in braces are dropped, except the body
// surface area of an eGFR, written "1.73 m²" ("mL/min/{1.73_m2}" → "mL/min/1.73 m²").
[[nodiscard]] std::string format_unit(std::string_view ucum);

}  // namespace cds::rules
