#pragma once
// W3C Trace Context (Recommendation, https://www.w3.org/TR/trace-context/): the `traceparent`
// header an EHR or integration engine sends with a hook call, validated (section 3.2) and
// passed on to the FHIR-server calls the hook call makes, as a child span: the same trace id,
// this service's own span id as the parent id (section 3.2.2.3). A malformed or repeated
// header is ignored, as the section 4.3 processing model says; the call goes on untraced.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cds/service/http/http_message.hpp"

namespace cds::service {

struct trace_parent {
    std::string trace_id;   // 32 lowercase hex digits, not all zero
    std::string parent_id;  // 16 lowercase hex digits, not all zero: the caller's span
    std::uint8_t flags = 0;
};

// One header value. Version 00 is exactly "00-<trace-id>-<parent-id>-<flags>"; a later
// version is read as 00 when what follows the flags starts a new field ('-'); version ff and
// anything else malformed is nothing.
[[nodiscard]] std::optional<trace_parent> parse_traceparent(std::string_view value);

// The request's traceparent: nothing when absent, malformed, or sent more than once (the
// header is not a list, so two values cannot be combined).
[[nodiscard]] std::optional<trace_parent> traceparent_of(http_request const& request);

// A new span id: 16 lowercase hex digits from a per-thread random generator, never all zero.
// Also the request id of the access log.
[[nodiscard]] std::string new_span_id();

// The traceparent of a call this service makes within `parent`'s trace from its span `span_id`:
// version 00, the same trace id, and only the sampled flag kept: the one flag version 00
// defines (section 3.2.2.5); bits this service does not know it does not vouch for.
[[nodiscard]] std::string child_traceparent(trace_parent const& parent, std::string_view span_id);

}  // namespace cds::service
