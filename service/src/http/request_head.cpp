#include "cds/service/http/request_head.hpp"

#include <cstddef>
#include <string>
#include <vector>

#include "cds/service/http/router.hpp"

namespace cds::service {

namespace {

std::string_view trim_ows(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

// The codings named by every field line of `name`, in order, as one list (RFC 9110 §5.3: field
// lines of one name combine into one comma-separated list); empty list elements are skipped
// (RFC 9110 §5.6.1) and parameters (";q=...") dropped.
std::vector<std::string_view> coding_list(header_list const& headers, std::string_view name) {
    std::vector<std::string_view> codings;
    for (auto const& [key, value] : headers) {
        if (!iequals(key, name)) continue;
        std::string_view rest = value;
        for (;;) {
            std::size_t const comma = rest.find(',');
            std::string_view element = rest.substr(0, comma);
            element = trim_ows(element.substr(0, element.find(';')));
            if (!element.empty()) codings.push_back(element);
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
    }
    return codings;
}

std::size_t count_fields(header_list const& headers, std::string_view name) {
    std::size_t count = 0;
    for (auto const& field : headers) count += iequals(field.first, name) ? 1U : 0U;
    return count;
}

http_response refused(errc code, std::string const& diagnostics) {
    auto response = error_response(code, diagnostics);
    response.close = true;
    return response;
}

// RFC 9112 §6.1: with chunked not the final transfer coding the body's length cannot be
// determined, and HTTP/1.0 has no transfer codings at all; either framing may be read
// differently by another hop, so the request is refused and the connection closed. A coding
// other than chunked is one the service does not implement (RFC 9112 §6.1: 501).
std::optional<http_response> refuse_transfer_encoding(unsigned version,
                                                      header_list const& headers) {
    if (count_fields(headers, "Transfer-Encoding") == 0) return std::nullopt;
    if (version < 11) {
        return refused(
            errc::malformed_http,
            "an HTTP/1.0 request cannot use Transfer-Encoding; its framing is not trusted");
    }
    auto const codings = coding_list(headers, "Transfer-Encoding");
    if (codings.empty() || !iequals(codings.back(), "chunked")) {
        return refused(
            errc::malformed_http,
            "the last transfer coding of Transfer-Encoding must be chunked, else the body's length "
            "cannot be determined");
    }
    if (codings.size() > 1) {
        return refused(errc::unsupported_transfer_coding,
                       "Transfer-Encoding names a coding other than chunked; send the body with "
                       "chunked alone or "
                       "with Content-Length");
    }
    return std::nullopt;
}

// RFC 9110 §15.5.16: 415 for a content coding the service does not decode, with
// Accept-Encoding saying which it does (RFC 9110 §12.5.3).
std::optional<http_response> refuse_content_encoding(header_list const& headers) {
    for (auto const coding : coding_list(headers, "Content-Encoding")) {
        if (iequals(coding, "identity")) continue;
        auto response = refused(
            errc::unsupported_content_encoding,
            "the body has a Content-Encoding the service does not decode; send it unencoded");
        response.set_header("Accept-Encoding", "identity");
        return response;
    }
    return std::nullopt;
}

}  // namespace

std::optional<http_response> refuse_request_head(unsigned version, header_list const& headers) {
    if (auto refusal = refuse_transfer_encoding(version, headers)) return refusal;
    // RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, and for any with more than one.
    std::size_t const hosts = count_fields(headers, "Host");
    if (version >= 11 && hosts == 0) {
        return refused(errc::malformed_http, "an HTTP/1.1 request must have a Host header field");
    }
    if (hosts > 1)
        return refused(errc::malformed_http, "the request has more than one Host header field");
    // Two credentials: which one a hop acts on is not defined (RFC 9110 §11.6.2 allows one).
    if (count_fields(headers, "Authorization") > 1) {
        return refused(errc::malformed_http,
                       "the request has more than one Authorization header field");
    }
    return refuse_content_encoding(headers);
}

bool has_obs_fold(std::string_view header_section) {
    for (std::size_t at = header_section.find("\r\n"); at != std::string_view::npos;
         at = header_section.find("\r\n", at + 2)) {
        if (at + 2 < header_section.size() &&
            (header_section[at + 2] == ' ' || header_section[at + 2] == '\t')) {
            return true;
        }
    }
    return false;
}

http_response obs_fold_refusal() {
    return refused(errc::malformed_http,
                   "a header field value is folded onto a continuation line (obs-fold); send each "
                   "field on one line");
}

}  // namespace cds::service
