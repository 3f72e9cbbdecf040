// The checks of a request's head before its body is read: framing (RFC 9112 §6.1), Host
// (RFC 9112 §3.2), one Authorization, obs-fold (RFC 9112 §5.2) and Content-Encoding.

#include <optional>
#include <string>

#include <doctest/doctest.h>
#include <boost/json.hpp>

#include "cds/service/http/request_head.hpp"

namespace cds::service {
namespace {

header_list with_host(header_list extra) {
    extra.insert(extra.begin(), {"Host", "cds.example"});
    return extra;
}

std::string outcome_id(http_response const& response) {
    auto const outcome = boost::json::parse(response.body);
    return std::string{
        outcome.at("issue").at(0).at("details").at("coding").at(0).at("code").as_string()};
}

TEST_CASE("a plain HTTP/1.1 head passes") {
    CHECK_FALSE(refuse_request_head(11, with_host({{"Content-Type", "application/json"}})));
    CHECK_FALSE(refuse_request_head(11, with_host({{"Transfer-Encoding", "chunked"}})));
    CHECK_FALSE(refuse_request_head(11, with_host({{"Transfer-Encoding", " Chunked "}})));
    CHECK_FALSE(refuse_request_head(11, with_host({{"Content-Encoding", "identity"}})));
    CHECK_FALSE(refuse_request_head(11, with_host({{"Authorization", "Bearer a.b.c"}})));
    CHECK_FALSE(refuse_request_head(10, {}));  // HTTP/1.0 needs no Host
}

TEST_CASE("Transfer-Encoding whose last coding is not chunked: 400 and close") {
    for (auto const* value :
         {"xchunked", "gzip", "chunked, gzip", "identity", "chunked;q=1, x", ""}) {
        CAPTURE(value);
        auto const refused = refuse_request_head(11, with_host({{"Transfer-Encoding", value}}));
        REQUIRE(refused.has_value());
        CHECK(refused->status == 400);
        CHECK(refused->close);
        CHECK(outcome_id(*refused) == "malformed-http");
    }
    // Two field lines form one list: chunked then gzip ends with gzip.
    auto const split = refuse_request_head(
        11, with_host({{"Transfer-Encoding", "chunked"}, {"transfer-encoding", "gzip"}}));
    REQUIRE(split.has_value());
    CHECK(split->status == 400);
}

TEST_CASE("a transfer coding other than chunked before it: 501; any in HTTP/1.0: 400") {
    auto const gzip_chunked =
        refuse_request_head(11, with_host({{"Transfer-Encoding", "gzip, chunked"}}));
    REQUIRE(gzip_chunked.has_value());
    CHECK(gzip_chunked->status == 501);
    CHECK(outcome_id(*gzip_chunked) == "unsupported-transfer-coding");
    auto const http10 = refuse_request_head(10, {{"Transfer-Encoding", "chunked"}});
    REQUIRE(http10.has_value());
    CHECK(http10->status == 400);
}

TEST_CASE("Host: exactly one in HTTP/1.1") {
    auto const missing = refuse_request_head(11, {{"Content-Type", "application/json"}});
    REQUIRE(missing.has_value());
    CHECK(missing->status == 400);
    CHECK(missing->body.find("Host") != std::string::npos);
    auto const twice = refuse_request_head(11, {{"Host", "a"}, {"host", "b"}});
    REQUIRE(twice.has_value());
    CHECK(twice->status == 400);
}

TEST_CASE("two Authorization fields are refused, whatever they hold") {
    auto const refused = refuse_request_head(
        11, with_host({{"Authorization", "Bearer a.b.c"}, {"authorization", "Bearer a.b.c"}}));
    REQUIRE(refused.has_value());
    CHECK(refused->status == 400);
    CHECK(refused->close);
    CHECK(refused->body.find("Authorization") != std::string::npos);
}

TEST_CASE("Content-Encoding other than identity: 415 with Accept-Encoding") {
    for (auto const* value : {"gzip", "identity, gzip", "br", "x-whatever"}) {
        CAPTURE(value);
        auto const refused = refuse_request_head(11, with_host({{"Content-Encoding", value}}));
        REQUIRE(refused.has_value());
        CHECK(refused->status == 415);
        CHECK(refused->header("Accept-Encoding") == "identity");
        CHECK(outcome_id(*refused) == "unsupported-content-encoding");
    }
}

TEST_CASE("obs-fold: a CRLF followed by a space or tab inside the header section") {
    CHECK(has_obs_fold("POST / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n"));
    CHECK(has_obs_fold("POST / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n"));
    CHECK_FALSE(has_obs_fold("POST / HTTP/1.1\r\nHost: x\r\nX-A: a b\r\n\r\n"));
    CHECK_FALSE(has_obs_fold("POST / HTTP/1.1\r\nHost: x\r\n\r\n"));
    CHECK_FALSE(has_obs_fold(""));
    auto const refused = obs_fold_refusal();
    CHECK(refused.status == 400);
    CHECK(refused.close);
    CHECK(outcome_id(refused) == "malformed-http");
}

}  // namespace
}  // namespace cds::service
