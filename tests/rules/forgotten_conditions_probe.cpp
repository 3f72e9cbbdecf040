// A registry row for a rule whose file defines the rule but not its conditions for the trace
// (`rule_probe_conditions`). Built only by the test rules_registry_forgotten_conditions, which
// expects the link to fail naming that function; with CDS_PROBE_WITH_CONDITIONS the same row
// links (target rules_registry_probe_with_conditions, part of the normal build), so the failure
// is the missing function and nothing else.

#include "cards.hpp"
#include "registry.hpp"

namespace cds::rules {

CDS_DECLARE_RULE(rule_probe)

std::optional<card_draft> rule_probe(rule_context const&) { return std::nullopt; }

#ifdef CDS_PROBE_WITH_CONDITIONS
std::vector<trace_comparison> rule_probe_conditions(rule_context const&) { return {}; }
#endif

}  // namespace cds::rules

int main() {
    static constexpr cds::rules::registered_rule row =
        CDS_REGISTERED_RULE(cds::rules::rule_probe, "probe", "order-sign", 10, "", "");
    // Through a volatile, so that the row's function addresses are used, not folded away.
    cds::rules::rule_conditions_function volatile conditions = row.conditions;
    cds::rules::rule_function volatile run = row.run;
    return conditions != nullptr && run != nullptr ? 0 : 1;
}
