// Rule: magnesium-sulfate-in-pregnancy (order-select, order-sign)     clinical-rules.md §4
// When continuous magnesium sulfate is ordered for a pregnant patient (active pregnancy
// Condition, or a pregnancy-status Observation "pregnant" in the last 9 months) for more
// than 5 days (from the order's bounds or expected supply duration, or because an active
// magnesium sulfate order was authored more than 5 days ago),
// Then warn.

#include <chrono>

#include "cards.hpp"
#include "common/text.hpp"

namespace cds::rules {

std::optional<card_draft> rule_magnesium_sulfate_in_pregnancy(rule_context const& rc) {
    auto const& f = rc.f;
    auto const& d = rc.d;
    if (!f.pregnant) return std::nullopt;
    auto is_sulfate = [](medication_exposure const& e) { return e.is(dc_mg_sulfate) && e.magnesium == mg_product::parenteral; };
    // Days an active (record) magnesium sulfate order has already run.
    double running_days = 0;
    std::string running_ref;
    for (auto const& e : f.exposures) {
        if (e.from_context || !is_sulfate(e) || !e.order->authored_on) continue;
        double const days = std::chrono::duration<double, std::ratio<86400>>(f.now - e.order->authored_on->start).count();
        if (days > running_days) { running_days = days; running_ref = e.reference; }
    }
    std::vector<medication_exposure const*> orders;
    double longest = 0;
    for (auto const* e : triggering_repletion_orders(rc)) {
        if (!is_sulfate(*e)) continue;
        double days = order_duration_days(*e->order, d).value_or(0);
        if (!e->from_context && e->order->authored_on) {
            days = std::max(days, std::chrono::duration<double, std::ratio<86400>>(f.now - e->order->authored_on->start).count());
        }
        days = std::max(days, running_days);
        if (days <= d.continuous_mgso4_max_days) continue;
        orders.push_back(e);
        longest = std::max(longest, days);
    }
    if (orders.empty()) return std::nullopt;
    card_draft c;
    c.rule_id = "magnesium-sulfate-in-pregnancy";
    c.level = indicator::warning;
    c.sort_key = orders.front()->reference;
    c.summary = fill(d.rule(c.rule_id).summary, {{"days", format_number(longest, 0)}, {"max", format_number(d.continuous_mgso4_max_days)},
                                                 {"drug", drug_summary_name(orders)}});
    c.detail.push_back("Magnesium sulfate ordered: " + drugs_text(orders) + ", continuous for about " + format_number(longest, 1) +
                       " days" + (running_ref.empty() ? std::string() : " (counting the active order " + running_ref + ")") +
                       ". Pregnancy: " + f.pregnancy_evidence + ".");
    c.detail.push_back("Continuous magnesium sulfate in pregnancy for more than " + format_number(d.continuous_mgso4_max_days) +
                       " days can harm the fetus (low calcium and bone problems): use the shortest duration needed.");
    rc.note(c.rule_id, orders.front()->reference, "fires: > " + format_number(d.continuous_mgso4_max_days) + " days in pregnancy");
    return c;
}

}  // namespace cds::rules
