#include "cds/service/fhir_client/command_line.hpp"

#include <stdexcept>
#include <string>
#include <vector>

#include <boost/program_options/value_semantic.hpp>

namespace cds::service::fhir_client {

namespace po = boost::program_options;

void add_fhir_client_options(po::options_description& description) {
    fhir_client_options const defaults;
    description.add_options()(
        "fhir-allow", po::value<std::vector<std::string>>()->composing(),
        "FHIR server base URL the service may fetch absent prefetch data from (repeatable); "
        "matched exactly on scheme, host and port, and as a path prefix. Default: none, "
        "fetching is off")(
        "fhir-deadline-ms", po::value<long>()->default_value(defaults.deadline.count()),
        "time budget for all FHIR server queries of one hook call, in milliseconds")(
        "fhir-max-pages", po::value<int>()->default_value(defaults.max_pages),
        "search result pages followed per prefetch query (Bundle next links)")(
        "fhir-max-response-mib",
        po::value<long>()->default_value(
            static_cast<long>(defaults.max_response_bytes / (1024 * 1024))),
        "largest FHIR server answer accepted, in MiB")(
        "fhir-ca-file", po::value<std::string>(),
        "PEM file of extra CA certificates trusted for FHIR servers, besides the system store");
}

fhir_client_options fhir_client_options_from(po::variables_map const& values) {
    fhir_client_options options;
    if (values.count("fhir-allow") != 0)
        options.allow = values["fhir-allow"].as<std::vector<std::string>>();
    if (values.count("fhir-deadline-ms") != 0) {
        auto const ms = values["fhir-deadline-ms"].as<long>();
        if (ms <= 0 || ms > 60'000)
            throw std::invalid_argument("--fhir-deadline-ms must be between 1 and 60000");
        options.deadline = std::chrono::milliseconds(ms);
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
    if (values.count("fhir-ca-file") != 0)
        options.extra_ca_file = values["fhir-ca-file"].as<std::string>();
    return options;
}

}  // namespace cds::service::fhir_client
