// Harness (f): a request's `fhirServer` and a FHIR server's next links and redirects, through
// the FHIR client's URL parser and allowlist (parse_http_url, resolve_http_url,
// fhir_allowlist::allows).
//
// The input is one URL: parsed as fhirServer, and resolved as a next link against a URL under
// the allowed base.
//
// Properties checked beyond "no crash": an accepted URL is within the length and segment
// limits; none of its path segments is one that some server reads as other than a plain
// segment (dot-only, ';', '/', '\', '%', control characters), so the allowlist's
// segment-by-segment prefix is what the server sees; its normalised text parses back to the
// same URL; a URL the allowlist allows has the allowed origin and starts with the allowed
// segments.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cds/service/fhir_client/fhir_allowlist.hpp"
#include "fuzz_support.hpp"

namespace {

using cds::service::fhir_client::fhir_allowlist;
using cds::service::fhir_client::http_url;
using cds::service::fhir_client::url_limits;

constexpr char const* harness = "fhir_url";
constexpr url_limits limits{};

fhir_allowlist const& allowlist() {
    static fhir_allowlist const list = *fhir_allowlist::from({"http://127.0.0.1:8080/fhir"});
    return list;
}

bool plain_segment(std::string_view segment) {
    if (!segment.empty() && segment.find_first_not_of('.') == std::string_view::npos) return false;
    return std::none_of(segment.begin(), segment.end(), [](char c) {
        auto const u = static_cast<unsigned char>(c);
        return c == ';' || c == '/' || c == '\\' || c == '%' || u < 0x20 || u == 0x7f;
    });
}

void check_accepted(http_url const& url, std::string_view text) {
    CDS_FUZZ_REQUIRE(harness, url.path_segments.size() <= limits.max_segments, text);
    for (auto const& segment : url.path_segments)
        CDS_FUZZ_REQUIRE(harness, plain_segment(segment), text);
    auto const again = cds::service::fhir_client::parse_http_url(url.to_string(), limits);
    CDS_FUZZ_REQUIRE(harness, again.has_value(), text);
    CDS_FUZZ_REQUIRE(harness, again->same_origin(url), text);
    CDS_FUZZ_REQUIRE(harness, again->path_segments == url.path_segments, text);
    CDS_FUZZ_REQUIRE(harness, again->encoded_query == url.encoded_query, text);
    if (allowlist().allows(url)) {
        CDS_FUZZ_REQUIRE(harness, url.origin() == "http://127.0.0.1:8080", text);
        CDS_FUZZ_REQUIRE(harness, !url.path_segments.empty() && url.path_segments[0] == "fhir",
                         text);
        auto const target = url.target();
        CDS_FUZZ_REQUIRE(harness, target.starts_with("/fhir"), text);
        CDS_FUZZ_REQUIRE(harness, target.size() == 5 || target[5] == '/' || target[5] == '?', text);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    if (size > 64 * 1024) return -1;  // past every limit: refused by length alone
    auto const text = cds::fuzz::as_text(data, size);
    if (auto const url = cds::service::fhir_client::parse_http_url(text, limits)) {
        CDS_FUZZ_REQUIRE(harness, text.size() <= limits.max_bytes, text);
        check_accepted(*url, text);
    }
    static http_url const page = *cds::service::fhir_client::parse_http_url(
        "http://127.0.0.1:8080/fhir/Observation?patient=1");
    if (auto const next = cds::service::fhir_client::resolve_http_url(page, text, limits))
        check_accepted(*next, text);
    return 0;
}
