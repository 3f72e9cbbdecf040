#pragma once
// The mapping from a CDS Hooks 2.0 request to the rules' terms: the hook context (context
// members, parsed draft orders) and the snapshot builder (prefetch values, draft Bundles'
// Medications). One function, used by the service (prepare_cds_call), the benchmark and the
// fuzzers, so that what they measure and exercise is the service's own reading.

#include <cstddef>
#include <string_view>

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

// read_hook_context in the steps a reader that meets the request's members one at a time
// takes (request_reader.hpp); read_hook_context is exactly these, in this order: begin, the
// `context` member, then each prefetch member in the order of the request.
void begin_hook_context(rules::service_definition const& service,
                        fhir::instant now,
                        rules::hook_context& context);
// Reads the value of `context` (nothing when it is not an object); returns the number of
// draft orders skipped for naming no medication yet.
std::size_t read_context_member(boost::json::value const& context_value,
                                rules::hook_context& context,
                                fhir::snapshot_builder& builder);
// Adds one prefetch member's value to `builder` (objects other than OperationOutcomes).
void read_prefetch_member(std::string_view key,
                          boost::json::value const& value,
                          fhir::snapshot_builder& builder);

}  // namespace cds::service
