#pragma once
// The informatics workbench: commands that run the service's own request path over a library
// of cases, for people who change the rule file (README "For informatics teams").
//   scenarios DIR [--rules FILE]          every fixtures/scenarios-style case against one rule file
//   impact --rules OLD --rules NEW DIR     the cards each request gets under two rule files

#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "cds/fhir/date_time.hpp"
#include "cds/rules/rule_set.hpp"
#include "cds/service/cds/service_state.hpp"

namespace cds::service::workbench {

// A command-line mistake (reported with a hint to --help, exit 2).
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A rule file under test: the parsed document (for JSON-pointer edits and for the values that
// expectations quote) and the validated rule set built from it.
struct rules_under_test {
    std::string source;  // file name, or "bundled rule set"
    boost::json::value document;
    std::shared_ptr<rules::rule_set const> rules;
};

// Loads FILE (empty: the bundled rule set). Returns nullopt after writing every problem.
[[nodiscard]] std::optional<rules_under_test> load_rules_under_test(std::string const& file,
                                                                    std::ostream& problems_out);
// The same rule file with RFC 6901 JSON-pointer edits ([{"path", "value"}]); an unknown path
// or an invalid result is reported in `error`.
struct patched_rules {
    std::optional<rules_under_test> rules;
    std::string error;
};
[[nodiscard]] patched_rules patch_rules(rules_under_test const& base,
                                        boost::json::array const& patches);

// One request through the same path as `magnesium-cds evaluate` (no network fetches).
struct evaluation {
    int status = 0;
    std::string body;
    boost::json::value response;  // the parsed body; null when it is not JSON
};
class evaluator {
public:
    explicit evaluator(rules_under_test const& rules);
    [[nodiscard]] evaluation evaluate(std::string body, fhir::instant now) const;

private:
    std::shared_ptr<rules::rule_set const> rules_;
    service_state state_;
};

// The check of one response against an expected.json (fixtures/scenarios/README.md), with
// "{ruleSetId}", "{ruleSetVersion}" and "{rules:/json/pointer}" in expected text replaced by
// the values of the rule file under test. Returns every unmet expectation; empty when it passes.
[[nodiscard]] std::vector<std::string> check_scenario(boost::json::value const& expected,
                                                      boost::json::value const& request,
                                                      evaluation const& result,
                                                      rules_under_test const& rules);
// The card expectations of an expected.json (placeholders already expanded) against the cards.
[[nodiscard]] std::vector<std::string> check_cards(
    boost::json::value const& expected,
    std::vector<boost::json::value const*> const& cards,
    fhir::instant now);
// Problems of the expected.json itself (unknown keys, wrong shapes).
[[nodiscard]] std::vector<std::string> validate_expected(boost::json::value const& expected);
// Text with the rule-file placeholders replaced; an unknown placeholder is left as written.
[[nodiscard]] std::string expand_placeholders(std::string const& text,
                                              rules_under_test const& rules);

// The commands' options, as --help prints them.
[[nodiscard]] std::string scenarios_help();
[[nodiscard]] std::string impact_help();
[[nodiscard]] int run_scenarios_command(std::vector<std::string> const& args, std::ostream& out);
[[nodiscard]] int run_impact_command(std::vector<std::string> const& args, std::ostream& out);

}  // namespace cds::service::workbench
