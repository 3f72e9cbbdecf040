#include "trace/rule_entries.hpp"

#include "trace/record.hpp"

namespace cds::rules::trace {

namespace {

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
    auto& e = rc.trace.entries().emplace_back(std::string(r.id), "rule", std::move(message));
    e.section = trace_section::rule;
    e.decision = decision;
    return e;
}

// The fired rule's entry says which card it ended on, with that card's indicator.
void record_card_of(rule_context const& rc,
                    std::string_view rule_id,
                    std::string message,
                    std::string const& level) {
    for (auto& e : rc.trace.entries()) {
        if (e.section != trace_section::rule || e.decision != trace_decision::fired ||
            e.rule != rule_id)
            continue;
        e.message = std::move(message);
        for (auto& v : e.values)
            if (v.name == "indicator") v.value = level;
        return;
    }
}

}  // namespace

void record_rule_ran(rule_context const& rc, registered_rule const& r, card_draft const* card) {
    auto compared = r.conditions(rc);
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
    for (auto const& card : cards) {
        std::string const level = indicator_word(card.level);
        record_card_of(rc, card.rule_id, "fired: a " + level + " card", level);
        for (auto const& joined : card.joined_rules) {
            if (joined == card.rule_id) continue;
            record_card_of(rc, joined,
                           "fired: joined the " + level + " card of " + card.rule_id +
                               " (one card per problem)",
                           level);
        }
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
