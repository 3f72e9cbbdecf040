#include <algorithm>

#include "common/decimal.hpp"
#include "common/text.hpp"
#include "findings/parts.hpp"

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

// The newest counted serum Mg result, its level and whether it is current or stale-low
// (CLINICAL-BASIS.md §1).
void assess_magnesium(patient_findings& f,
                      newest_results const& newest,
                      rule_set_data const& d,
                      std::vector<trace_entry>& trace) {
    auto const& latest = newest.of(obs_kind::magnesium_total);
    if (!latest) {
        note(trace, "magnesium", "no counted serum magnesium result");
        return;
    }
    auto& m = f.magnesium;
    m.latest = latest;
    m.level = classify_magnesium(m.latest->value, m.latest->comparator, d);
    m.current = m.latest->age_hours <= d.mg_current_hours;
    m.stale_low = !m.current && m.low() && m.latest->age_hours <= d.mg_stale_low_days * 24;
    static constexpr char const* level_names[] = {"severe", "mild-moderate", "normal", "high"};
    note(trace, m.latest->reference,
         "serum Mg " + comparator_text(m.latest->comparator) + format_number(m.latest->value) +
             " mg/dL: " + level_names[static_cast<int>(m.level)] +
             (m.current     ? ", current"
              : m.stale_low ? ", stale-low"
                            : ", not current") +
             " (" + describe_age_hours(m.latest->age_hours) + " old)");
}

}  // namespace findings
}  // namespace cds::rules
