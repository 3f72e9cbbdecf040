#include "cds/rules/evaluate.hpp"

#include <algorithm>
#include <array>

#include "cards.hpp"
#include "common/text.hpp"

namespace cds::rules {

namespace bj = boost::json;

namespace {

using rule_fn = std::optional<card_draft> (*)(rule_context const&);

struct rule_entry {
    char const* id;
    rule_fn fn;
};

// The order here is the tie-break between cards of equal indicator (clinical-rules.md §4
// order), so the same input always gives the same card order.
constexpr std::array<rule_entry, 4> patient_view_rules{{
    {"hypomagnesemia", &rule_hypomagnesemia},
    {"stale-low-magnesium", &rule_stale_low_magnesium},
    {"wasting-drug-monitoring", &rule_wasting_drug_monitoring},
    {"magnesium-sulfate-in-pregnancy", &rule_magnesium_sulfate_in_pregnancy},
}};

constexpr std::array<rule_entry, 12> order_rules{{
    {"wasting-drug-with-hypomagnesemia", &rule_wasting_drug_with_hypomagnesemia},
    {"wasting-drug-monitoring", &rule_wasting_drug_monitoring},
    {"repletion-renal-contraindicated", &rule_repletion_renal_contraindicated},
    {"repletion-renal-severely-impaired", &rule_repletion_renal_severely_impaired},
    {"repletion-hypermagnesemia", &rule_repletion_hypermagnesemia},
    {"repletion-without-deficiency", &rule_repletion_without_deficiency},
    {"repletion-without-recent-level", &rule_repletion_without_recent_level},
    {"iv-magnesium-rate", &rule_iv_magnesium_rate},
    {"magnesium-sulfate-in-pregnancy", &rule_magnesium_sulfate_in_pregnancy},
    {"potassium-with-hypomagnesemia", &rule_potassium_with_hypomagnesemia},
    {"digoxin-with-hypomagnesemia", &rule_digoxin_with_hypomagnesemia},
    {"oral-magnesium-chelation", &rule_oral_magnesium_chelation},
}};

// Tie-break between cards of equal indicator, across both lists.
constexpr std::array<char const*, 15> rank_order{
    "hypomagnesemia", "wasting-drug-with-hypomagnesemia", "repletion-renal-contraindicated",
    "repletion-renal-severely-impaired", "repletion-hypermagnesemia", "repletion-without-deficiency",
    "iv-magnesium-rate", "magnesium-sulfate-in-pregnancy", "potassium-with-hypomagnesemia",
    "digoxin-with-hypomagnesemia", "stale-low-magnesium", "repletion-without-recent-level",
    "wasting-drug-monitoring", "oral-magnesium-chelation", ""};

int rank_of(std::string const& rule_id) {
    for (std::size_t i = 0; i < rank_order.size(); ++i) {
        if (rule_id == rank_order[i]) return static_cast<int>(i);
    }
    return static_cast<int>(rank_order.size());
}

char const* indicator_name(indicator i) {
    switch (i) {
        case indicator::critical: return "critical";
        case indicator::warning: return "warning";
        case indicator::info: break;
    }
    return "info";
}

std::string join_detail(std::vector<std::string> const& blocks) {
    std::string out;
    for (auto const& b : blocks) {
        if (b.empty()) continue;
        if (!out.empty()) out += "\n\n";
        out += b;
    }
    return out;
}

// Consumes the draft: its texts and suggestion resources move into the card.
bj::object card_json(card_draft&& c, rule_context const& rc, uuid_source const& next_uuid) {
    auto const& d = rc.d;
    auto const& text = d.rule(c.rule_id);
    auto const& sp = rc.json_storage;
    bj::object card(9, sp);
    card["uuid"] = next_uuid();
    card["summary"] = clip_summary(c.summary);
    card["indicator"] = indicator_name(c.level);

    std::vector<std::string> blocks = std::move(c.detail);
    for (auto& m : missing_data_text(rc)) blocks.push_back(std::move(m));
    blocks.push_back("*Rule set " + d.id + " version " + d.version + ", rule `" + c.rule_id + "` (" + text.title + ").*");
    card["detail"] = join_detail(blocks);

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

    if (!d.override_reasons_json.empty()) card["overrideReasons"] = d.override_reasons_json;

    card["extension"] = text.card_extension;
    return card;
}

// Places a shared suggestion set on the most severe card that asks for it; the others
// say where to find it (clinical-rules.md §5: no two cards suggest the same order).
void place_shared(std::vector<card_draft>& cards, shared_suggestion kind, std::vector<suggestion_draft> suggestions,
                  rule_context const& rc) {
    card_draft* host = nullptr;
    for (auto& c : cards) {
        if (c.wants != kind) continue;
        if (!host || c.level > host->level || (c.level == host->level && rank_of(c.rule_id) < rank_of(host->rule_id))) host = &c;
    }
    if (!host || suggestions.empty()) return;
    // The host's own suggestions (e.g. the PPI switch) come after the shared ones.
    std::vector<suggestion_draft> merged = std::move(suggestions);
    merged.reserve(merged.size() + host->suggestions.size());
    for (auto& s : host->suggestions) merged.push_back(std::move(s));
    host->suggestions = std::move(merged);
    for (auto& c : cards) {
        if (&c == host || c.wants != kind) continue;
        c.detail.push_back(fill(rc.d.text(kind == shared_suggestion::repletion ? "refer_to_repletion" : "refer_to_level"),
                                {{"card", host->summary}}));
    }
    rc.note("evaluate", host->rule_id, kind == shared_suggestion::repletion ? "carries the repletion suggestions" : "carries the level suggestion");
}

}  // namespace

evaluation_result evaluate(fhir::patient_snapshot const& snapshot, hook_context const& context, rule_set const& rules,
                           uuid_source const& next_uuid) {
    return evaluate(snapshot, context, rules, next_uuid, boost::json::storage_ptr());
}

evaluation_result evaluate(fhir::patient_snapshot const& snapshot, hook_context const& context, rule_set const& rules,
                           uuid_source const& next_uuid, boost::json::storage_ptr storage) {
    evaluation_result result{bj::array(storage), {}};
    auto const& d = rules.data();
    patient_findings const f = build_findings(snapshot, context, d, result.trace);
    rule_context const rc{f, context, d, result.trace, std::move(storage), {}};

    std::vector<card_draft> cards;
    auto run = [&](auto const& list) {
        for (auto const& r : list) {
            if (!r.fn) continue;
            if (!d.rule(r.id).enabled) {
                rc.note(r.id, "rule", "disabled in the rule set");
                continue;
            }
            if (auto c = r.fn(rc)) cards.push_back(std::move(*c));
        }
    };
    if (context.hook == "patient-view") {
        run(patient_view_rules);
    } else if (context.hook == "order-select" || context.hook == "order-sign") {
        run(order_rules);
    } else {
        rc.note("evaluate", "hook", "no rules for hook '" + context.hook + "'");
    }

    if (std::any_of(cards.begin(), cards.end(), [](card_draft const& c) { return c.wants == shared_suggestion::repletion; })) {
        place_shared(cards, shared_suggestion::repletion, rc.take_repletion_suggestions(), rc);
    }
    if (std::any_of(cards.begin(), cards.end(), [](card_draft const& c) { return c.wants == shared_suggestion::level; })) {
        std::vector<suggestion_draft> level;  // not a braced list: that would copy the resources
        level.push_back(level_suggestion(rc, "Order a serum magnesium level"));
        place_shared(cards, shared_suggestion::level, std::move(level), rc);
    }

    std::stable_sort(cards.begin(), cards.end(), [](card_draft const& a, card_draft const& b) {
        if (a.level != b.level) return a.level > b.level;
        int const ra = rank_of(a.rule_id), rb = rank_of(b.rule_id);
        if (ra != rb) return ra < rb;
        return a.sort_key < b.sort_key;
    });
    result.cards.reserve(cards.size());
    for (auto& c : cards) result.cards.push_back(card_json(std::move(c), rc, next_uuid));
    return result;
}

}  // namespace cds::rules
