#pragma once
// The rule configuration: thresholds, windows, unit factors, dose tables, code lists, card
// texts, override reasons and the CDS service definitions (ids, hooks, prefetch templates),
// loaded from one versioned JSON document validated against rules/config/rule-set.schema.json.
// A loaded rule_set is immutable and shared read-only (std::shared_ptr<rule_set const>);
// a reload builds a new one. Thread-safe for concurrent readers.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

namespace cds::rules {

struct prefetch_template {
    std::string key;        // prefetch key, e.g. "magnesium"
    std::string query;      // FHIR query with CDS Hooks tokens, e.g.
                            // "Observation?patient={{context.patientId}}&code=..."
    bool required = false;  // required data: missing and not obtainable -> HTTP 412
    std::string describes;  // plain words for cards: "renal function (creatinine, eGFR, CrCl)"
    // false: data whose absence changes no finding (orders already placed: without them a level
    // may be suggested twice, as before they were read) is said in the explain trace only.
    bool noted_when_unavailable = true;
};

struct service_definition {
    std::string id;
    std::string hook;  // "patient-view", "order-select", "order-sign"
    std::string title;
    std::string description;
    std::vector<prefetch_template> prefetch;
};

struct rule_set_problem {
    std::string path;  // JSON path in the rule file, e.g. "/thresholds/magnesium/severe_below"
    std::string message;
};

// How long a card a clinician overrode stays hidden for the same patient, rule and evidence,
// by indicator (CLINICAL-BASIS.md §6, "snooze" in the rule file); zero: not snoozed. Critical
// cards are never snoozed. Applied by the service, not by evaluate().
struct snooze_periods {
    std::chrono::seconds info{0};
    std::chrono::seconds warning{0};
};

struct rule_set_data;  // internal: parsed numbers, hash sets of codes, texts (rules/src)

class rule_set {
public:
    explicit rule_set(std::shared_ptr<rule_set_data const> data);
    [[nodiscard]] std::string const& id() const;
    [[nodiscard]] std::string const& version() const;
    [[nodiscard]] std::vector<service_definition> const& services() const;
    [[nodiscard]] service_definition const* find_service(std::string_view service_id) const;
    // The ids of the rules this rule set has texts for (the rules its cards can come from).
    [[nodiscard]] std::vector<std::string> rule_ids() const;
    [[nodiscard]] snooze_periods const& snooze() const;
    [[nodiscard]] rule_set_data const& data() const { return *data_; }

private:
    std::shared_ptr<rule_set_data const> data_;
};

struct rule_set_load_result {
    std::shared_ptr<rule_set const> rules;   // null when problems is non-empty
    std::vector<rule_set_problem> problems;  // every schema and consistency problem found
};

// Validates (JSON Schema, then consistency checks) and loads a rule configuration.
[[nodiscard]] rule_set_load_result load_rule_set(std::string_view json_text);

// The bundled default rule set (rules/config/magnesium-rules.json, embedded at build time).
[[nodiscard]] std::string_view bundled_rule_set_json();
// The JSON Schema for rule files (rules/config/rule-set.schema.json, embedded).
[[nodiscard]] std::string_view rule_set_schema_json();

}  // namespace cds::rules
