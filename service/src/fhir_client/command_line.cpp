#include "cds/service/fhir_client/command_line.hpp"

#include <stdexcept>
#include <string>
#include <vector>

#include <boost/program_options/value_semantic.hpp>

#include "cds/service/ops/duration.hpp"

namespace cds::service::fhir_client {

namespace po = boost::program_options;

void add_fhir_client_options(po::options_description& description) {
    fhir_client_options const defaults;
    description.add_options()(
        "fhir-allow", po::value<std::vector<std::string>>()->composing(),
        "FHIR server base URL the service may fetch absent prefetch data from (repeatable); "
        "matched exactly on scheme, host and port, and as a path prefix. Default: none, "
        "fetching is off")("fhir-deadline",
                           po::value<ops::duration>()->default_value({defaults.deadline}),
                           "time budget for all FHIR server queries of one hook call (1ms to 1m)")(
        "fhir-max-pages", po::value<int>()->default_value(defaults.max_pages),
        "search result pages followed per prefetch query (Bundle next links)")(
        "fhir-max-response-mib",
        po::value<long>()->default_value(
            static_cast<long>(defaults.max_response_bytes / (1024 * 1024))),
        "largest FHIR server answer accepted, in MiB")(
        "fhir-max-url-bytes",
        po::value<long>()->default_value(static_cast<long>(defaults.url.max_bytes)),
        "longest fhirServer (and next-page or redirect URL) accepted, in bytes")(
        "fhir-max-url-segments",
        po::value<long>()->default_value(static_cast<long>(defaults.url.max_segments)),
        "most path segments accepted in fhirServer (and next-page or redirect URLs)")(
        "fhir-max-medication-reads",
        po::value<long>()->default_value(static_cast<long>(defaults.max_medication_reads)),
        "Medications read per hook call for fetched medication orders that name them (read in "
        "batches of _id searches); beyond it the cards say which were not read")(
        "fhir-max-connections-per-origin",
        po::value<long>()->default_value(static_cast<long>(defaults.max_connections_per_origin)),
        "FHIR server requests in flight at once per server origin, over all hook calls (more "
        "wait within their deadline)")(
        "fhir-ca-file", po::value<std::string>(),
        "PEM file of extra CA certificates trusted for FHIR servers, besides the system store");
}

namespace {

// The value of --`name` (a count), or `otherwise` when absent; throws std::invalid_argument
// naming the flag when it is outside [low, high].
std::size_t bounded_count(
    po::variables_map const& values, char const* name, long low, long high, std::size_t otherwise) {
    if (values.count(name) == 0) return otherwise;
    auto const value = values[name].as<long>();
    if (value < low || value > high) {
        throw std::invalid_argument(std::string("--") + name + " must be between " +
                                    std::to_string(low) + " and " + std::to_string(high));
    }
    return static_cast<std::size_t>(value);
}

}  // namespace

fhir_client_options fhir_client_options_from(po::variables_map const& values) {
    fhir_client_options options;
    if (values.count("fhir-allow") != 0)
        options.allow = values["fhir-allow"].as<std::vector<std::string>>();
    if (values.count("fhir-deadline") != 0) {
        options.deadline =
            ops::bounded_duration("fhir-deadline", values["fhir-deadline"].as<ops::duration>(),
                                  std::chrono::milliseconds{1}, std::chrono::minutes{1});
    }
    if (values.count("fhir-max-pages") != 0) {
        auto const pages = values["fhir-max-pages"].as<int>();
        if (pages < 1 || pages > 1000)
            throw std::invalid_argument("--fhir-max-pages must be between 1 and 1000");
        options.max_pages = pages;
    }
    if (values.count("fhir-max-response-mib") != 0) {
        auto const mib = values["fhir-max-response-mib"].as<long>();
        if (mib < 1 || mib > 1024)
            throw std::invalid_argument("--fhir-max-response-mib must be between 1 and 1024");
        options.max_response_bytes = static_cast<std::size_t>(mib) * 1024 * 1024;
    }
    options.url.max_bytes =
        bounded_count(values, "fhir-max-url-bytes", 256, 65536, options.url.max_bytes);
    options.url.max_segments =
        bounded_count(values, "fhir-max-url-segments", 1, 1024, options.url.max_segments);
    options.max_medication_reads =
        bounded_count(values, "fhir-max-medication-reads", 0, 100000, options.max_medication_reads);
    options.max_connections_per_origin = bounded_count(values, "fhir-max-connections-per-origin", 1,
                                                       4096, options.max_connections_per_origin);
    if (values.count("fhir-ca-file") != 0)
        options.extra_ca_file = values["fhir-ca-file"].as<std::string>();
    return options;
}

}  // namespace cds::service::fhir_client
