#include "cds/rules/evaluate.hpp"

#include <algorithm>

#include "cards.hpp"
#include "common/text.hpp"
#include "findings/parts.hpp"
#include "registry.hpp"
#include "trace/rule_entries.hpp"

namespace cds::rules {

namespace bj = boost::json;

namespace {

std::string join_detail(std::vector<std::string> const& blocks) {
    std::string out;
    for (auto const& b : blocks) {
        if (b.empty()) continue;
        if (!out.empty()) out += "\n\n";
        out += b;
    }
    return out;
}

// The detail opens with the recommendation (CLINICAL-BASIS.md §5): the action of the summary,
// which every summary states after its finding ("Mg 1.5 mg/dL (mild–moderate): give …").
void lead_with_recommendation(card_draft& c, rule_set_data const& d) {
    auto const colon = c.summary.find(": ");
    if (colon == std::string::npos || colon + 2 >= c.summary.size()) return;
    std::string action = c.summary.substr(colon + 2);
    if (action.front() >= 'a' && action.front() <= 'z')
        action.front() = static_cast<char>(action.front() - 'a' + 'A');
    c.detail.insert(c.detail.begin(), fill(d.text("recommendation"), {{"action", action}}));
}

// Consumes the draft: its texts and suggestion resources move into the card.
bj::object card_json(card_draft&& c, rule_context const& rc, uuid_source const& next_uuid) {
    auto const& d = rc.d;
    auto const& text = d.rule(c.rule_id);
    auto const& sp = rc.json_storage;
    bj::object card(9, sp);
    card["uuid"] = next_uuid();
    card["summary"] = clip_summary(c.summary);
    card["indicator"] = indicator_word(c.level);

    card["detail"] = join_detail(c.detail);

    card["source"] = text.card_source;

    if (!c.suggestions.empty()) {
        bj::array suggestions(sp);
        suggestions.reserve(c.suggestions.size());
        for (auto& s : c.suggestions) {
            bj::object so(4, sp);
            so["label"] = s.label;
            so["uuid"] = next_uuid();
            so["isRecommended"] = s.recommended;
            bj::array actions(sp);
            actions.reserve(s.actions.size());
            for (auto& a : s.actions) actions.push_back(std::move(a));
            so["actions"] = std::move(actions);
            suggestions.push_back(std::move(so));
        }
        card["suggestions"] = std::move(suggestions);
        // Alternatives (oral vs organic salt, repletion vs switching the PPI) are exclusive.
        card["selectionBehavior"] = "at-most-one";
    }

    if (!text.override_reasons_json.empty()) card["overrideReasons"] = text.override_reasons_json;

    // Provenance for machines (CLINICAL-BASIS.md §5): the rule set and the resources used.
    bj::object extension(text.card_extension, sp);
    if (auto* mine = extension.if_contains("magnesium-cds"); mine && mine->is_object()) {
        bj::array used(sp);
        for (auto const& ref : c.references) {
            bj::object item(1, sp);
            item["reference"] = ref;
            used.push_back(std::move(item));
        }
        mine->as_object()["evidence"] = std::move(used);
    }
    card["extension"] = std::move(extension);
    return card;
}

// Places a shared suggestion set on the most severe card that asks for it; the others
// say where to find it (CLINICAL-BASIS.md §5: no two cards suggest the same order).
void place_shared(std::vector<card_draft>& cards,
                  shared_suggestion kind,
                  std::vector<suggestion_draft> suggestions,
                  rule_context const& rc) {
    card_draft* host = nullptr;
    for (auto& c : cards) {
        if (c.wants != kind) continue;
        if (!host || c.level > host->level ||
            (c.level == host->level && rule_rank(c.rule_id) < rule_rank(host->rule_id)))
            host = &c;
    }
    if (!host || suggestions.empty()) return;
    // The host's own suggestions (e.g. the PPI switch) come after the shared ones.
    std::vector<suggestion_draft> merged = std::move(suggestions);
    merged.reserve(merged.size() + host->suggestions.size());
    for (auto& s : host->suggestions) merged.push_back(std::move(s));
    host->suggestions = std::move(merged);
    for (auto& c : cards) {
        if (&c == host || c.wants != kind) continue;
        c.detail.push_back(
            fill(rc.d.text(kind == shared_suggestion::repletion ? "refer_to_repletion"
                                                                : "refer_to_level"),
                 {{"card", host->summary}}));
    }
    if (rc.trace) {
        rc.note("evaluate", host->rule_id,
                kind == shared_suggestion::repletion ? "carries the repletion suggestions"
                                                     : "carries the level suggestion");
        rc.trace.entries().back().section = trace_section::cards;
    }
}

}  // namespace

evaluation_result evaluate(fhir::patient_snapshot const& snapshot,
                           hook_context const& context,
                           rule_set const& rules,
                           uuid_source const& next_uuid) {
    return evaluate(snapshot, context, rules, next_uuid, boost::json::storage_ptr());
}

evaluation_result evaluate(fhir::patient_snapshot const& snapshot,
                           hook_context const& context,
                           rule_set const& rules,
                           uuid_source const& next_uuid,
                           boost::json::storage_ptr storage) {
    evaluation_result result{bj::array(storage), {}};
    auto const& d = rules.data();
    trace_recorder const trace =
        context.record_trace ? trace_recorder(result.trace) : trace_recorder();
    patient_findings const f = build_findings(snapshot, context, d, trace);
    rule_context const rc{f, context, d, trace, std::move(storage), {}};

    // The registry's order is the evaluation order (the order of the trace); the cards are
    // sorted below by indicator and then by each rule's rank.
    std::vector<card_draft> cards;
    unsigned const hook = hook_bit_of(context.hook);
    if (hook == 0) rc.note("evaluate", "hook", "no rules for hook '", context.hook, "'");
    for (auto const& r : registered_rules()) {
        if ((r.hooks & hook) == 0) {
            if (trace) trace::record_rule_not_run(rc, r);
            continue;
        }
        if (!d.rule(r.id).enabled) {
            if (trace) trace::record_rule_disabled(rc, r);
            continue;
        }
        auto c = r.run(rc);
        if (trace) trace::record_rule_ran(rc, r, c ? &*c : nullptr);
        if (c) cards.push_back(std::move(*c));
    }

    compose_problem_cards(cards, rc);
    if (trace) trace::record_final_cards(rc, cards);
    if (std::any_of(cards.begin(), cards.end(),
                    [](card_draft const& c) { return c.wants == shared_suggestion::repletion; })) {
        place_shared(cards, shared_suggestion::repletion, rc.take_repletion_suggestions(), rc);
    }
    if (std::any_of(cards.begin(), cards.end(),
                    [](card_draft const& c) { return c.wants == shared_suggestion::level; })) {
        std::vector<suggestion_draft> level;  // not a braced list: that would copy the resources
        level.push_back(level_suggestion(rc, {}));  // the configured label
        place_shared(cards, shared_suggestion::level, std::move(level), rc);
    }

    for (auto& c : cards) add_companions(c, rc);

    std::stable_sort(cards.begin(), cards.end(), [](card_draft const& a, card_draft const& b) {
        if (a.level != b.level) return a.level > b.level;
        int const ra = rule_rank(a.rule_id), rb = rule_rank(b.rule_id);
        if (ra != rb) return ra < rb;
        return a.sort_key < b.sort_key;
    });
    // What could not be used is said once, on the first card (§5: no sentence on two cards).
    auto const missing = missing_data_text(rc);
    for (auto& c : cards) {
        c.detail.insert(c.detail.end(), missing.begin(), missing.end());
        lead_with_recommendation(c, rc.d);
    }
    drop_repeated_sentences(cards);
    result.cards.reserve(cards.size());
    for (auto& c : cards) result.cards.push_back(card_json(std::move(c), rc, next_uuid));
    return result;
}

bool reads_observation(fhir::codeable_concept const& code, rule_set const& rules) {
    return findings::reads_observation(code, rules.data());
}

}  // namespace cds::rules
