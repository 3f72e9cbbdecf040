#include "trace/conditions.hpp"

#include <algorithm>
#include <chrono>

#include "trace/record.hpp"

namespace cds::rules::trace {

std::string references_of(std::vector<medication_exposure const*> const& orders) {
    std::string refs;
    for (auto const* e : orders) {
        if (!refs.empty()) refs += ", ";
        refs += e->reference;
    }
    return refs;
}

trace_comparison ordered(std::string what, std::vector<medication_exposure const*> const& orders) {
    return condition(std::move(what), !orders.empty(), references_of(orders));
}

trace_comparison mg_known(rule_context const& rc) {
    return condition("a counted serum magnesium result", rc.f.magnesium.latest.has_value());
}

std::optional<double> mg_value(rule_context const& rc) {
    auto const& m = rc.f.magnesium;
    return m.latest ? std::optional<double>(m.latest->value) : std::nullopt;
}

std::optional<double> mg_age_hours(rule_context const& rc) {
    auto const& m = rc.f.magnesium;
    return m.latest ? std::optional<double>(m.latest->age_hours) : std::nullopt;
}

trace_comparison mg_low(rule_context const& rc) {
    return compare("serum magnesium below the low threshold", mg_value(rc), "<", rc.d.mg_low_below,
                   "mg/dL", rc.f.magnesium.low());
}

trace_comparison mg_current(rule_context const& rc) {
    return compare("serum magnesium result within the current window", mg_age_hours(rc),
                   "<=", rc.d.mg_current_hours, "h",
                   rc.f.magnesium.latest && rc.f.magnesium.current);
}

namespace {

// Hours since the newest counted serum Mg (any level), nullopt when there is none.
std::optional<double> hours_since_newest_mg(rule_context const& rc) {
    auto const& times = rc.f.magnesium.result_times;
    if (times.empty()) return std::nullopt;
    auto const newest = *std::max_element(times.begin(), times.end());
    return std::chrono::duration<double, std::ratio<3600>>(rc.f.now - newest).count();
}

}  // namespace

trace_comparison no_mg_within(rule_context const& rc, std::string what, double days) {
    auto const hours = hours_since_newest_mg(rc);
    return compare(std::move(what), hours ? std::optional<double>(*hours / 24) : std::nullopt, ">",
                   days, "d", !rc.f.magnesium.any_within_days(rc.f.now, days),
                   hours ? std::string() : "no counted serum magnesium result");
}

std::vector<trace_comparison> low_magnesium_with(rule_context const& rc,
                                                 std::string what,
                                                 std::uint32_t classes) {
    return {mg_known(rc), mg_low(rc), mg_current(rc),
            ordered(std::move(what), triggering(rc, classes))};
}

std::optional<double> renal_estimate_ml_min(rule_context const& rc) {
    auto const& used = rc.f.renal.used;
    return used ? std::optional<double>(used->ml_min) : std::nullopt;
}

std::string renal_note(rule_context const& rc) {
    if (rc.f.renal.ckd5) return "CKD stage 5 / dialysis Condition: contraindicated band";
    if (!rc.f.renal.used) return "no renal estimate: band unknown";
    return {};
}

trace_comparison no_mg_level_ordered(rule_context const& rc) {
    auto const* o = level_ordered_now(rc.f, level_kind::magnesium, rc.d);
    return condition("no serum magnesium level ordered for now", o == nullptr,
                     o ? o->reference : std::string());
}

}  // namespace cds::rules::trace
