#pragma once
// The one-pass reader of a CDS service call's body: from the request bytes to the hook
// context and the snapshot builder while the JSON is tokenized, without a tree of the
// request. The envelope (hook, hookInstance, fhirServer, fhirAuthorization, context) is built
// as a small tree, because the JSON Schemas and the update actions need it. Prefetch
// Bundles, which are almost all of a real request, are read an entry at a time: each entry
// is laid out as a tape (fhir/json_tape.hpp: no tree; its strings left in the body unless
// they had escapes), read by the same typed readers and snapshot builder as a tree, and
// dropped. So cards, issues and their paths are the same.
//
// The body is tokenized by json_tokenizer.hpp, which hands each entry to this reader to read
// straight from the text: an Observation entry into the snapshot without a tape
// (fhir/observation_text.hpp, which declines whatever it would not read exactly as the tape
// path does), any other onto its tape. Or the body is tokenized by Boost.JSON's
// basic_parser, whose events build the tapes: json_tokenizer declines what it does not take,
// and the caller then reads the body again with basic_parser.
//
// A request in a form this reader does not take in one pass is reported (needs_tree) and the
// caller reads it as a tree; no answer depends on which reader ran (the equivalence test and
// the request_reader fuzzer compare both on every input). An entry whose tape repeats a
// member name is read as a tree too (a tree keeps the last one). The server reads every body
// this way (cds_call.hpp).

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>
#include <boost/system/error_code.hpp>

#include "cds/fhir/date_time.hpp"
#include "cds/fhir/snapshot.hpp"
#include "cds/rules/evaluate.hpp"
#include "cds/rules/rule_set.hpp"
#include "cds/service/http/http_message.hpp"

namespace cds::service {

struct one_pass_read {
    // A body that is not JSON or nests too deep: the answer parse_json_body gives.
    std::optional<http_response> error;
    // The request as a tree, except that a prefetch Bundle read entry by entry stands as
    // {"resourceType": "Bundle"} and prefetch resources keep only what the readers read: what
    // the envelope schema (which does not look inside prefetch values), the hook check and
    // prefetch resolution need.
    boost::json::value envelope;
    // Objects with a string resourceType under prefetch and context.draftOrders. Never fewer
    // than count_request_resources finds in the tree (a member the tree drops as a duplicate
    // key is counted here too), so a count within the limit is within it for the tree as well.
    std::size_t resource_count = 0;
    // Draft orders skipped for naming no medication yet (read_context_member).
    std::size_t skipped_draft_orders = 0;
    // The request repeats a member of the request, of prefetch or of a streamed Bundle, or a
    // resource repeats its resourceType, or the body is not an object: read it as a tree.
    // Nothing else in the result is meaningful then.
    bool needs_tree = false;
    // The whole-body tokenizer declined the body (json_tokenizer.hpp): read it again with
    // body_tokenizer::boost_json. Nothing else in the result is meaningful then.
    bool declined = false;
};

// What turns the body into parser events: the tokenizer for a body held whole
// (json_tokenizer.hpp), which declines what it does not take, or Boost.JSON's basic_parser,
// which takes every body and gives the error response for one that is not JSON.
enum class body_tokenizer { whole_body, boost_json };

// The service limits the reader applies as it goes.
struct one_pass_limits {
    unsigned max_depth = 0;
    // Past this many resources the reader stops and hands the body to the tree, which
    // counts exactly and refuses it, so that an oversized body is not read whole first.
    std::size_t max_resources = 0;
};

// Reads `body` for `service` at `now` into `context` and `builder`, as
// read_hook_context(tree) would. The envelope is allocated from `storage`. `scratch` holds
// what one Bundle entry needs beyond its tape (the strings the parser unescaped, the tree of
// an entry that repeats a member), continuing on the heap when it does not fit, and is
// reused by the next entry. `context` and `builder` are to be fresh ones.
[[nodiscard]] one_pass_read read_request_one_pass(
    std::string_view body,
    one_pass_limits limits,
    boost::json::storage_ptr storage,
    std::span<unsigned char> scratch,
    rules::service_definition const& service,
    fhir::instant now,
    rules::hook_context& context,
    fhir::snapshot_builder& builder,
    body_tokenizer tokenizer = body_tokenizer::whole_body);

// The 400 for a body the JSON parser stopped at: `consumed` bytes read, error `ec`.
[[nodiscard]] http_response json_error_response(std::string_view body,
                                                boost::system::error_code ec,
                                                std::size_t consumed,
                                                unsigned max_depth);

}  // namespace cds::service
