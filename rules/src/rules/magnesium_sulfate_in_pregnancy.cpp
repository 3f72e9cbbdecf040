// Rule: magnesium-sulfate-in-pregnancy (all hooks)                  CLINICAL-BASIS.md §4, §7
// When continuous magnesium sulfate (IV/IM, running over more than 1 hour or repeated; a
// single dose over 1 hour or less is a bolus) is ordered for a pregnant patient (active
// pregnancy Condition, or a pregnancy-status Observation "pregnant" in the last 9 months)
// for more than 5 days (from the order's bounds or expected supply duration, or because an
// active continuous order was authored more than 5 days ago),
// Then warn. Patient-view looks at the active orders; order-select and order-sign at the
// triggering orders. An active order gets no suggestion: its detail says what to review.

#include <algorithm>
#include <chrono>

#include "cards.hpp"
#include "common/text.hpp"
#include "trace/conditions.hpp"
#include "trace/record.hpp"

namespace cds::rules {

namespace {

bool continuous_sulfate(medication_exposure const& e, rule_set_data const& d) {
    return e.is(dc_mg_sulfate) && e.magnesium == mg_product::parenteral &&
           runs_continuously(*e.order, d);
}

double days_since_authored(medication_exposure const& e, fhir::instant now) {
    if (e.from_context || !e.order->authored_on) return 0;
    return std::chrono::duration<double, std::ratio<86400>>(now - e.order->authored_on->start)
        .count();
}

}  // namespace

std::optional<card_draft> rule_magnesium_sulfate_in_pregnancy(rule_context const& rc) {
    auto const& f = rc.f;
    auto const& d = rc.d;
    if (!f.pregnant) return std::nullopt;
    bool const patient_view = rc.hook.hook == "patient-view";
    // Days an active (record) continuous magnesium sulfate order has already run.
    double running_days = 0;
    std::string running_ref;
    for (auto const& e : f.exposures) {
        if (e.from_context || !continuous_sulfate(e, d)) continue;
        if (double const days = days_since_authored(e, f.now); days > running_days) {
            running_days = days;
            running_ref = e.reference;
        }
    }
    std::vector<medication_exposure const*> orders;
    double longest = 0;
    for (auto const& e : f.exposures) {
        if (patient_view ? e.from_context : !e.trigger) continue;
        if (!continuous_sulfate(e, d)) continue;
        double const days = std::max({order_duration_days(*e.order, d).value_or(0),
                                      days_since_authored(e, f.now), running_days});
        if (days <= d.continuous_mgso4_max_days) continue;
        orders.push_back(&e);
        longest = std::max(longest, days);
    }
    if (orders.empty()) return std::nullopt;
    // The active order is named apart only when it is not itself the order on the card.
    if (orders.size() == 1 && orders.front()->reference == running_ref) running_ref.clear();
    card_draft c;
    c.rule_id = "magnesium-sulfate-in-pregnancy";
    c.level = indicator::warning;
    c.sort_key = orders.front()->reference;
    c.references = evidence_references(rc, orders);
    c.summary =
        fill(d.rule(c.rule_id).summary, {{"days", format_number(longest, 0)},
                                         {"max", format_number(d.continuous_mgso4_max_days)},
                                         {"drug", drug_summary_name(rc, orders)}});
    c.detail.push_back(
        fill(d.text(running_ref.empty() ? "pregnancy_ordered" : "pregnancy_ordered_with_active"),
             {{"drugs", drugs_text(rc, orders)},
              {"days", format_number(longest, 1)},
              {"evidence", f.pregnancy_evidence}}));
    c.detail.push_back(
        fill(d.text("pregnancy_harm"), {{"max", format_number(d.continuous_mgso4_max_days)}}));
    if (patient_view || !running_ref.empty())
        c.detail.push_back(fill(d.text("pregnancy_active_review"),
                                {{"max", format_number(d.continuous_mgso4_max_days)}}));
    // A draft is bounded to the maximum (CLINICAL-BASIS.md §3.4); an active order is reviewed
    // (the detail above, also when a draft continues it).
    for (auto const* e : orders) {
        if (auto s = limit_duration_suggestion(rc, *e, d.continuous_mgso4_max_days))
            c.suggestions.push_back(std::move(*s));
    }
    return c;
}

// The conditions the explain trace shows for this rule: what it compares, and with what.
std::vector<trace_comparison> rule_magnesium_sulfate_in_pregnancy_conditions(
    rule_context const& rc) {
    auto const& f = rc.f;
    std::vector<trace_comparison> out{
        trace::condition("pregnant", f.pregnant, f.pregnancy_evidence)};
    bool const patient_view = rc.hook.hook == "patient-view";
    std::vector<medication_exposure const*> continuous;
    for (auto const& e : f.exposures) {
        if (patient_view ? e.from_context : !e.trigger) continue;
        if (!continuous_sulfate(e, rc.d)) continue;
        continuous.push_back(&e);
        if (auto const days = order_duration_days(*e.order, rc.d)) {
            out.push_back(trace::compare("intended duration of " + e.reference, *days, ">",
                                         rc.d.continuous_mgso4_max_days, "d",
                                         *days > rc.d.continuous_mgso4_max_days,
                                         "an active order's days since authored count too"));
        }
    }
    out.insert(out.begin() + 1,
               trace::ordered("continuous magnesium sulfate (IV/IM) ordered", continuous));
    return out;
}

}  // namespace cds::rules
