#pragma once
// A CDS service call (`POST /cds-services/{id}`) in two synchronous halves around the one
// asynchronous step, fetching what prefetch did not bring:
//
//   prepare_cds_call   content type, JSON (bounded depth), the HookRequest schema, hook
//                      match, the hook's context schema; prefetch resolution per CDS Hooks
//                      2.0 "Prefetch": a value is used; null means the client looked and
//                      nothing exists; an OperationOutcome means the client's query failed
//                      (unavailable, never repeated); an absent key is queued for fetching
//                      when the request names a fhirServer and a fetcher is configured, and
//                      is otherwise unavailable. Draft orders are parsed here.
//   (fetcher)          prefetch_fetcher::fetch(call.fetch), only when call.fetch.queries
//                      is non-empty and a fetcher exists
//   complete_cds_call  merges fetched data, answers 412 when required data is unavailable,
//                      builds the snapshot, resolves draft orders' medications, evaluates the
//                      rules and serializes {"cards": [...]}.

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/json/object.hpp>

#include "cds/fhir/snapshot.hpp"
#include "cds/rules/evaluate.hpp"
#include "cds/rules/rule_set.hpp"
#include "cds/service/cds/service_state.hpp"
#include "cds/service/fhir_client/prefetch_fetcher.hpp"
#include "cds/service/http/http_message.hpp"

namespace cds::service {

struct prepared_call {
    rules::service_definition const* service = nullptr;
    rules::hook_context context;     // draft_orders parsed, medications not yet resolved
    fhir::snapshot_builder builder;  // prefetch values already added
    // Prefetch keys with no data, and why, in words fit for a client (never a token).
    std::map<std::string, std::string> unavailable;
    // Queries for absent keys (empty: nothing to fetch). Carries the access token: never log.
    fetch_request fetch;
    std::size_t skipped_draft_orders = 0;  // drafts without a medication yet (bare drafts)
    // The rules to evaluate under: null means state.rules; the card viewer's compare mode
    // names one of the rule sets loaded with `serve --ui-rules` (router.cpp).
    rules::rule_set const* rules = nullptr;
    // Return the evaluation trace next to the cards ("explain" member, render_explain). The
    // trace may quote clinical values: it goes into the response body only, never a log.
    bool explain = false;
    // The authenticated client's `iss` (empty without authentication), for the card ledger.
    std::string client_iss;
    // Snoozing (snooze.hpp), when on: the patient's key, and the overrides of their recent
    // cards, looked up before complete_cds_call; nothing when the lookup did not answer (then
    // no card is hidden).
    std::string patient_key;
    std::optional<std::vector<card_override>> overrides;
};

// How the body is read: in one pass (request_reader.hpp), which the server does, or as a
// tree, which the one pass falls back to for the forms it does not take and which the tests
// and fuzzers compare it with (tests/service/request_reader_tests.cpp): all give the same
// answer on every input. The one pass tokenizes with json_tokenizer.hpp, and with Boost.JSON's
// basic_parser when that declines; one_pass_boost_json uses basic_parser from the start.
enum class request_reading { one_pass, one_pass_boost_json, tree };

// `read_for`, when given, is the rule set the call is evaluated under (it becomes
// prepared_call::rules), and the call returns no explain trace: the snapshot then leaves out,
// as the body is read, every Observation those rules do not read (rules::reads_observation).
// The cards are the same; the trace would not be (it lists those Observations too), so
// `explain` must stay false on such a call. The rule set must outlive the call.
[[nodiscard]] std::variant<http_response, prepared_call> prepare_cds_call(
    http_request const& request,
    service_state const& state,
    rules::service_definition const& service,
    request_reading reading = request_reading::one_pass,
    rules::rule_set const* read_for = nullptr);

// Merges fetched data into the call and decides what is missing: returns one
// "required data unavailable" issue (diagnostics, expression) per required key without data,
// and lists optional keys without data in call.context.unavailable_prefetch.
// `fetched` is null when nothing was fetched. Part of complete_cds_call; separate for tests.
struct missing_data {
    std::string key;
    std::string diagnostics;
};
[[nodiscard]] std::vector<missing_data> settle_prefetch(prepared_call& call,
                                                        fetch_outcome const* fetched);

// `fetched` is null when nothing was fetched.
[[nodiscard]] http_response complete_cds_call(prepared_call call,
                                              fetch_outcome const* fetched,
                                              service_state const& state);

// True for application/json and application/*+json (e.g. application/fhir+json), with any
// parameters as long as a charset, if given, is UTF-8.
[[nodiscard]] bool is_json_media_type(std::string_view content_type);

// Parses a request body with the configured depth limit. On failure returns the 400 answer
// (malformed_json naming line and column, or json_too_deep).
struct json_body {
    boost::json::value value;
    std::optional<http_response> error;
};
[[nodiscard]] json_body parse_json_body(std::string_view body, unsigned max_depth);

}  // namespace cds::service
