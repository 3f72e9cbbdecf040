#pragma once
// Checks of a request's head (HTTP version and header fields) that the HTTP server makes
// before it reads the body: framing that two parsers could read two ways (request smuggling),
// fields a request must have once or not at all, and codings the service does not decode.
// Plain functions of the parsed fields, without Beast, so that they are unit-testable.

#include <optional>
#include <string_view>

#include "cds/service/http/http_message.hpp"

namespace cds::service {

// The answer for a head the service refuses (an OperationOutcome, to be sent with
// `Connection: close`: the body is never read), or nothing when the head is acceptable.
// `version` is 10 for HTTP/1.0 and 11 for HTTP/1.1.
[[nodiscard]] std::optional<http_response> refuse_request_head(unsigned version,
                                                               header_list const& headers);

// True when a header section (the bytes up to and including its empty line) folds a field
// value onto a continuation line (obs-fold: a CRLF followed by a space or tab, RFC 9112 §5.2).
[[nodiscard]] bool has_obs_fold(std::string_view header_section);

// The answer for a header section with an obs-fold: 400 (RFC 9112 §5.2 lets a server refuse
// rather than unfold, and an unfolded value could be read differently by another hop).
[[nodiscard]] http_response obs_fold_refusal();

}  // namespace cds::service
