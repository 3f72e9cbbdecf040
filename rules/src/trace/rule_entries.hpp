#pragma once
// Each rule's entry in the explain trace: whether it fired (and on which card), with the
// conditions it compares (the rule's own `<function>_conditions`, beside it in its file), or that
// it was disabled or not run on this hook. Called only when the trace is recorded.

#include <vector>

#include "cards.hpp"
#include "registry.hpp"

namespace cds::rules::trace {

// The one trace entry of a registered rule: fired (with its card's indicator), did not fire
// (with the conditions not met), disabled in the rule set, or not run on this hook.
void record_rule_ran(rule_context const& rc, registered_rule const& r, card_draft const* card);
// After the cards are composed: each fired rule's entry names the card it ended on.
void record_final_cards(rule_context const& rc, std::vector<card_draft> const& cards);
void record_rule_disabled(rule_context const& rc, registered_rule const& r);
void record_rule_not_run(rule_context const& rc, registered_rule const& r);

}  // namespace cds::rules::trace
