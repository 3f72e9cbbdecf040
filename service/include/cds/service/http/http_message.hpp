#pragma once
// The HTTP request and response as the router sees them: plain values with no socket and no
// Beast types, so the whole request path is unit-testable and the CLI's `evaluate` can run it
// without a server. The HTTP server (http_server.cpp) converts to and from Beast messages.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cds/fhir/date_time.hpp"

namespace cds::service {

using header_list = std::vector<std::pair<std::string, std::string>>;

struct http_request {
    std::string method;   // "GET", "POST", "OPTIONS", ... as sent (HTTP methods are case-sensitive)
    std::string target;   // origin-form request target, with any query string
    header_list headers;  // as received; names compared case-insensitively
    std::string body;
    // When the request arrived (the hook's evaluation time); set by the server or the CLI.
    fhir::instant received_at{};
    // This service's span for the request (trace_context.hpp): the access log's request id and
    // the parent id of the FHIR-server calls it makes. Set by the server; empty from the CLI.
    std::string request_id;

    // Value of the first header with that name (case-insensitive), or empty.
    [[nodiscard]] std::string_view header(std::string_view name) const;
    [[nodiscard]] bool has_header(std::string_view name) const;
};

// Fields the per-request log line may show. Never patient data, never tokens.
struct log_fields {
    std::string route = "-";  // route template, e.g. "/cds-services/{id}", never the raw path
    std::string service_id;   // only ids of services that exist in the rule set
    int card_count = -1;      // -1: not a hook call that produced cards
    std::string note;         // e.g. the auth failure reason, the error id
    std::string hook;         // a hook call's hook
    std::vector<std::string> rule_ids;  // the rules whose cards were returned, each once
    std::string trace_id;               // the W3C trace id of a valid traceparent the caller sent
};

struct http_response {
    int status = 200;
    std::string content_type;  // empty: no body
    std::string body;
    header_list headers;  // extra headers (CORS, Allow, WWW-Authenticate, ...)
    bool close = false;   // close the connection after this response
    log_fields log;

    void set_header(std::string name, std::string value);
    [[nodiscard]] std::string_view header(std::string_view name) const;
};

// ASCII case-insensitive equality, for header names and media types.
[[nodiscard]] bool iequals(std::string_view a, std::string_view b);

}  // namespace cds::service
