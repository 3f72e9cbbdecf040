#pragma once
// The explain trace as the service returns it: the "explain" member of a hook response with
// `?explain=true` (serve --enable-explain) and of `magnesium-cds evaluate --explain`, and the
// text form of `evaluate --explain --format text`. The JSON layout is documented in
// rules/README.md ("The explain trace") and rules/explain.schema.json. It may hold clinical
// values: it is returned, never logged.

#include <ostream>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/storage_ptr.hpp>

#include "cds/rules/evaluate.hpp"
#include "cds/rules/rule_set.hpp"

namespace cds::service {

// {"layout", "ruleSetId", "ruleSetVersion", "hook", "evaluatedAt", "entries": [...]}
[[nodiscard]] boost::json::object render_explain(rules::rule_set const& rules,
                                                 rules::hook_context const& context,
                                                 std::vector<rules::trace_entry> const& trace,
                                                 boost::json::storage_ptr storage = {});

// A hook response with its "explain" member, as text for a reader: the cards, then the trace
// by section (patient, results, magnesium, conditions, kidney function, missing data,
// medications, rules, cards), one decision a line with the values it compared.
void print_explain_text(boost::json::object const& response, std::ostream& out);

}  // namespace cds::service
