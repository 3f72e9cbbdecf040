#include <algorithm>

#include "common/decimal.hpp"
#include "common/format.hpp"
#include "common/text.hpp"
#include "findings/parts.hpp"
#include "trace/record.hpp"

namespace cds::rules {

mg_level classify_magnesium(double v, fhir::quantity_comparator cmp, rule_set_data const& d) {
    using qc = fhir::quantity_comparator;
    // "<x": the true value is strictly below x, so x itself on a threshold falls below it.
    bool const below_strict = cmp == qc::less;
    bool const above_strict = cmp == qc::greater;
    auto const to_severe = compare_as_decimal(v, d.mg_severe_below);
    if (to_severe < 0 || (below_strict && to_severe == 0)) return mg_level::severe;
    auto const to_low = compare_as_decimal(v, d.mg_low_below);
    if (to_low < 0 || (below_strict && to_low == 0)) return mg_level::mild_moderate;
    auto const to_high = compare_as_decimal(v, d.mg_high_above);
    if (to_high > 0 || (above_strict && to_high == 0)) return mg_level::high;
    return mg_level::normal;
}

bool magnesium_comparator_classifies(double v,
                                     fhir::quantity_comparator cmp,
                                     rule_set_data const& d) {
    using qc = fhir::quantity_comparator;
    if (cmp == qc::greater || cmp == qc::greater_or_equal)
        return compare_as_decimal(v, d.mg_high_above) >= 0;
    if (cmp == qc::less || cmp == qc::less_or_equal)
        return compare_as_decimal(v, d.mg_low_below) <= 0;
    return true;
}

bool magnesium_status::any_within_days(fhir::instant now, double days) const {
    return std::any_of(result_times.begin(), result_times.end(), [&](fhir::instant t) {
        return findings::hours_between(t, now) <= days * 24;
    });
}

namespace findings {

namespace {

// The comparisons that placed a result in its band (CLINICAL-BASIS.md §1), as the trace shows
// them: the holds of each follow classify_magnesium, which also honours the comparator.
std::vector<trace_comparison> magnesium_band_comparisons(magnesium_status const& m,
                                                         rule_set_data const& d) {
    std::string const value_text = "serum magnesium " + comparator_text(m.latest->comparator) +
                                   format_number(m.latest->value, 4) + " mg/dL";
    return {
        trace::compare(value_text + " below the severe threshold", m.latest->value, "<",
                       d.mg_severe_below, "mg/dL", m.level == mg_level::severe),
        trace::compare(value_text + " below the low threshold", m.latest->value, "<",
                       d.mg_low_below, "mg/dL", m.low()),
        trace::compare(value_text + " above the high threshold", m.latest->value, ">",
                       d.mg_high_above, "mg/dL", m.level == mg_level::high),
        trace::compare("result age within the current window", m.latest->age_hours,
                       "<=", d.mg_current_hours, "h", m.current),
        trace::compare("result age within the stale-low window", m.latest->age_hours,
                       "<=", d.mg_stale_low_days * 24, "h",
                       m.latest->age_hours <= d.mg_stale_low_days * 24),
    };
}

}  // namespace

// The newest counted serum Mg result, its level and whether it is current or stale-low
// (CLINICAL-BASIS.md §1).
void assess_magnesium(patient_findings& f,
                      newest_results const& newest,
                      rule_set_data const& d,
                      trace_recorder trace) {
    auto const& latest = newest.of(obs_kind::magnesium_total);
    if (!latest) {
        if (trace)
            trace::about_value(trace, trace_section::magnesium, trace_decision::chosen, "magnesium",
                               "no counted serum magnesium result: magnesium unknown");
        return;
    }
    auto& m = f.magnesium;
    m.latest = latest;
    m.level = classify_magnesium(m.latest->value, m.latest->comparator, d);
    m.current = m.latest->age_hours <= d.mg_current_hours;
    m.stale_low = !m.current && m.low() && m.latest->age_hours <= d.mg_stale_low_days * 24;
    if (!trace) return;
    static constexpr char const* level_names[] = {"severe", "mild-moderate", "normal", "high"};
    char const* const level = level_names[static_cast<int>(m.level)];
    char const* const currency = m.current ? "current" : m.stale_low ? "stale-low" : "not current";
    auto const [type, id] = trace::split_reference(m.latest->reference);
    auto& e = trace::about_resource(
        trace, trace_section::magnesium, trace_decision::chosen, trace_reason::none, type, id,
        "serum Mg " + comparator_text(m.latest->comparator) + format_number(m.latest->value) +
            " mg/dL: " + level + ", " + currency + " (" +
            describe_age_hours(m.latest->age_hours, d) + " old); the newest of " +
            std::to_string(m.result_times.size()) + " counted result" +
            (m.result_times.size() == 1 ? "" : "s"));
    e.values = {trace::number("value", m.latest->value, "mg/dL"), trace::text("level", level),
                trace::text("currency", currency),
                trace::number("ageHours", m.latest->age_hours, "h"),
                trace::number("countedResults", static_cast<double>(m.result_times.size()))};
    if (m.latest->preliminary) e.values.push_back(trace::text("status", "preliminary"));
    e.compared = magnesium_band_comparisons(m, d);
}

}  // namespace findings
}  // namespace cds::rules
