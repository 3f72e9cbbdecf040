#include "common/format.hpp"

#include <array>
#include <cstdio>

#include "findings.hpp"

namespace cds::rules {

namespace {

constexpr std::array<char const*, 12> month_names{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::string plural(long n, char const* unit) {
    return std::to_string(n) + " " + unit + (n == 1 ? "" : "s");
}

// Whole calendar days (UTC) from the day of `at` to the day of `now`.
long days_between_dates(fhir::instant at, fhir::instant now) {
    return static_cast<long>((date::floor<date::days>(now) - date::floor<date::days>(at)).count());
}

std::string days_ago(long days) {
    if (days == 0) return "today";
    if (days == 1) return "yesterday";
    if (days < 0) return "in " + plural(-days, "day");
    if (days < 60) return plural(days, "day") + " ago";
    return plural(days / 7, "week") + " ago";
}

}  // namespace

std::string format_card_date(fhir::date_time const& t) {
    date::year_month_day const ymd{date::floor<date::days>(t.start)};
    std::string const year = std::to_string(static_cast<int>(ymd.year()));
    std::string const month = month_names[static_cast<unsigned>(ymd.month()) - 1];
    switch (t.precision) {
        case fhir::date_precision::year:
            return year;
        case fhir::date_precision::month:
            return month + " " + year;
        case fhir::date_precision::day:
            return std::to_string(static_cast<unsigned>(ymd.day())) + " " + month + " " + year;
        case fhir::date_precision::second:
            break;
    }
    date::hh_mm_ss const tod{
        date::floor<std::chrono::minutes>(t.start - date::floor<date::days>(t.start))};
    char hm[8];
    std::snprintf(hm, sizeof hm, "%02d:%02d", static_cast<int>(tod.hours().count()),
                  static_cast<int>(tod.minutes().count()));
    return std::to_string(static_cast<unsigned>(ymd.day())) + " " + month + " " + year + " " + hm +
           " UTC";
}

std::string format_age(fhir::instant at, fhir::instant now) {
    auto const minutes = std::chrono::duration_cast<std::chrono::minutes>(now - at).count();
    // A few minutes either way is clock skew, not an age worth reading.
    if (minutes > -60 && minutes < 60) return "just now";
    long const hours = static_cast<long>(minutes / 60);
    if (hours < 0) return "in " + std::to_string(-hours) + " h";
    if (hours < 48) return std::to_string(hours) + " h ago";
    return days_ago(hours / 24);
}

std::string format_when(fhir::date_time const& t, fhir::instant now) {
    std::string const shown = format_card_date(t);
    switch (t.precision) {
        case fhir::date_precision::year:
        case fhir::date_precision::month:
            return shown;  // an age from a month or a year misleads
        case fhir::date_precision::day:
            return shown + ", " + days_ago(days_between_dates(t.start, now));
        case fhir::date_precision::second:
            break;
    }
    return shown + ", " + format_age(t.start, now);
}

std::string card_when(lab_result const& r, fhir::instant now) {
    if (r.obs) {
        if (auto const t = r.obs->result_time(); t && t->start == r.time)
            return format_when(*t, now);
    }
    return format_when(fhir::date_time{r.time, fhir::date_precision::second, true}, now);
}

std::string format_unit(std::string_view ucum) {
    std::string out;
    std::size_t i = 0;
    while (i < ucum.size()) {
        if (ucum[i] == '{') {
            std::size_t const close = ucum.find('}', i);
            if (close == std::string_view::npos) break;  // an unclosed annotation: drop the rest
            std::string_view const note = ucum.substr(i + 1, close - i - 1);
            if (note == "1.73_m2" || note == "1.73m2" || note == "1.73.m2") out += "1.73 m²";
            i = close + 1;
            continue;
        }
        out += ucum[i];
        ++i;
    }
    // The body surface area written without braces ("mL/min/1.73m2", UCUM "1.73.m2").
    for (std::string_view const bare : {"1.73m2", "1.73.m2"}) {
        if (auto const at = out.find(bare); at != std::string::npos)
            out.replace(at, bare.size(), "1.73 m²");
    }
    // Drop the separator an annotation leaves behind ("mg/{dose}" → "mg").
    while (!out.empty() && (out.back() == '/' || out.back() == '.')) out.pop_back();
    return out;
}

}  // namespace cds::rules
