#include "cds/service/fhir_client/fhir_allowlist.hpp"

#include <doctest/doctest.h>

using namespace cds::service::fhir_client;

namespace {

fhir_allowlist list_of(std::vector<std::string> const& entries) {
    auto list = fhir_allowlist::from(entries);
    REQUIRE(list.has_value());
    return *list;
}

bool allowed(fhir_allowlist const& list, std::string_view url) {
    auto parsed = parse_http_url(url);
    return parsed && list.allows(*parsed);
}

}  // namespace

TEST_CASE("URLs are normalised: scheme and host case, default ports, trailing slash") {
    auto url = parse_http_url("HTTPS://EHR.Example.ORG/Fhir/R4/");
    REQUIRE(url.has_value());
    CHECK(url->scheme == "https");
    CHECK(url->host == "ehr.example.org");
    CHECK(url->port == 443);
    CHECK(url->path_segments ==
          std::vector<std::string>{"Fhir", "R4"});  // paths stay case-sensitive
    CHECK(url->encoded_path == "/Fhir/R4");
    CHECK(url->origin() == "https://ehr.example.org:443");
    CHECK(url->host_header() == "ehr.example.org");
    CHECK(url->target() == "/Fhir/R4");

    auto plain = parse_http_url("http://127.0.0.1:8080/fhir?x=1");
    REQUIRE(plain.has_value());
    CHECK(plain->port == 8080);
    CHECK(plain->host_header() == "127.0.0.1:8080");
    CHECK(plain->target() == "/fhir?x=1");
    CHECK(parse_http_url("http://h")->port == 80);
    CHECK(parse_http_url("http://h")->target() == "/");
    CHECK(parse_http_url("http://[::1]:9/fhir")->host == "[::1]");
}

TEST_CASE("URLs that could mislead the allowlist are refused") {
    auto reason = [](std::string_view url) {
        auto parsed = parse_http_url(url);
        return parsed ? std::string("(accepted)") : parsed.error();
    };
    CHECK(reason("ftp://h/fhir") == "only http and https URLs are allowed");
    CHECK(reason("file:///etc/passwd") == "only http and https URLs are allowed");
    CHECK(reason("http://user:pw@h/fhir") == "URLs with user information are not allowed");
    CHECK(reason("http://h/fhir#x") == "URLs with a fragment are not allowed");
    CHECK(reason("http://h/fhir/../admin") ==
          "URLs with '.' or '..' path segments are not allowed");
    CHECK(reason("http://h/fhir/%2e%2e/admin") ==
          "URLs with '.' or '..' path segments are not allowed");
    CHECK(reason("http://h:0/") == "the URL's port is not a valid port number");
    CHECK(reason("http://h:99999/") == "the URL's port is not a valid port number");
    // Boost.URL reads the authority "h:t:80" as host "h", empty port and rootless path "t:80/".
    CHECK(reason("http://h:t:80/fhir") == "the URL's authority is malformed");
    CHECK(reason("http://h:/fhir").find("accepted") != std::string::npos);
    CHECK(reason("/fhir") == "not an absolute URL");
    CHECK(reason("not a url") == "not an absolute URL");
}

TEST_CASE("matching is exact on scheme, host and port") {
    auto const list = list_of({"http://127.0.0.1:8080/fhir", "https://ehr.example.org/fhir/r4"});
    CHECK(allowed(list, "http://127.0.0.1:8080/fhir"));
    CHECK(allowed(list, "http://127.0.0.1:8080/fhir/"));
    CHECK_FALSE(allowed(list, "https://127.0.0.1:8080/fhir"));
    CHECK_FALSE(allowed(list, "http://127.0.0.1:80/fhir"));
    CHECK_FALSE(allowed(list, "http://127.0.0.1/fhir"));
    CHECK_FALSE(allowed(list, "http://127.0.0.1:808/fhir"));
    CHECK_FALSE(allowed(list, "http://localhost:8080/fhir"));
    CHECK_FALSE(allowed(list, "http://127.0.0.2:8080/fhir"));
    CHECK(allowed(list, "https://EHR.example.org:443/fhir/r4"));
    CHECK_FALSE(allowed(list, "http://ehr.example.org/fhir/r4"));
    CHECK_FALSE(allowed(list, "https://ehr.example.org.evil.test/fhir/r4"));
    CHECK_FALSE(allowed(list, "https://evil.test/ehr.example.org/fhir/r4"));

    // ":80" never matches ":8080", in either direction.
    auto const port_80 = list_of({"http://h:80/"});
    CHECK(allowed(port_80, "http://h/"));
    CHECK(allowed(port_80, "http://h:80/anything"));
    CHECK_FALSE(allowed(port_80, "http://h:8080/"));
    CHECK_FALSE(allowed(list_of({"http://h:8080/"}), "http://h:80/"));
    CHECK(allowed(list_of({"https://h"}), "https://h:443/x"));
}

TEST_CASE("the path is a prefix ending on a segment boundary") {
    auto const list = list_of({"http://h:9/fhir/r4/"});
    CHECK(allowed(list, "http://h:9/fhir/r4"));
    CHECK(allowed(list, "http://h:9/fhir/r4/Patient/1"));
    CHECK(allowed(list, "http://h:9/fhir/r4/Observation?patient=1"));
    CHECK_FALSE(allowed(list, "http://h:9/fhir/r4x"));
    CHECK_FALSE(allowed(list, "http://h:9/fhir/r"));
    CHECK_FALSE(allowed(list, "http://h:9/fhir"));
    CHECK_FALSE(allowed(list, "http://h:9/FHIR/r4"));
    CHECK_FALSE(allowed(list, "http://h:9/other/fhir/r4"));
    CHECK_FALSE(allowed(list, "http://h:9/fhir/r4/../../admin"));  // refused by the parser already
    // Percent-encoding does not hide a segment from the comparison.
    CHECK(allowed(list, "http://h:9/fhir/%72%34/Patient"));
    CHECK(allowed(list_of({"http://h:9"}), "http://h:9/any/path"));
}

TEST_CASE("an empty allowlist allows nothing") {
    fhir_allowlist const none;
    CHECK(none.empty());
    CHECK_FALSE(allowed(none, "http://127.0.0.1:8080/fhir"));
}

TEST_CASE("bad allowlist entries are start-up errors naming the entry") {
    auto list = fhir_allowlist::from({"http://ok.example/fhir", "ftp://bad.example/"});
    REQUIRE_FALSE(list.has_value());
    CHECK(list.error() == "--fhir-allow ftp://bad.example/: only http and https URLs are allowed");
    CHECK_FALSE(fhir_allowlist::from({"http://h/fhir?x=1"}).has_value());
}

TEST_CASE("next links and redirects resolve against the current URL") {
    auto const base = *parse_http_url("http://127.0.0.1:9000/fhir/Observation?patient=1");
    auto absolute =
        resolve_http_url(base, "http://127.0.0.1:9000/fhir/Observation?patient=1&_offset=20");
    REQUIRE(absolute.has_value());
    CHECK(absolute->target() == "/fhir/Observation?patient=1&_offset=20");
    auto relative = resolve_http_url(base, "Observation?patient=1&_offset=40");
    REQUIRE(relative.has_value());
    CHECK(relative->to_string() == "http://127.0.0.1:9000/fhir/Observation?patient=1&_offset=40");
    auto rooted = resolve_http_url(base, "/elsewhere/x");
    REQUIRE(rooted.has_value());
    CHECK(rooted->path_segments == std::vector<std::string>{"elsewhere", "x"});
    auto other = resolve_http_url(base, "https://other.example/fhir");
    REQUIRE(other.has_value());
    CHECK_FALSE(other->same_origin(base));
    CHECK_FALSE(resolve_http_url(base, "ftp://x/").has_value());
}

TEST_CASE("paths that some server reads as leaving an allowed prefix are refused") {
    auto const list = list_of({"http://h:9/fhir"});
    auto reason = [](std::string_view url) {
        auto parsed = parse_http_url(url);
        return parsed ? std::string("(accepted)") : parsed.error();
    };
    // Tomcat and Jetty drop ";..." path parameters before resolving dot-segments: `..;` is `..`.
    CHECK(reason("http://h:9/fhir/..;/admin") == "URLs with ';' path parameters are not allowed");
    CHECK(reason("http://h:9/fhir/..%3B/admin") == "URLs with ';' path parameters are not allowed");
    CHECK(reason("http://h:9/fhir/Patient;jsessionid=1") ==
          "URLs with ';' path parameters are not allowed");
    // Encoded separators, which some servers and proxies decode before routing.
    CHECK(reason("http://h:9/fhir/%2F..%2Fadmin") ==
          "URLs with an encoded '/' or '\\' in a path segment are not allowed");
    CHECK(reason("http://h:9/fhir/%2f..%2fadmin") ==
          "URLs with an encoded '/' or '\\' in a path segment are not allowed");
    CHECK(reason("http://h:9/fhir/..%5Cadmin") ==
          "URLs with an encoded '/' or '\\' in a path segment are not allowed");
    // Double encoding (a second decoding gives "../"), dot-only segments, control characters.
    CHECK(reason("http://h:9/fhir/%252e%252e%252fadmin") ==
          "URLs with an encoded '%' in the path are not allowed");
    CHECK(reason("http://h:9/fhir/%2E%2e/admin") ==
          "URLs with '.' or '..' path segments are not allowed");
    CHECK(reason("http://h:9/fhir/.../admin") ==
          "URLs with '.' or '..' path segments are not allowed");
    CHECK(reason("http://h:9/fhir/%2E/admin") ==
          "URLs with '.' or '..' path segments are not allowed");
    CHECK(reason("http://h:9/fhir/..%00/admin") ==
          "URLs with control characters in the path are not allowed");
    for (auto const* url : {"http://h:9/fhir/..;/admin", "http://h:9/fhir/%2F..%2Fadmin",
                            "http://h:9/fhir/..%5C..%5Cadmin", "http://h:9/fhir/;/../admin"}) {
        CHECK_MESSAGE(!allowed(list, url), url);
    }
    // A ';' or '/' in the query is data, not a path parameter or separator.
    CHECK(allowed(list, "http://h:9/fhir/Observation?code=a;b&x=http://loinc.org"));
    CHECK(allowed(list, "http://h:9/fhir/Patient/pat-1.v2"));
    // Next links and redirects are parsed the same way.
    auto const base = *parse_http_url("http://h:9/fhir/Observation");
    CHECK_FALSE(resolve_http_url(base, "/fhir/..;/admin").has_value());
    CHECK_FALSE(resolve_http_url(base, "..%2F..%2Fadmin").has_value());
}

TEST_CASE("URL length and segment count are bounded before parsing") {
    url_limits const limits{64, 4};
    CHECK(parse_http_url("http://h/a/b/c/d", limits).has_value());
    CHECK(parse_http_url("http://h/a/b/c/d?x=/1/2/3/4/5", limits).has_value());
    auto const deep = parse_http_url("http://h/a/b/c/d/e", limits);
    REQUIRE_FALSE(deep.has_value());
    CHECK(deep.error() == "the URL's path has more than the limit of 4 segments");
    auto const long_url = parse_http_url("http://h/" + std::string(60, 'a'), limits);
    REQUIRE_FALSE(long_url.has_value());
    CHECK(long_url.error() == "the URL is longer than the limit of 64 bytes");
    // 64 bytes as written, 67 with its port: its normal form would not parse again.
    auto const at_limit = parse_http_url("http://h/" + std::string(55, 'a'), limits);
    REQUIRE_FALSE(at_limit.has_value());
    CHECK(at_limit.error() ==
          "the URL is longer than the limit of 64 bytes once normalised (the port written out)");
    auto const within = parse_http_url("http://h/" + std::string(52, 'a'), limits);
    REQUIRE(within.has_value());
    CHECK(within->to_string().size() == 64);
    CHECK(parse_http_url(within->to_string(), limits).has_value());

    // The defaults: a 4 MB fhirServer of "/a" segments is refused without keeping its segments.
    std::string hostile = "http://h:9/fhir";
    while (hostile.size() < 4 * 1024 * 1024) hostile += "/a";
    auto const refused = parse_http_url(hostile);
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error() == "the URL is longer than the limit of " +
                                 std::to_string(url_limits{}.max_bytes) + " bytes");
    std::string many = "http://h:9/fhir";
    for (std::size_t i = 0; i < url_limits{}.max_segments; ++i) many += "/a";
    CHECK_FALSE(parse_http_url(many).has_value());
    many.resize(many.size() - 2);
    CHECK(parse_http_url(many).has_value());
    auto const base = *parse_http_url("http://h:9/fhir/Observation");
    CHECK_FALSE(resolve_http_url(base, hostile.substr(10)).has_value());
    CHECK_FALSE(fhir_allowlist::from({"http://h/a/b/c/d/e"}, limits).has_value());
}
