#pragma once
// The rules' single entry point: a pure function from (patient snapshot, hook context,
// rule set) to CDS Hooks cards. No I/O, no clock reads, no randomness of its own: the
// evaluation time and the uuid source are inputs, so the same input gives the same cards
// apart from uuids (CLINICAL-BASIS.md §5).

#include <functional>
#include <string>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/storage_ptr.hpp>

#include "cds/fhir/snapshot.hpp"
#include "cds/rules/rule_set.hpp"
#include "cds/rules/trace.hpp"

namespace cds::rules {

struct hook_context {
    std::string hook;  // "patient-view" | "order-select" | "order-sign"
    std::string service_id;
    fhir::instant now{};  // the hook's time: the service's clock at arrival
    std::string patient_id;
    std::string user_id;  // e.g. "Practitioner/123"
    std::string encounter_id;
    std::vector<std::string> selections;               // order-select: "MedicationRequest/abc"
    std::vector<fhir::medication_order> draft_orders;  // medication resolved against the snapshot
    // ServiceRequests among the draft orders (a level ordered with this hook's orders).
    std::vector<fhir::service_request> draft_service_requests;
    std::vector<std::string>
        unavailable_prefetch;  // keys of optional data that could not be obtained
    // What went partly wrong obtaining the data without making a key unavailable (e.g. a
    // Medication that a fetched MedicationRequest names could not be read, a search cut at the
    // page limit), in short client-fit words: shown on every card, since the evidence may be
    // incomplete. The service fills it from the FHIR-server fetch; never holds a token.
    std::vector<std::string> data_notes;
    // Record the explain trace (evaluation_result::trace). Off, no trace entry or text is
    // built at all; the cards are the same either way. On for whoever shows the trace (the
    // service's `?explain=true`, `evaluate --explain`), off for every other call.
    bool record_trace = false;
};

struct evaluation_result {
    boost::json::array cards;        // CDS Hooks 2.0 Card objects, already spec-conformant JSON
    std::vector<trace_entry> trace;  // empty unless hook_context::record_trace
};

// Produces a fresh RFC 4122 uuid string per call (the service injects a random source;
// tests inject a counter).
using uuid_source = std::function<std::string()>;

[[nodiscard]] evaluation_result evaluate(fhir::patient_snapshot const& snapshot,
                                         hook_context const& context,
                                         rule_set const& rules,
                                         uuid_source const& next_uuid);

// The same cards, with their JSON allocated from `storage` instead of the heap: a caller that
// serializes the cards and drops them (the service, per request) can pass its request arena
// (e.g. a boost::json::monotonic_resource), so building and freeing the cards costs no
// malloc/free per node. The cards must not outlive the memory resource.
[[nodiscard]] evaluation_result evaluate(fhir::patient_snapshot const& snapshot,
                                         hook_context const& context,
                                         rule_set const& rules,
                                         uuid_source const& next_uuid,
                                         boost::json::storage_ptr storage);

// True when the rules read an Observation with this code, i.e. classify it as one of the
// results they use (magnesium, creatinine, eGFR, ...). They pass over every other one, so a
// caller may leave it out of the snapshot (snapshot_builder::keep_observations_if) and get
// the same cards; only the explain trace then lacks its "code in no value set" entry.
[[nodiscard]] bool reads_observation(fhir::codeable_concept const& code, rule_set const& rules);

}  // namespace cds::rules
