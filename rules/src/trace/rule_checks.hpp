#pragma once
// Each rule's conditions as the trace shows them: the values a rule compares and the thresholds
// it compares them with (CLINICAL-BASIS.md §4), and the entry that says whether it fired.

#include <span>
#include <string_view>
#include <vector>

#include "cards.hpp"
#include "registry.hpp"

namespace cds::rules::trace {

// The conditions of the rule `rule_id` on this request's findings; empty for an unknown id.
[[nodiscard]] std::vector<trace_comparison> rule_conditions(std::string_view rule_id,
                                                            rule_context const& rc);
// Whether rule_conditions knows the rule (every registered rule must be known).
[[nodiscard]] bool has_rule_conditions(std::string_view rule_id);

// The one trace entry of a registered rule: fired (with its card's indicator), did not fire
// (with the conditions not met), disabled in the rule set, or not run on this hook.
void record_rule_ran(rule_context const& rc, registered_rule const& r, card_draft const* card);
// After the cards are composed: each fired rule's entry names the card it ended on.
void record_final_cards(rule_context const& rc, std::vector<card_draft> const& cards);
void record_rule_disabled(rule_context const& rc, registered_rule const& r);
void record_rule_not_run(rule_context const& rc, registered_rule const& r);

}  // namespace cds::rules::trace
