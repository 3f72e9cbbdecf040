#pragma once
// The FHIR-client flags of `magnesium-cds serve` (and `evaluate`), kept next to the client so
// the flag names, defaults and help text live in one place.

#include <boost/program_options/options_description.hpp>
#include <boost/program_options/variables_map.hpp>

#include "cds/service/fhir_client/http_fhir_fetcher.hpp"

namespace cds::service::fhir_client {

// Adds --fhir-allow URL (repeatable), --fhir-deadline, --fhir-max-pages,
// --fhir-max-response-mib, --fhir-max-url-bytes, --fhir-max-url-segments,
// --fhir-max-medication-reads, --fhir-max-connections-per-origin and --fhir-ca-file, with
// their defaults (those of fhir_client_options) and help text.
void add_fhir_client_options(boost::program_options::options_description& description);

// Reads those flags back after parsing. Throws std::invalid_argument for values out of range
// (start-up errors).
fhir_client_options fhir_client_options_from(boost::program_options::variables_map const& values);

}  // namespace cds::service::fhir_client
