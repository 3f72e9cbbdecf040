#pragma once
// The explain trace: what an evaluation read, skipped, chose and compared, as data returned
// with the cards (never logged: it holds clinical values). The service renders it as the
// "explain" member of a hook response and `evaluate --explain`; its JSON layout is
// documented in rules/README.md ("The explain trace") and rules/explain.schema.json.

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace cds::rules {

// Where in the evaluation a decision was taken, in evaluation order.
enum class trace_section {
    patient,          // the Patient resource: age, sex
    observation,      // each Observation: counted or skipped, and why
    magnesium,        // the serum magnesium result chosen and its band
    condition,        // each Condition that changes a decision, or skipped
    renal,            // the renal estimates, their inputs and formula, the band chosen
    data,             // prefetch or fetched data that was not available
    medication,       // each medication order: its drug, classes and status, or skipped
    service_request,  // each ServiceRequest: a level already ordered, or skipped
    rule,             // each rule: fired, did not fire, disabled, or not run on this hook
    cards,            // where the shared suggestions were placed
};

enum class trace_decision {
    counted,       // read and used as evidence
    skipped,       // read and not used; `reason` says why
    chosen,        // the one value used among several (newest Mg, lowest renal estimate)
    computed,      // a derived value (Cockcroft-Gault)
    not_computed,  // a derived value that could not be computed; `reason` says why
    fired,         // a rule made a card
    not_fired,     // a rule ran and made no card
    disabled,      // a rule switched off in the rule set
    not_run,       // a rule that does not run on this hook
    noted,         // anything else worth saying (a rule's per-order decision)
};

// Why a resource was skipped or a value not computed (`reason`); a stable vocabulary.
enum class trace_reason {
    none,
    other_patient,  // its subject is another patient
    status,         // its status does not count
    code,           // its code is in no value set the rules read
    unit,           // its unit is unknown (never guessed)
    no_value,       // no numeric value (dataAbsentReason, no valueQuantity)
    no_time,        // no effective time or issued
    future_date,    // dated after the hook's time beyond the tolerance
    implausible,    // a value that cannot be right
    comparator,     // a bound ("<", ">") that says neither low nor normal
    ionized,        // ionized magnesium: never compared with total-Mg thresholds
    too_old,        // older than the window it would be used in
    no_medication,  // an order that names no medication yet
    missing_input,  // an input of a formula is missing or out of range
};

// A named input of a decision: a number with its unit, or a text.
struct trace_value {
    std::string name;
    std::variant<double, std::string> value;
    std::string unit;  // for a number; empty when it has none
};

// A value compared with a threshold, or a yes/no condition (no value, no operator).
struct trace_comparison {
    std::string what;                 // what was compared, in words
    std::optional<double> value;      // in `unit`
    std::string op;                   // "<", "<=", ">", ">=" ("" for a yes/no condition)
    std::optional<double> threshold;  // in `unit`
    std::string unit;
    bool holds = false;  // whether the condition is met
    std::string note;    // what else decided it (e.g. "CKD stage 5 Condition")
};

// One decision and the evidence behind it.
struct trace_entry {
    std::string rule;     // rule id, or the stage: "findings", "evaluate", "repletion"
    std::string subject;  // what was looked at, e.g. "Observation/mg1" or "renal_function"
    std::string message;  // what was decided and why, in words
    trace_section section = trace_section::rule;
    trace_decision decision = trace_decision::noted;
    trace_reason reason = trace_reason::none;
    std::string resource_type;  // when the subject is a resource: its type and id
    std::string resource_id;
    std::vector<trace_value> values;
    std::vector<trace_comparison> compared;

    trace_entry() = default;
    // A rule's note: what it decided about `subject`.
    trace_entry(std::string rule_id, std::string subject_, std::string message_)
        : rule(std::move(rule_id)), subject(std::move(subject_)), message(std::move(message_)) {}
};

// The JSON names of the vocabularies ("not-fired", "other-patient").
[[nodiscard]] std::string_view trace_section_name(trace_section s);
[[nodiscard]] std::string_view trace_decision_name(trace_decision d);
[[nodiscard]] std::string_view trace_reason_name(trace_reason r);

}  // namespace cds::rules
