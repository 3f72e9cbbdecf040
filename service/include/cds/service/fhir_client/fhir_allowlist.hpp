#pragma once
// Which FHIR servers the service may contact ("Security"): a request's `fhirServer`
// is attacker-controlled input, and without a check the service could be made to reach
// internal addresses. Matching is exact on scheme, host and port (after default-port
// normalisation, so `http://h` equals `http://h:80` but `:80` never matches `:8080`) plus a
// path prefix that ends on a segment boundary (`/fhir` allows `/fhir/Patient`, never
// `/fhirx`).
//
// Immutable after construction; safe to share between threads.

#include <cstddef>
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

// Bounds checked on the text of a URL before it is parsed: a request's `fhirServer` is client
// input, and every path segment of a parsed URL is kept (and compared) on its own.
struct url_limits {
    // --fhir-max-url-bytes: longer URLs (fhirServer, next links, redirects) are refused.
    std::size_t max_bytes = 8192;
    // --fhir-max-url-segments: URLs whose path has more '/'-separated segments are refused.
    std::size_t max_segments = 32;
};

// Resolves `reference` (absolute, or relative such as a Location header or a next link)
// against `base` and parses the result as parse_http_url does.
boost::system::result<http_url, std::string> resolve_http_url(http_url const& base,
                                                              std::string_view reference,
                                                              url_limits const& limits = {});

// Parses an absolute http(s) URL. Refused, with a reason: a text longer or a path with more
// segments than `limits` allows (checked before parsing), other schemes, user-info
// (`http://user@host`), fragments, a missing host, malformed percent-encoding, and path
// segments that some server would read differently from their plain segment-by-segment
// meaning, so that a path inside an allowed prefix could reach outside it: dot-segments
// ('.', '..', also percent-encoded; RFC 3986 §5.2.4), ';' path parameters (Tomcat and Jetty
// drop them before resolving dot-segments, so `..;` acts as `..`), encoded '/' or '\' (%2F,
// %5C: decoded to separators by some servers and proxies), encoded '%' (a second decoding
// would reveal any of these), and control characters.
boost::system::result<http_url, std::string> parse_http_url(std::string_view text,
                                                            url_limits const& limits = {});

class fhir_allowlist {
public:
    fhir_allowlist() = default;
    // Start-up: every entry is an absolute http(s) base URL; a bad one is an error naming it.
    static boost::system::result<fhir_allowlist, std::string> from(
        std::vector<std::string> const& entries, url_limits const& limits = {});

    bool empty() const { return entries_.empty(); }
    // True when some entry has the same scheme, host and port and its path segments are a
    // prefix of `url`'s.
    bool allows(http_url const& url) const;

private:
    std::vector<http_url> entries_;
};

}  // namespace cds::service::fhir_client
