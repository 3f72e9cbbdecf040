#pragma once
// The number of FHIR resources a hook call carries, for the `--max-resources` limit
// ( bounded everything). The body size limit alone does not bound the work: 4 MiB of
// minimal Observations is over 100,000 resources to parse, classify and hold in a snapshot.

#include <cstddef>

#include <boost/json/fwd.hpp>

namespace cds::service {

// Counts every JSON object with a string `resourceType` under the request's `prefetch` and
// `context.draftOrders`, at any depth: bundles, their entries' resources, contained resources
// and nested bundles alike. Iterative, so any nesting the parser accepted is safe. Stops
// counting once `stop_after` is exceeded (the caller only needs to know that).
[[nodiscard]] std::size_t count_request_resources(boost::json::value const& request,
                                                  std::size_t stop_after);

}  // namespace cds::service
