// The rules' documentation pages (GET /rules/{rule-id}) and the cards' links to them, through
// the router without sockets; the markdown renderer escapes everything it is given.

#include <string>

#include <doctest/doctest.h>

#include "cds/service/cds/rule_pages.hpp"
#include "cds/service/http/router.hpp"
#include "support.hpp"

namespace cds::service {
namespace {

using namespace testing;

std::string severe_request() {
    return read_text(std::string{CDS_FIXTURES_DIR} + "/requests/patient-view-severe.json");
}

bool contains(std::string const& text, std::string const& part) {
    return text.find(part) != std::string::npos;
}

TEST_CASE("every rule of the bundled rule set has its page; an unknown id is 404") {
    auto const state = make_state();
    auto const ids = state.rules->rule_ids();
    REQUIRE_FALSE(ids.empty());
    for (auto const& id : ids) {
        CAPTURE(id);
        auto const page = handle_request_blocking(get("/rules/" + id), state);
        CHECK(page.status == 200);
        CHECK(page.content_type == "text/html; charset=utf-8");
        CHECK(contains(page.body, "<code>" + id + "</code>"));
        CHECK(contains(page.body, "<h1>"));
        // The rule's own section, not the next one.
        CHECK_FALSE(contains(page.body, "## "));
    }
    auto const unknown = handle_request_blocking(get("/rules/no-such-rule"), state);
    CHECK(unknown.status == 404);
    CHECK(parse(unknown.body).at("resourceType").as_string() == "OperationOutcome");
    // A heading of the clinical basis that is not a rule is no page either.
    CHECK(handle_request_blocking(get("/rules/%C2%A75%20Every%20card"), state).status == 404);
    CHECK(handle_request_blocking(post("/rules/hypomagnesemia", "{}"), state).status == 405);
    CHECK(match_route("/rules/hypomagnesemia").kind == endpoint_kind::rule_page);
    CHECK(match_route("/rules/").kind == endpoint_kind::unknown);
    CHECK(match_route("/rules/a/b").kind == endpoint_kind::unknown);
}

TEST_CASE("cards link to their rule's page under the public URL, never a placeholder host") {
    auto const state = make_state();
    auto check_links = [&](std::string const& base) {
        auto const response = handle_request_blocking(
            post("/cds-services/magnesium-patient-view", severe_request()), state);
        REQUIRE(response.status == 200);
        auto const document = parse(response.body);
        auto const& cards = document.at("cards").as_array();
        REQUIRE_FALSE(cards.empty());
        for (auto const& card : cards) {
            auto const& source = card.at("source").as_object();
            std::string const rule_id{source.at("topic").at("code").as_string()};
            CHECK(source.at("url").as_string() == base + "/rules/" + rule_id);
        }
        CHECK_FALSE(contains(response.body, "magnesium-cds.example.org/rules"));
    };
    check_links(std::string{default_public_url});
    state.public_base->set("https://cds.hospital.test/mg");
    check_links("https://cds.hospital.test/mg");
    CHECK(rule_page_url("http://h:1", "a b/c") == "http://h:1/rules/a%20b%2Fc");
}

TEST_CASE("markdown: the clinical basis subset as HTML, every character escaped") {
    CHECK(markdown_to_html("# Title\n\nA *b* **c** `d<e>`.\nsame paragraph\n\nnext") ==
          "<h1>Title</h1>\n<p>A <em>b</em> <strong>c</strong> <code>d&lt;e&gt;</code>. same "
          "paragraph</p>\n<p>next</p>\n");
    CHECK(markdown_to_html("- one\n  continued\n- two\n\n1. first\n2. second") ==
          "<ul>\n<li>one continued</li>\n<li>two</li>\n</ul>\n<ol>\n<li>first</li>\n"
          "<li>second</li>\n</ol>\n");
    // Raw HTML is text; a link goes only to http(s).
    CHECK(markdown_to_html("<script>alert('x')</script> & \"q\"") ==
          "<p>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;</p>\n");
    CHECK(markdown_to_html("[ok](https://a.test/?q=\"1\") [bad](javascript:alert(1))") ==
          "<p><a href=\"https://a.test/?q=&quot;1&quot;\">ok</a> bad)</p>\n");
    // A lone star or a number with a dot is text, not emphasis or a list.
    CHECK(markdown_to_html("2 * 3 is 6\n1.8 mg/dL") == "<p>2 * 3 is 6 1.8 mg/dL</p>\n");
}

}  // namespace
}  // namespace cds::service
