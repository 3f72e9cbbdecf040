#pragma once
// The service's error registry (STYLE.md practice 14): every protocol or HTTP-level error the
// service answers with has one stable code here, mapped once to an HTTP status, a FHIR
// OperationOutcome issue type and a stable id that clients and logs can rely on.
// Numbers are never renumbered or reused; new errors get new numbers at the end.

#include <span>
#include <string_view>
#include <system_error>

namespace cds::service {

enum class errc {
    malformed_json = 1,                 // 400: the body is not JSON
    json_too_deep = 2,                  // 400: nesting deeper than the configured limit
    schema_violation = 3,               // 400: the CDS Hooks request/feedback schema is violated
    hook_mismatch = 4,                  // 400: `hook` is not the hook the service answers
    unknown_service = 5,                // 404: no service with that id
    unknown_path = 6,                   // 404: no such endpoint
    method_not_allowed = 7,             // 405: endpoint exists, method does not (Allow is sent)
    body_too_large = 8,                 // 413: body over the configured limit
    unsupported_media_type = 9,         // 415: body is not application/json
    required_data_unavailable = 10,     // 412: required prefetch neither sent nor obtainable
    headers_too_large = 11,             // 431: request line + headers over the limit
    too_many_connections = 12,          // 503: connection limit reached
    malformed_http = 13,                // 400: not parseable as HTTP/1.1
    request_timeout = 14,               // 408: the request did not arrive in time
    internal_error = 15,                // 500: our bug; never carries details to the client
    unauthorized = 16,                  // 401: answered bare (no body) per CDS Hooks best practice
    not_ready = 17,                     // 503: readiness probe while no rule set is loaded
    too_many_resources = 18,            // 413: more FHIR resources in one call than configured
    unsupported_content_encoding = 19,  // 415: a Content-Encoding other than identity
    unsupported_transfer_coding = 20,   // 501: a transfer coding other than chunked
    bodies_over_budget = 21,  // 503: the bodies in flight would exceed the server's budget
    bad_query = 22,           // 400: a query parameter the service refuses (explain, rules)
};

struct errc_info {
    int http_status;
    std::string_view id;          // stable, kebab-case: "schema-violation"
    std::string_view issue_code;  // FHIR IssueType code: "invalid", "not-found", ...
    std::string_view message;     // generic text; diagnostics add the specifics
};

// Every registered code, in numeric order (for table tests and documentation).
[[nodiscard]] std::span<errc const> all_errcs();
[[nodiscard]] errc_info const& info(errc code);

[[nodiscard]] std::error_category const& service_category();
[[nodiscard]] std::error_code make_error_code(errc code);

}  // namespace cds::service

template <>
struct std::is_error_code_enum<cds::service::errc> : std::true_type {};
