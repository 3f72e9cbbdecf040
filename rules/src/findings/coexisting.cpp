#include "common/decimal.hpp"
#include "findings/parts.hpp"

namespace cds::rules::findings {

// Potassium, calcium, QTc and weight count only while current, each with its own window.
void read_coexisting(patient_findings& f, newest_results const& newest, rule_set_data const& d) {
    auto current = [&](obs_kind k, double hours) -> std::optional<lab_result> {
        auto const& r = newest.of(k);
        if (!r || r->age_hours > hours) return std::nullopt;
        return r;
    };
    f.potassium = current(obs_kind::potassium, d.coexisting_current_hours);
    f.calcium_total = current(obs_kind::calcium_total, d.coexisting_current_hours);
    f.calcium_ionized = current(obs_kind::calcium_ionized, d.coexisting_current_hours);
    f.qtc = current(obs_kind::qtc, d.qtc_current_hours);
    f.weight = current(obs_kind::body_weight, d.weight_max_age_days * 24);
    f.hypokalemia =
        f.potassium && compare_as_decimal(f.potassium->value, d.potassium_low_below) < 0;
    f.hypocalcemia = (f.calcium_total &&
                      compare_as_decimal(f.calcium_total->value, d.calcium_total_low_below) < 0) ||
                     (f.calcium_ionized && compare_as_decimal(f.calcium_ionized->value,
                                                              d.calcium_ionized_low_below) < 0);
}

}  // namespace cds::rules::findings
