#include "cds/service/fhir_client/fhir_allowlist.hpp"

#include <algorithm>
#include <cctype>

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <boost/url/url_view.hpp>

#include "cds/service/fhir_client/prefetch_query.hpp"

namespace cds::service::fhir_client {

namespace urls = boost::urls;

namespace {

using url_result = boost::system::result<http_url, std::string>;

// http_url is an aggregate that a string would also initialise, so errors are explicit.
url_result refuse(std::string reason) {
    return url_result(boost::system::in_place_error, std::move(reason));
}

// Path segments before the query or fragment, counted on the text: an upper bound that
// needs no parsing ("http://h/a/b" has 2; the two slashes of the authority do not count).
std::size_t path_segment_count(std::string_view text) {
    auto const end = text.find_first_of("?#");
    auto const path = text.substr(0, end);
    auto const slashes = static_cast<std::size_t>(std::count(path.begin(), path.end(), '/'));
    return slashes > 2 ? slashes - 2 : 0;
}

// Why a decoded path segment could be read by some server as something other than one plain
// segment (see parse_http_url in the header), or empty when it cannot.
std::string_view segment_problem(std::string_view decoded) {
    if (!decoded.empty() && decoded.find_first_not_of('.') == std::string_view::npos)
        return "URLs with '.' or '..' path segments are not allowed";
    for (char const c : decoded) {
        auto const u = static_cast<unsigned char>(c);
        if (c == ';') return "URLs with ';' path parameters are not allowed";
        if (c == '/' || c == '\\')
            return "URLs with an encoded '/' or '\\' in a path segment are not allowed";
        if (c == '%') return "URLs with an encoded '%' in the path are not allowed";
        if (u < 0x20 || u == 0x7f)
            return "URLs with control characters in the path are not allowed";
    }
    return {};
}

}  // namespace

std::string http_url::origin() const { return scheme + "://" + host + ":" + std::to_string(port); }

std::string http_url::target() const {
    std::string out = encoded_path.empty() ? std::string("/") : encoded_path;
    if (!encoded_query.empty()) {
        out += '?';
        out += encoded_query;
    }
    return out;
}

std::string http_url::host_header() const {
    bool const default_port =
        (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
    return default_port ? host : host + ":" + std::to_string(port);
}

boost::system::result<http_url, std::string> parse_http_url(std::string_view text,
                                                            url_limits const& limits) {
    if (text.size() > limits.max_bytes) {
        return refuse("the URL is longer than the limit of " + std::to_string(limits.max_bytes) +
                      " bytes");
    }
    if (path_segment_count(text) > limits.max_segments) {
        return refuse("the URL's path has more than the limit of " +
                      std::to_string(limits.max_segments) + " segments");
    }
    auto parsed = urls::parse_uri(text);
    if (!parsed) return refuse("not an absolute URL");
    urls::url_view const& u = *parsed;

    http_url out;
    switch (u.scheme_id()) {
        case urls::scheme::http:
            out.scheme = "http";
            out.port = 80;
            break;
        case urls::scheme::https:
            out.scheme = "https";
            out.port = 443;
            break;
        default:
            return refuse("only http and https URLs are allowed");
    }
    if (u.has_userinfo()) return refuse("URLs with user information are not allowed");
    if (u.has_fragment()) return refuse("URLs with a fragment are not allowed");
    std::string_view const host = u.encoded_host();
    if (host.empty()) return refuse("the URL has no host");
    if (host.find('%') != std::string_view::npos)
        return refuse("the URL's host is percent-encoded");
    out.host.reserve(host.size());
    std::transform(host.begin(), host.end(), std::back_inserter(out.host), [](char c) {
        return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    });
    if (u.has_port() && !u.port().empty()) {
        // port_number() wraps values above 65535, so the digits are checked here.
        std::string_view const digits = u.port();
        if (digits.size() > 5 || std::stoul(std::string(digits)) > 65535 || u.port_number() == 0) {
            return refuse("the URL's port is not a valid port number");
        }
        out.port = u.port_number();
    }

    // Boost.URL 1.81 reads "http://h:x:80/p" as host "h", an empty port and the rootless path
    // "x:80/p"; an authority followed by anything but "/" is not a URL a server would agree on.
    if (!u.encoded_path().empty() && !u.encoded_path().starts_with('/'))
        return refuse("the URL's authority is malformed");
    if (u.encoded_segments().size() > limits.max_segments) {
        return refuse("the URL's path has more than the limit of " +
                      std::to_string(limits.max_segments) + " segments");
    }
    for (auto const segment : u.encoded_segments()) {
        std::string decoded = segment.decode();
        if (auto const problem = segment_problem(decoded); !problem.empty())
            return refuse(std::string(problem));
        out.path_segments.push_back(std::move(decoded));
    }
    // "/fhir/" and "/fhir" name the same base.
    while (!out.path_segments.empty() && out.path_segments.back().empty())
        out.path_segments.pop_back();
    for (auto const& segment : out.path_segments) {
        out.encoded_path += '/';
        out.encoded_path += encode_path_segment(segment);
    }
    if (u.has_query()) out.encoded_query = u.encoded_query();
    // The normal form is what is sent and resolved against. It can be longer than the text
    // (the port written out; segments encoded again never grow), and must itself be within
    // the limit, or a URL accepted here would be refused when it comes back as a base.
    if (out.to_string().size() > limits.max_bytes) {
        return refuse("the URL is longer than the limit of " + std::to_string(limits.max_bytes) +
                      " bytes once normalised (the port written out)");
    }
    return out;
}

boost::system::result<http_url, std::string> resolve_http_url(http_url const& base,
                                                              std::string_view reference,
                                                              url_limits const& limits) {
    // Bounded before it is parsed; the resolved URL is bounded by parse_http_url.
    if (reference.size() > limits.max_bytes) return parse_http_url(reference, limits);
    auto ref = urls::parse_uri_reference(reference);
    if (!ref) return refuse("not a URL");
    if (ref->has_scheme()) return parse_http_url(reference, limits);
    auto const base_text = base.to_string();  // the view below points into it
    auto base_view = urls::parse_uri(base_text);
    if (!base_view) return refuse("not a URL");
    urls::url resolved(*base_view);
    if (!resolved.resolve(*ref)) return refuse("cannot be resolved against the server URL");
    return parse_http_url(resolved.buffer(), limits);
}

boost::system::result<fhir_allowlist, std::string> fhir_allowlist::from(
    std::vector<std::string> const& entries, url_limits const& limits) {
    fhir_allowlist list;
    for (auto const& entry : entries) {
        auto url = parse_http_url(entry, limits);
        if (!url) return "--fhir-allow " + entry + ": " + url.error();
        if (!url->encoded_query.empty())
            return "--fhir-allow " + entry + ": a base URL has no query";
        list.entries_.push_back(std::move(*url));
    }
    return list;
}

bool fhir_allowlist::allows(http_url const& url) const {
    return std::any_of(entries_.begin(), entries_.end(), [&](http_url const& entry) {
        return entry.same_origin(url) && entry.path_segments.size() <= url.path_segments.size() &&
               std::equal(entry.path_segments.begin(), entry.path_segments.end(),
                          url.path_segments.begin());
    });
}

}  // namespace cds::service::fhir_client
