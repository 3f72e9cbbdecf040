#pragma once
// Shared helpers for the service unit tests: the bundled rule set, a service state with
// deterministic uuids, fixture requests, and recording fakes for the three seams.

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "cds/service/cds/service_state.hpp"
#include "cds/service/http/router.hpp"

namespace cds::service::testing {

// The bundled rule set, loaded once; the test fails (throws) if it does not load.
std::shared_ptr<rules::rule_set const> bundled_rules();

// A state over the bundled rules with uuids "uuid-1", "uuid-2", ... (per state).
service_state make_state(service_limits limits = {}, cors_policy cors = {});

std::string read_text(std::string const& path);
// fixtures/requests/<name>
boost::json::object fixture_request(std::string const& name);

http_request post(std::string target,
                  std::string body,
                  std::string content_type = "application/json");
http_request get(std::string target);

boost::json::value parse(std::string const& text);
// The first issue's diagnostics / expression[0] of an OperationOutcome body.
std::string diagnostics_of(http_response const& response);
std::string expression_of(http_response const& response);

// Replaces every "uuid" member's value by "-", so responses compare apart from uuids.
boost::json::value without_uuids(boost::json::value v);

class recording_fetcher final : public prefetch_fetcher {
public:
    boost::asio::awaitable<fetch_outcome> fetch(fetch_request request) override;
    std::vector<fetch_request> calls;
    fetch_outcome answer;
};

class scripted_authenticator final : public request_authenticator {
public:
    explicit scripted_authenticator(bool allow) : allow_{allow} {}
    boost::asio::awaitable<auth_decision> authenticate(auth_request request) override;
    std::vector<endpoint_kind> seen;
    std::vector<std::string> paths;

private:
    bool allow_;
};

class recording_sink final : public feedback_sink {
public:
    boost::asio::awaitable<feedback_receipt> record(std::string service_id,
                                                    std::vector<feedback_entry> entries) override;
    std::vector<std::pair<std::string, std::vector<feedback_entry>>> received;
    bool accept = true;
};

}  // namespace cds::service::testing
