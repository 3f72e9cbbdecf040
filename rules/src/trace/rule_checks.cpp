#include "trace/rule_checks.hpp"

#include <algorithm>
#include <chrono>

#include "common/decimal.hpp"
#include "common/text.hpp"
#include "trace/record.hpp"

namespace cds::rules::trace {

namespace {

using conditions = std::vector<trace_comparison>;

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

// Hours since the newest counted serum Mg (any level), nullopt when there is none.
std::optional<double> hours_since_newest_mg(rule_context const& rc) {
    auto const& times = rc.f.magnesium.result_times;
    if (times.empty()) return std::nullopt;
    auto const newest = *std::max_element(times.begin(), times.end());
    return std::chrono::duration<double, std::ratio<3600>>(rc.f.now - newest).count();
}

trace_comparison no_mg_within(rule_context const& rc, std::string what, double days) {
    auto const hours = hours_since_newest_mg(rc);
    return compare(std::move(what), hours ? std::optional<double>(*hours / 24) : std::nullopt, ">",
                   days, "d", !rc.f.magnesium.any_within_days(rc.f.now, days),
                   hours ? std::string() : "no counted serum magnesium result");
}

std::optional<double> renal_estimate(rule_context const& rc) {
    auto const& used = rc.f.renal.used;
    return used ? std::optional<double>(used->ml_min) : std::nullopt;
}

std::string renal_note(rule_context const& rc) {
    if (rc.f.renal.ckd5) return "CKD stage 5 / dialysis Condition: contraindicated band";
    if (!rc.f.renal.used) return "no renal estimate: band unknown";
    return {};
}

// The level a monitoring card would suggest is not ordered already (§3.3).
trace_comparison no_mg_level_ordered(rule_context const& rc) {
    auto const* o = level_ordered_now(rc.f, level_kind::magnesium, rc.d);
    return condition("no serum magnesium level ordered for now", o == nullptr,
                     o ? o->reference : std::string());
}

conditions hypomagnesemia(rule_context const& rc) {
    return {mg_known(rc), mg_low(rc), mg_current(rc)};
}

conditions stale_low(rule_context const& rc) {
    auto const& m = rc.f.magnesium;
    return {mg_known(rc), mg_low(rc),
            compare("serum magnesium result older than the current window", mg_age_hours(rc), ">",
                    rc.d.mg_current_hours, "h", m.latest && !m.current),
            compare("serum magnesium result within the stale-low window", mg_age_hours(rc),
                    "<=", rc.d.mg_stale_low_days * 24, "h",
                    m.latest && m.latest->age_hours <= rc.d.mg_stale_low_days * 24),
            no_mg_level_ordered(rc)};
}

conditions low_with(rule_context const& rc, std::string what, std::uint32_t classes) {
    return {mg_known(rc), mg_low(rc), mg_current(rc),
            ordered(std::move(what), triggering(rc, classes))};
}

conditions wasting_monitoring(rule_context const& rc) {
    bool const patient_view = rc.hook.hook == "patient-view";
    std::vector<medication_exposure const*> wasting, high_risk;
    for (auto const& e : rc.f.exposures) {
        if (!e.is(dc_wasting) || (patient_view ? e.from_context : !e.trigger)) continue;
        wasting.push_back(&e);
        if (e.is(dc_high_risk)) high_risk.push_back(&e);
    }
    conditions out{ordered(patient_view ? "a magnesium-wasting drug in the record"
                                        : "a magnesium-wasting drug ordered",
                           wasting)};
    if (!high_risk.empty()) {
        out.push_back(no_mg_within(rc, "days since the newest serum magnesium (high-risk drug)",
                                   rc.d.mg_monitoring_high_risk_days));
    }
    if (high_risk.size() < wasting.size() || wasting.empty()) {
        out.push_back(
            no_mg_within(rc, "days since the newest serum magnesium", rc.d.mg_monitoring_days));
    }
    out.push_back(no_mg_level_ordered(rc));
    return out;
}

conditions renal_contraindicated(rule_context const& rc) {
    return {compare("renal function below the severely impaired band", renal_estimate(rc), "<",
                    rc.d.band_min[2], "mL/min", rc.f.renal.band == renal_band::contraindicated,
                    renal_note(rc)),
            ordered("magnesium repletion ordered", triggering_repletion_orders(rc))};
}

conditions renal_severely_impaired(rule_context const& rc) {
    auto const v = renal_estimate(rc);
    bool const in_band = rc.f.renal.band == renal_band::severely_impaired;
    return {
        compare("renal function at or above the severely impaired band", v, ">=", rc.d.band_min[2],
                "mL/min", v && compare_as_decimal(*v, rc.d.band_min[2]) >= 0 && !rc.f.renal.ckd5,
                renal_note(rc)),
        compare("renal function below the impaired band", v, "<", rc.d.band_min[1], "mL/min",
                in_band || (v && compare_as_decimal(*v, rc.d.band_min[1]) < 0)),
        ordered("magnesium repletion ordered", triggering_repletion_orders(rc))};
}

conditions repletion_hypermagnesemia(rule_context const& rc) {
    return {mg_known(rc),
            compare("serum magnesium above the high threshold", mg_value(rc), ">",
                    rc.d.mg_high_above, "mg/dL", rc.f.magnesium.level == mg_level::high),
            mg_current(rc),
            ordered("magnesium repletion ordered", triggering_repletion_orders(rc))};
}

conditions repletion_without_deficiency(rule_context const& rc) {
    bool const normal = rc.f.magnesium.latest && rc.f.magnesium.level == mg_level::normal;
    return {
        mg_known(rc),
        compare("serum magnesium at or above the low threshold", mg_value(rc),
                ">=", rc.d.mg_low_below, "mg/dL", rc.f.magnesium.latest && !rc.f.magnesium.low()),
        compare("serum magnesium at or below the high threshold", mg_value(rc),
                "<=", rc.d.mg_high_above, "mg/dL", normal),
        mg_current(rc), ordered("magnesium repletion ordered", triggering_repletion_orders(rc))};
}

conditions repletion_without_recent_level(rule_context const& rc) {
    return {
        no_mg_within(rc, "days since the newest serum magnesium", rc.d.mg_before_repletion_days),
        ordered("magnesium repletion ordered", triggering_repletion_orders(rc)),
        no_mg_level_ordered(rc)};
}

conditions iv_rate(rule_context const& rc) {
    std::vector<medication_exposure const*> infused;
    conditions out;
    for (auto const* e : triggering_repletion_orders(rc)) {
        if (e->route == route_kind::oral || e->route == route_kind::intramuscular) continue;
        infused.push_back(e);
        auto const rate = iv_rate_mg_per_min(*e->order, rc.d);
        out.push_back(compare("infusion rate of " + e->reference, rate, ">",
                              rc.d.iv_rate_max_mg_per_min, "mg/min",
                              rate && *rate > rc.d.iv_rate_max_mg_per_min,
                              rate ? std::string() : "rate not computable"));
    }
    out.insert(out.begin(), ordered("IV magnesium ordered", infused));
    return out;
}

// The continuous magnesium sulfate orders the rule reads, with the days each runs.
conditions sulfate_in_pregnancy(rule_context const& rc) {
    auto const& f = rc.f;
    conditions out{condition("pregnant", f.pregnant, f.pregnancy_evidence)};
    bool const patient_view = rc.hook.hook == "patient-view";
    std::vector<medication_exposure const*> continuous;
    for (auto const& e : f.exposures) {
        if (patient_view ? e.from_context : !e.trigger) continue;
        if (!e.is(dc_mg_sulfate) || e.magnesium != mg_product::parenteral ||
            !runs_continuously(*e.order, rc.d))
            continue;
        continuous.push_back(&e);
        if (auto const days = order_duration_days(*e.order, rc.d)) {
            out.push_back(compare("intended duration of " + e.reference, *days, ">",
                                  rc.d.continuous_mgso4_max_days, "d",
                                  *days > rc.d.continuous_mgso4_max_days,
                                  "an active order's days since authored count too"));
        }
    }
    out.insert(out.begin() + 1,
               ordered("continuous magnesium sulfate (IV/IM) ordered", continuous));
    return out;
}

bool oral_antibiotic(medication_exposure const& e) {
    return e.is(dc_fluoroquinolone | dc_tetracycline) && e.oral();
}
bool oral_magnesium(medication_exposure const& e) {
    return (e.magnesium == mg_product::oral_repletion || e.magnesium == mg_product::laxative) &&
           e.oral();
}

// An antibiotic ordered meets any oral magnesium; magnesium ordered meets an antibiotic that is
// active or ordered with it.
conditions chelation(rule_context const& rc) {
    std::vector<medication_exposure const*> antibiotic_ordered, magnesium_ordered, antibiotics,
        magnesium;
    for (auto const& e : rc.f.exposures) {
        if (oral_antibiotic(e) && e.trigger) antibiotic_ordered.push_back(&e);
        if (oral_magnesium(e) && e.trigger) magnesium_ordered.push_back(&e);
        if (oral_antibiotic(e) && (e.trigger || !e.from_context)) antibiotics.push_back(&e);
        if (oral_magnesium(e)) magnesium.push_back(&e);
    }
    bool const antibiotic_meets_magnesium = !antibiotic_ordered.empty() && !magnesium.empty();
    bool const magnesium_meets_antibiotic = !magnesium_ordered.empty() && !antibiotics.empty();
    std::string note = "antibiotic ordered: " + references_of(antibiotic_ordered) +
                       "; oral magnesium ordered: " + references_of(magnesium_ordered) +
                       "; antibiotic active or ordered: " + references_of(antibiotics) +
                       "; oral magnesium: " + references_of(magnesium);
    return {
        condition("oral fluoroquinolone or tetracycline with oral magnesium, one of them "
                  "ordered",
                  antibiotic_meets_magnesium || magnesium_meets_antibiotic, std::move(note))};
}

struct rule_conditions_entry {
    std::string_view id;
    conditions (*of)(rule_context const&);
};

constexpr rule_conditions_entry table[] = {
    {"hypomagnesemia", hypomagnesemia},
    {"stale-low-magnesium", stale_low},
    {"wasting-drug-with-hypomagnesemia",
     [](rule_context const& rc) {
         return low_with(rc, "magnesium-wasting drug ordered", dc_wasting);
     }},
    {"wasting-drug-monitoring", wasting_monitoring},
    {"repletion-renal-contraindicated", renal_contraindicated},
    {"repletion-renal-severely-impaired", renal_severely_impaired},
    {"repletion-hypermagnesemia", repletion_hypermagnesemia},
    {"repletion-without-deficiency", repletion_without_deficiency},
    {"repletion-without-recent-level", repletion_without_recent_level},
    {"iv-magnesium-rate", iv_rate},
    {"magnesium-sulfate-in-pregnancy", sulfate_in_pregnancy},
    {"potassium-with-hypomagnesemia",
     [](rule_context const& rc) {
         return low_with(rc, "potassium replacement ordered", dc_potassium);
     }},
    {"digoxin-with-hypomagnesemia",
     [](rule_context const& rc) { return low_with(rc, "digoxin ordered", dc_digoxin); }},
    {"oral-magnesium-chelation", chelation},
};

rule_conditions_entry const* find_conditions(std::string_view id) {
    auto const it = std::find_if(std::begin(table), std::end(table),
                                 [&](rule_conditions_entry const& e) { return e.id == id; });
    return it == std::end(table) ? nullptr : &*it;
}

std::string hooks_text(unsigned hooks) {
    std::string out;
    for (auto const* name : {"patient-view", "order-select", "order-sign"}) {
        if ((hooks & hook_bit_of(name)) == 0) continue;
        if (!out.empty()) out += ", ";
        out += name;
    }
    return out;
}

trace_entry& rule_entry(rule_context const& rc,
                        registered_rule const& r,
                        trace_decision decision,
                        std::string message) {
    auto& e = rc.trace.emplace_back(std::string(r.id), "rule", std::move(message));
    e.section = trace_section::rule;
    e.decision = decision;
    return e;
}

}  // namespace

std::vector<trace_comparison> rule_conditions(std::string_view rule_id, rule_context const& rc) {
    auto const* entry = find_conditions(rule_id);
    return entry ? entry->of(rc) : std::vector<trace_comparison>{};
}

bool has_rule_conditions(std::string_view rule_id) { return find_conditions(rule_id) != nullptr; }

void record_rule_ran(rule_context const& rc, registered_rule const& r, card_draft const* card) {
    auto compared = rule_conditions(r.id, rc);
    std::string message;
    if (card) {
        message = std::string("fired: a ") + indicator_word(card->level) + " card";
    } else {
        std::string unmet;
        for (auto const& c : compared) {
            if (c.holds) continue;
            if (!unmet.empty()) unmet += "; ";
            unmet += c.what;
        }
        message = unmet.empty() ? "did not fire: every order it would warn about was exempt or "
                                  "already correct (see this rule's notes)"
                                : "did not fire: not met: " + unmet;
    }
    auto& e = rule_entry(rc, r, card ? trace_decision::fired : trace_decision::not_fired,
                         std::move(message));
    if (card) e.values.push_back(text("indicator", indicator_word(card->level)));
    e.compared = std::move(compared);
}

void record_final_cards(rule_context const& rc, std::vector<card_draft> const& cards) {
    // One card per problem (CLINICAL-BASIS.md §5): a rule whose part joined another rule's card
    // is reported with that card, and every fired rule with its card's final indicator.
    card_draft const* problem_card = nullptr;
    for (auto const& c : cards)
        if (c.part_of == problem::current_hypomagnesemia) problem_card = &c;
    for (auto& e : rc.trace) {
        if (e.section != trace_section::rule || e.decision != trace_decision::fired) continue;
        auto const own = std::find_if(cards.begin(), cards.end(),
                                      [&](card_draft const& c) { return c.rule_id == e.rule; });
        card_draft const* card = own != cards.end() ? &*own : problem_card;
        if (card == nullptr) continue;
        std::string const level = indicator_word(card->level);
        e.message = own != cards.end() ? "fired: a " + level + " card"
                                       : "fired: joined the " + level + " card of " +
                                             card->rule_id + " (one card per problem)";
        for (auto& v : e.values)
            if (v.name == "indicator") v.value = level;
    }
}

void record_rule_disabled(rule_context const& rc, registered_rule const& r) {
    rule_entry(rc, r, trace_decision::disabled, "disabled in the rule set (\"enabled\": false)");
}

void record_rule_not_run(rule_context const& rc, registered_rule const& r) {
    rule_entry(rc, r, trace_decision::not_run,
               "not run on " + rc.hook.hook + " (runs on " + hooks_text(r.hooks) + ")");
}

}  // namespace cds::rules::trace
