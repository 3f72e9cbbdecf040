#pragma once
// The request path as plain functions of (request, service_state) -> response: no sockets,
// no Beast (STYLE.md practice 7). The HTTP server, the `evaluate` command and the unit tests
// all go through handle_request.
//
// handle_request is a coroutine only because a CDS call may have to wait for the FHIR
// server (prefetch_fetcher) or for the authenticator; everything else is synchronous.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "cds/service/auth/authentication.hpp"
#include "cds/service/cds/errors.hpp"
#include "cds/service/cds/service_state.hpp"
#include "cds/service/http/http_message.hpp"

namespace cds::service {

struct route_match {
    endpoint_kind kind = endpoint_kind::unknown;
    std::string path;          // decoded path without the query
    std::string service_id;    // for service_call and feedback
    std::string ui_file;       // for ui: the file under /ui/ ("" for the page itself)
    std::string rule_id;       // for rule_page
    bool valid_target = true;  // false: not an origin-form target (400)
};

// The endpoint kind comes from the path pattern alone (an unknown service id is still a
// service_call), so that authentication, which depends on the kind, precedes every lookup and
// answers alike for ids that exist and ids that do not.
[[nodiscard]] route_match match_route(std::string_view target);

// What the router decides from a request's head (method, target, header fields) before the
// server reads the body: the route, and the authenticator's answer for that kind of endpoint.
struct request_admission {
    route_match route;
    std::optional<http_response> refusal;  // the answer (401); the body is never needed
    std::string auth_note;                 // what the authenticator said about an accepted token
    std::string client_iss;  // the accepted token's issuer (auth_decision::client_iss)
};

// `head` needs no body. CORS preflights are admitted without asking the authenticator (the
// Fetch standard sends them without credentials). Never throws on request data.
[[nodiscard]] boost::asio::awaitable<request_admission> admit_request(http_request const& head,
                                                                      service_state const& state);

// The answer to a request admit_request has seen, now with its body: the refusal when there is
// one. CORS headers are on every response it returns.
[[nodiscard]] boost::asio::awaitable<http_response> respond_to_admitted(http_request request,
                                                                        request_admission admission,
                                                                        service_state const& state);

// admit_request then respond_to_admitted, for a request read whole (the `evaluate` command,
// tests). Never throws on request data. The caller must keep `state` alive until the coroutine
// completes.
[[nodiscard]] boost::asio::awaitable<http_response> handle_request(http_request request,
                                                                   service_state const& state);

// Runs handle_request to completion on a private io_context (the `evaluate` command, tests).
// Rethrows what the coroutine threw (only programmer errors).
[[nodiscard]] http_response handle_request_blocking(http_request request,
                                                    service_state const& state);

// An OperationOutcome error response for `code` (CDS Hooks 3.0 recommends OperationOutcome
// bodies). `diagnostics` says what is wrong; `expression` names where (an element path of
// the request), and is omitted when empty. unauthorized gives a bare 401 instead.
[[nodiscard]] http_response error_response(errc code,
                                           std::string const& diagnostics,
                                           std::string const& expression = {});

struct outcome_issue {
    std::string diagnostics;
    std::string expression;  // may be empty
    // FHIR IssueSeverity: "error", or "warning" for what did not cause the error but is worth
    // knowing (optional data that was unavailable too, next to the required data of a 412).
    std::string severity = "error";
};
// The same with one OperationOutcome issue per entry (e.g. every unavailable required key).
[[nodiscard]] http_response error_response(errc code, std::vector<outcome_issue> const& issues);

// Adds Access-Control-Allow-Origin (and Vary when origins are explicit) for a request whose
// Origin header is `origin` (may be empty).
void apply_cors(http_response& response, std::string_view origin, cors_policy const& cors);

// The CORS preflight answer (204) for any path.
[[nodiscard]] http_response preflight_response(cors_policy const& cors);

}  // namespace cds::service
