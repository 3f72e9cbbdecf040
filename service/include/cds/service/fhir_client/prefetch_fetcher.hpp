#pragma once
// The seam between the CDS Hooks request path and FHIR-server fetching (CDS Hooks 2.0
// "FHIR Resource Access"). The request path decides WHICH prefetch keys are absent (not
// null, not an OperationOutcome) and asks a fetcher for them; the fetcher owns token
// substitution, the fhirServer allowlist, HTTP(S), paging, retries and the deadline.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>

namespace cds::service {

// The time budget for all FHIR-server fetching of one hook call when --fhir-deadline does not
// set one (fhir_client_options::deadline, service_limits::fetch_deadline).
inline constexpr std::chrono::milliseconds default_fetch_deadline{std::chrono::seconds{2}};

struct prefetch_query {
    std::string key;        // prefetch key from the service definition
    std::string template_;  // the template as declared, tokens not yet substituted
};

struct fetch_request {
    std::string fhir_server;                          // request.fhirServer
    std::optional<std::string> token_type;            // fhirAuthorization.token_type ("Bearer")
    std::optional<std::string> access_token;          // fhirAuthorization.access_token (never log)
    boost::json::object context;                      // request.context, for {{context.*}} tokens
    std::optional<std::string> user_practitioner_id;  // for {{userPractitionerId}} etc.
    std::vector<prefetch_query> queries;
    std::chrono::steady_clock::time_point deadline;
    // The whole time budget `deadline` was set from (the configured fetch deadline), quoted in
    // failure texts; zero: the time left at the start of the fetch is quoted instead.
    std::chrono::milliseconds budget{0};
    // The W3C `traceparent` to send with every request to the FHIR server (a child span of the
    // hook call's trace, trace_context.hpp); nothing when the hook call carried none.
    std::optional<std::string> traceparent;
};

struct fetch_outcome {
    // key -> what the server returned (a Bundle, or a single resource for read queries),
    // with next pages and referenced Medications already merged into the Bundle.
    std::map<std::string, boost::json::value> results;
    // key -> why it could not be obtained, in words fit for a client (never the token).
    std::map<std::string, std::string> failures;
    // What went partly wrong without failing a key, in words fit for a client: a Medication
    // that a fetched MedicationRequest names but could not be read, a search cut at the page
    // limit. (Added by the FHIR-client work; the request path may show them in card detail.)
    std::vector<std::string> notes;
};

class prefetch_fetcher {
public:
    virtual ~prefetch_fetcher() = default;
    // Never throws on network or data errors; every key ends in results or failures, and the
    // coroutine completes by the deadline.
    virtual boost::asio::awaitable<fetch_outcome> fetch(fetch_request request) = 0;
};

}  // namespace cds::service
