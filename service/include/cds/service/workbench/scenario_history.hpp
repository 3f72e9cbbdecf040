#pragma once
// Earlier feedback in a scenario (fixtures/scenarios/README.md, "Earlier feedback:
// history.json"): cards a clinician was shown before the scenario's request, and what they
// answered (an override, with or without a reason, or an acceptance). The history is replayed
// through the service's own snoozing (CLINICAL-BASIS.md §6; feedback/snooze.hpp): the earlier
// cards go into the card ledger and the feedback into a temporary SQLite feedback store, and
// the scenario's cards pass through the same filter as a hook call's, so that a case of
// snoozing and re-arming needs no code.

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "cds/fhir/date_time.hpp"
#include "cds/rules/rule_set.hpp"

namespace cds::service::workbench {

// One card shown before the scenario's request and the clinician's answer to it.
struct earlier_feedback {
    std::chrono::seconds ago{0};  // before the scenario's now: when it was shown and answered
    std::string request_file;     // the request then, beside history.json; empty: the scenario's
    std::string rule;             // the card's rule id (source.topic.code)
    std::string outcome;          // "overridden" | "accepted"
    std::string reason;           // an override reason code of that card; empty: none given
};

struct scenario_history {
    std::filesystem::path folder;  // where request files are found
    std::vector<earlier_feedback> feedback;
};

// Reads and checks a history.json. Every problem names its place ("history.json:
// feedback[1].ago: ..."); no history is returned when there is one.
struct history_read {
    std::optional<scenario_history> history;
    std::vector<std::string> problems;
};
[[nodiscard]] history_read read_history(std::filesystem::path const& file);

// An ISO 8601 duration in days, hours and minutes ("P3D", "PT2H", "P1DT6H", "PT30M");
// nullopt for anything else.
[[nodiscard]] std::optional<std::chrono::seconds> parse_history_duration(std::string_view text);

// A request evaluated as the service would at `now`: the HTTP status and the body.
struct evaluated_request {
    int status = 0;
    std::string body;
};
using request_evaluator = std::function<evaluated_request(std::string body, fhir::instant now)>;

// The scenario's request (`body`) evaluated at `now` after the history: its response with the
// cards the history snoozes taken out (listed under explain.suppressed when the response has
// an explain member, as the service does). `problems` names what in the history could not be
// replayed (an earlier request without a card of the rule, a reason the card does not offer).
struct replayed_response {
    evaluated_request response;
    std::vector<std::string> problems;
};
[[nodiscard]] replayed_response evaluate_after_history(scenario_history const& history,
                                                       std::string const& body,
                                                       fhir::instant now,
                                                       rules::rule_set const& rules,
                                                       request_evaluator const& evaluate);

}  // namespace cds::service::workbench
