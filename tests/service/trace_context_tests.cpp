// W3C Trace Context (https://www.w3.org/TR/trace-context/) on hook calls: which traceparent
// values are accepted (section 3.2) and ignored (section 4.3), and the child span passed on to
// the FHIR server (same trace id, this request's span as parent id).

#include <set>
#include <string>

#include <doctest/doctest.h>

#include "cds/service/http/http_message.hpp"
#include "cds/service/http/trace_context.hpp"

using namespace cds::service;

namespace {

constexpr char const* valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

http_request with_headers(header_list headers) {
    http_request r;
    r.method = "POST";
    r.target = "/cds-services/magnesium-patient-view";
    r.headers = std::move(headers);
    return r;
}

}  // namespace

TEST_CASE("traceparent: a version 00 value is read into trace id, parent id and flags") {
    auto const parsed = parse_traceparent(valid);
    REQUIRE(parsed.has_value());
    CHECK(parsed->trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK(parsed->parent_id == "00f067aa0ba902b7");
    CHECK(parsed->flags == 0x01);
    CHECK(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")->flags == 0);
}

TEST_CASE("traceparent: malformed values are ignored") {
    char const* const malformed[] = {
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",         // no flags
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",     // 00 with more
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz",  // 00 with more
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",      // upper case
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",      // zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",      // zero parent id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",      // version ff
        "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",      // version not hex
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",      // wrong separators
        "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",      // fields misplaced
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",      // flags not hex
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",     // later version, no '-'
        " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",     // leading space
    };
    for (char const* value : malformed) {
        INFO(value);
        CHECK_FALSE(parse_traceparent(value).has_value());
    }
}

TEST_CASE("traceparent: a later version is read as version 00 when a new field follows") {
    auto const later = parse_traceparent(
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds");
    REQUIRE(later.has_value());
    CHECK(later->trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK(parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").has_value());
}

TEST_CASE("traceparent: the header is found by any case of its name, and two are none") {
    CHECK(traceparent_of(with_headers({{"TraceParent", valid}})).has_value());
    CHECK_FALSE(traceparent_of(with_headers({})).has_value());
    CHECK_FALSE(
        traceparent_of(with_headers({{"traceparent", valid},
                                     {"traceparent",
                                      "00-12345678901234567890123456789012-1234567890123456-"
                                      "01"}}))
            .has_value());
}

TEST_CASE("traceparent: the child span keeps the trace id and the sampled flag only") {
    auto const parent = *parse_traceparent(valid);
    auto const span = new_span_id();
    CHECK(child_traceparent(parent, span) == "00-4bf92f3577b34da6a3ce929d0e0e4736-" + span + "-01");
    auto const unsampled =
        *parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-fe");
    CHECK(child_traceparent(unsampled, span).ends_with("-00"));
    // The child is itself a valid traceparent.
    CHECK(parse_traceparent(child_traceparent(parent, span)).has_value());
}

TEST_CASE("traceparent: span ids are 16 lowercase hex digits, not zero, and differ") {
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        auto const id = new_span_id();
        REQUIRE(id.size() == 16);
        CHECK(id.find_first_not_of("0123456789abcdef") == std::string::npos);
        CHECK(id != "0000000000000000");
        seen.insert(id);
    }
    CHECK(seen.size() == 1000);
}
