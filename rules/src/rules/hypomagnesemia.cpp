// Rule: hypomagnesemia (patient-view)                       CLINICAL-BASIS.md §2, §3, §4, §5
// When a current serum magnesium (at most 7 days old) is below 1.8 mg/dL,
// Then warn (critical when below 1.2 mg/dL or symptomatic), show the evidence, the
// contributing drugs, coexisting hypokalemia/hypocalcemia and the renal band, and suggest
// repletion per §3 (IV for severe or symptomatic, oral otherwise, adjusted to renal
// function; none for patients under 18 or of unknown age). When a repletion of the route the
// severity calls for is active already, the deficiency is being treated: an info card about
// the recheck (§3.3). The card is composed by compose_problem_cards() (common/problem_card.cpp).

#include "cards.hpp"
#include "common/text.hpp"
#include "trace/conditions.hpp"
#include "trace/record.hpp"

namespace cds::rules {

std::optional<card_draft> rule_hypomagnesemia(rule_context const& rc) {
    auto const& f = rc.f;
    if (!f.magnesium.current_low()) return std::nullopt;
    card_draft c;
    c.rule_id = "hypomagnesemia";
    c.part_of = problem::current_hypomagnesemia;
    // The drugs contribute to the deficiency; on patient-view none triggers the card, so the
    // summary names none (its template has no {drug}).
    c.drugs = contributing_drugs(rc);
    if (!c.drugs.empty()) {
        c.detail.push_back(
            fill(rc.d.text("implications.contributing"), {{"drugs", drugs_text(rc, c.drugs)}}));
    }
    return c;
}

// The conditions the explain trace shows for this rule: what it compares, and with what.
std::vector<trace_comparison> rule_hypomagnesemia_conditions(rule_context const& rc) {
    return {trace::mg_known(rc), trace::mg_low(rc), trace::mg_current(rc)};
}

}  // namespace cds::rules
