#pragma once
// Which FHIR servers the service may contact (issue 4 "Security"): a request's `fhirServer`
// is attacker-controlled input, and without a check the service could be made to reach
// internal addresses. Matching is exact on scheme, host and port (after default-port
// normalisation, so `http://h` equals `http://h:80` but `:80` never matches `:8080`) plus a
// path prefix that ends on a segment boundary (`/fhir` allows `/fhir/Patient`, never
// `/fhirx`).
//
// Immutable after construction; safe to share between threads.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

namespace cds::service::fhir_client {

// An absolute http(s) URL split into what the allowlist compares, normalised: scheme and host
// in lower case, the port made explicit, the path as decoded segments without a trailing
// empty one.
struct http_url {
    std::string scheme;  // "http" or "https"
    std::string host;    // "ehr.example.org", "127.0.0.1", "[::1]"
    std::uint16_t port = 0;
    std::vector<std::string> path_segments;
    std::string encoded_path;   // as sent: "/fhir/r4" (no trailing '/'; empty for the root)
    std::string encoded_query;  // without '?', may be empty

    bool is_https() const { return scheme == "https"; }
    // "https://ehr.example.org:443": the unit of connection reuse and of token scoping.
    std::string origin() const;
    bool same_origin(http_url const& other) const {
        return scheme == other.scheme && host == other.host && port == other.port;
    }
    // The origin-form request target: encoded path (at least "/") and query.
    std::string target() const;
    // The Host header value: the port only when it is not the scheme's default.
    std::string host_header() const;
    // The absolute URL again, normalised: "https://ehr.example.org:443/fhir/Patient/1".
    std::string to_string() const { return origin() + target(); }
};

// Resolves `reference` (absolute, or relative such as a Location header or a next link)
// against `base` and parses the result as parse_http_url does.
boost::system::result<http_url, std::string> resolve_http_url(http_url const& base,
                                                              std::string_view reference);

// Parses an absolute http(s) URL. Refused, with a reason: other schemes, user-info
// (`http://user@host`), fragments, a missing host, '.' or '..' path segments (which could
// walk out of an allowed prefix), malformed percent-encoding.
boost::system::result<http_url, std::string> parse_http_url(std::string_view text);

class fhir_allowlist {
public:
    fhir_allowlist() = default;
    // Start-up: every entry is an absolute http(s) base URL; a bad one is an error naming it.
    static boost::system::result<fhir_allowlist, std::string> from(
        std::vector<std::string> const& entries);

    bool empty() const { return entries_.empty(); }
    // True when some entry has the same scheme, host and port and its path segments are a
    // prefix of `url`'s.
    bool allows(http_url const& url) const;

private:
    std::vector<http_url> entries_;
};

}  // namespace cds::service::fhir_client
