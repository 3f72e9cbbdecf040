// Harness (f): the checks of a request's head before its body is read —
// cds::service::refuse_request_head (Transfer-Encoding framing, Host, Authorization,
// Content-Encoding) and cds::service::has_obs_fold.
//
// The input is a raw header section: a request line, then field lines, separated by CRLF. The
// harness splits it as a lenient parser would: the request line's "HTTP/1.0" gives version
// 10 (else 11); a line "name: value" is a field; a line that starts with a space or tab is
// an obs-fold continuation, appended to the previous field's value with one space (the way
// Beast unfolds it); other lines are skipped.
//
// Properties checked beyond "no crash": has_obs_fold agrees with the continuation lines found
// here; a refusal is a 400, 415 or 501 OperationOutcome sent with Connection: close; an
// accepted head has no Transfer-Encoding or exactly "chunked" in HTTP/1.1, exactly one Host in
// HTTP/1.1 and at most one in HTTP/1.0, at most one Authorization, and only identity content
// codings.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cds/service/http/request_head.hpp"
#include "fuzz_support.hpp"

namespace {

constexpr char const* harness = "request_head";

struct split_head {
    unsigned version = 11;
    cds::service::header_list headers;
    bool folded = false;
};

std::string_view trimmed(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

split_head split(std::string_view input) {
    split_head head;
    bool first = true;
    while (!input.empty()) {
        std::size_t const end = input.find("\r\n");
        std::string_view const line = input.substr(0, end);
        input.remove_prefix(end == std::string_view::npos ? input.size() : end + 2);
        if (first) {
            first = false;
            if (line.ends_with("HTTP/1.0")) head.version = 10;
            continue;
        }
        if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
            head.folded = true;
            if (!head.headers.empty()) {
                auto& value = head.headers.back().second;
                value.push_back(' ');
                value.append(trimmed(line));
            }
            continue;
        }
        std::size_t const colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) continue;
        head.headers.emplace_back(std::string{line.substr(0, colon)},
                                  std::string{trimmed(line.substr(colon + 1))});
    }
    return head;
}

// The comma-separated elements of every field named `name`, trimmed, empty ones skipped,
// parameters dropped.
std::vector<std::string> elements(cds::service::header_list const& headers, std::string_view name) {
    std::vector<std::string> out;
    for (auto const& [key, value] : headers) {
        if (!cds::service::iequals(key, name)) continue;
        std::size_t start = 0;
        while (start <= value.size()) {
            std::size_t const comma = std::min(value.find(',', start), value.size());
            std::string_view element{value.data() + start, comma - start};
            element = trimmed(element.substr(0, element.find(';')));
            if (!element.empty()) out.emplace_back(element);
            start = comma + 1;
        }
    }
    return out;
}

std::size_t count(cds::service::header_list const& headers, std::string_view name) {
    std::size_t n = 0;
    for (auto const& field : headers) n += cds::service::iequals(field.first, name) ? 1U : 0U;
    return n;
}

void check_accepted(split_head const& head) {
    auto const& headers = head.headers;
    auto const transfer = elements(headers, "Transfer-Encoding");
    if (count(headers, "Transfer-Encoding") > 0) {
        CDS_FUZZ_REQUIRE(harness, head.version == 11, "Transfer-Encoding accepted in HTTP/1.0");
        CDS_FUZZ_REQUIRE(harness,
                         transfer.size() == 1 && cds::service::iequals(transfer[0], "chunked"),
                         "a Transfer-Encoding other than chunked accepted");
    }
    std::size_t const hosts = count(headers, "Host");
    CDS_FUZZ_REQUIRE(harness, hosts <= 1 && (head.version == 10 || hosts == 1),
                     "Host accepted missing or twice");
    CDS_FUZZ_REQUIRE(harness, count(headers, "Authorization") <= 1,
                     "two Authorization fields accepted");
    for (auto const& coding : elements(headers, "Content-Encoding")) {
        CDS_FUZZ_REQUIRE(harness, cds::service::iequals(coding, "identity"), coding);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    auto const input = cds::fuzz::as_text(data, size);
    auto const head = split(input);
    CDS_FUZZ_REQUIRE(harness, cds::service::has_obs_fold(input) == head.folded,
                     "obs-fold detection disagrees");

    auto const refusal = cds::service::refuse_request_head(head.version, head.headers);
    if (!refusal) {
        check_accepted(head);
        return 0;
    }
    CDS_FUZZ_REQUIRE(harness,
                     refusal->status == 400 || refusal->status == 415 || refusal->status == 501,
                     std::to_string(refusal->status));
    CDS_FUZZ_REQUIRE(harness, refusal->close, "a refused head keeps the connection");
    auto const outcome = cds::fuzz::parse_json(refusal->body);
    CDS_FUZZ_REQUIRE(harness, outcome && outcome->is_object(), refusal->body);
    auto const* type = outcome->get_object().if_contains("resourceType");
    CDS_FUZZ_REQUIRE(
        harness, type != nullptr && type->is_string() && type->get_string() == "OperationOutcome",
        refusal->body);
    return 0;
}
