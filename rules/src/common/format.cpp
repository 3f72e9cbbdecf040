#include "common/format.hpp"

#include <array>
#include <cmath>
#include <cstdio>

#include "common/text.hpp"
#include "findings.hpp"
#include "rule_set_data.hpp"

namespace cds::rules {

namespace {

constexpr std::array<char const*, 12> month_keys{
    "dates.jan", "dates.feb", "dates.mar", "dates.apr", "dates.may", "dates.jun",
    "dates.jul", "dates.aug", "dates.sep", "dates.oct", "dates.nov", "dates.dec"};

// Whole calendar days (UTC) from the day of `at` to the day of `now`.
long days_between_dates(fhir::instant at, fhir::instant now) {
    return static_cast<long>((date::floor<date::days>(now) - date::floor<date::days>(at)).count());
}

std::string days_ago(long days, rule_set_data const& d) {
    if (days == 0) return d.text("ages.today");
    if (days == 1) return d.text("ages.yesterday");
    if (days < 0)
        return fill(d.text("ages.in"),
                    {{"age", duration_text(static_cast<double>(-days), time_unit::day, d)}});
    std::string const age = days < 60
                                ? duration_text(static_cast<double>(days), time_unit::day, d)
                                : duration_text(static_cast<double>(days / 7), time_unit::week, d);
    return fill(d.text("ages.ago"), {{"age", age}});
}

}  // namespace

std::string duration_text(double count, time_unit unit, rule_set_data const& d) {
    static constexpr std::array<std::array<char const*, 2>, 4> keys{{
        {"durations.hour", "durations.hours"},
        {"durations.day", "durations.days"},
        {"durations.week", "durations.weeks"},
        {"durations.month", "durations.months"},
    }};
    auto const& pair = keys[static_cast<std::size_t>(unit)];
    return fill(d.text(count == 1 ? pair[0] : pair[1]), {{"n", format_number(count)}});
}

std::string describe_age_hours(double hours, rule_set_data const& d) {
    if (hours < 0) hours = 0;
    if (hours < 48) return duration_text(std::floor(hours), time_unit::hour, d);
    double const days = hours / 24;
    if (days < 60) return duration_text(std::floor(days), time_unit::day, d);
    return duration_text(std::floor(days / 7), time_unit::week, d);
}

std::string format_card_date(fhir::date_time const& t, rule_set_data const& d) {
    date::year_month_day const ymd{date::floor<date::days>(t.start)};
    std::string const year = std::to_string(static_cast<int>(ymd.year()));
    std::string const& month = d.text(month_keys[static_cast<unsigned>(ymd.month()) - 1]);
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
    return fill(d.text("dates.time"), {{"date", std::to_string(static_cast<unsigned>(ymd.day())) +
                                                    " " + month + " " + year},
                                       {"time", hm}});
}

std::string format_age(fhir::instant at, fhir::instant now, rule_set_data const& d) {
    auto const minutes = std::chrono::duration_cast<std::chrono::minutes>(now - at).count();
    // A few minutes either way is clock skew, not an age worth reading.
    if (minutes > -60 && minutes < 60) return d.text("ages.just_now");
    long const hours = static_cast<long>(minutes / 60);
    auto const short_hours = [&](long n) {
        return fill(d.text("ages.hours_short"), {{"n", std::to_string(n)}});
    };
    if (hours < 0) return fill(d.text("ages.in"), {{"age", short_hours(-hours)}});
    if (hours < 48) return fill(d.text("ages.ago"), {{"age", short_hours(hours)}});
    return days_ago(hours / 24, d);
}

std::string format_when(fhir::date_time const& t, fhir::instant now, rule_set_data const& d) {
    std::string const shown = format_card_date(t, d);
    switch (t.precision) {
        case fhir::date_precision::year:
        case fhir::date_precision::month:
            return shown;  // an age from a month or a year misleads
        case fhir::date_precision::day:
            return shown + ", " + days_ago(days_between_dates(t.start, now), d);
        case fhir::date_precision::second:
            break;
    }
    return shown + ", " + format_age(t.start, now, d);
}

std::string card_when(lab_result const& r, fhir::instant now, rule_set_data const& d) {
    if (r.obs) {
        if (auto const t = r.obs->result_time(); t && t->start == r.time)
            return format_when(*t, now, d);
    }
    return format_when(fhir::date_time{r.time, fhir::date_precision::second, true}, now, d);
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
        if (ucum[i] == '[') {
            // A customary unit's UCUM atom in plain words: "[lb_av]" → "lb", "[in_i]" → "in".
            std::size_t const close = ucum.find(']', i);
            if (close == std::string_view::npos) break;
            std::string_view const atom = ucum.substr(i + 1, close - i - 1);
            out += atom.substr(0, atom.find('_'));
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
