#pragma once
// The seam for authenticating CDS Clients (CDS Hooks 2.0 "Trusting CDS Clients").
// The router calls the authenticator, when one is configured, for every request but a CORS
// preflight, with the endpoint kind found from the path pattern — after the header and before
// the service id is looked up or the body is read. The authenticator alone decides which kinds
// need a token. A refusal is answered with a bare 401 and `WWW-Authenticate: Bearer` (no
// reason in the body, as the spec's security advice says); the reason goes only to the log
// line.

#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "cds/service/http/http_message.hpp"

namespace cds::service {

enum class endpoint_kind {
    discovery,     // GET /cds-services
    service_call,  // POST /cds-services/{id}
    feedback,      // POST /cds-services/{id}/feedback
    health,        // GET /healthz
    readiness,     // GET /readyz
    ui,            // GET /ui and /ui/{file}: the card viewer (public, like discovery)
    metrics,       // GET /metrics: Prometheus text format (public, like /healthz)
    rule_page,     // GET /rules/{rule-id}: a rule's documentation (public, like discovery)
    unknown,
};

struct auth_request {
    http_request const& request;  // valid until the returned awaitable completes
    endpoint_kind endpoint;
    std::string_view path;  // the request path without query, e.g. "/cds-services/x/feedback";
                            // the JWT `aud` is the public base URL followed by this path
    std::string_view service_id;  // empty for discovery
};

struct auth_decision {
    bool allowed = false;
    // A stable reason name for the log ("expired", "bad_signature", ...): never the token,
    // never claims other than what the verifier deems printable.
    std::string log_reason;
    // The verified token's issuer when a token was checked and accepted (the card ledger
    // records it); empty otherwise.
    std::string client_iss;
};

class request_authenticator {
public:
    virtual ~request_authenticator() = default;
    // Thread-safe; may be called concurrently from every server thread. Never throws on
    // request data (a malformed token is a refusal, not an exception).
    virtual boost::asio::awaitable<auth_decision> authenticate(auth_request request) = 0;
    // Called by the server once its I/O threads have stopped, before its io_contexts go: work
    // still running elsewhere on behalf of a request (which resumes the request on its
    // io_context when done) must finish or be dropped here, not after the io_contexts are
    // destroyed. Waits for it.
    virtual void finish_background_work() {}
};

}  // namespace cds::service
