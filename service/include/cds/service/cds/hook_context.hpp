#pragma once
// The mapping from a CDS Hooks 2.0 request to the rules' terms: the hook context (context
// members, parsed draft orders) and the snapshot builder (prefetch values, draft Bundles'
// Medications). One function, used by the service (prepare_cds_call), the benchmark and the
// fuzzers, so that what they measure and exercise is the service's own reading.

#include <cstddef>

#include <boost/json/object.hpp>

#include "cds/fhir/date_time.hpp"
#include "cds/fhir/snapshot.hpp"
#include "cds/rules/evaluate.hpp"
#include "cds/rules/rule_set.hpp"

namespace cds::service {

// Reads `request` (a CDS Hooks request object) for `service`, at the hook time `now`:
// fills `context` (hook, service id, now, patientId, userId, encounterId, selections, draft
// orders) and adds the Medications of context.draftOrders and every object-valued prefetch
// member except OperationOutcomes to `builder`. Validates nothing: members of the wrong
// type are ignored, so it is safe on input no schema has checked. Deciding which prefetch
// keys are unavailable (absent, OperationOutcome, to fetch) is the caller's.
// Returns the number of draft orders skipped for naming no medication yet.
std::size_t read_hook_context(boost::json::object const& request,
                              rules::service_definition const& service,
                              fhir::instant now,
                              rules::hook_context& context,
                              fhir::snapshot_builder& builder);

}  // namespace cds::service
