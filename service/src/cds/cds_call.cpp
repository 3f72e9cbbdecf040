#include "cds/service/cds/cds_call.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "cds/json_members.hpp"
#include "cds/request_arena.hpp"
#include "cds/service/cds/explain.hpp"
#include "cds/service/cds/hook_context.hpp"
#include "cds/service/cds/request_reader.hpp"
#include "cds/service/cds/resource_count.hpp"
#include "cds/service/http/router.hpp"
#include "cds/service/http/trace_context.hpp"

namespace cds::service {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool iends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

// Client-supplied text quoted in a diagnostic: printable ASCII only, bounded, so an error
// message can neither carry control characters nor grow with the request.
std::string quoted(std::string_view text, std::size_t limit = 64) {
    std::string out = "'";
    for (char c : text.substr(0, limit)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
    if (text.size() > limit) out += "...";
    out += "'";
    return out;
}

// service/schemas/cds-hooks-request.json constrains members of the request (level 1) and of
// fhirAuthorization and prefetch (level 2: prefetch.<key> is an object or null); the
// <hook>-context.json schemas constrain members of context (level 1) and draftOrders'
// resourceType and the selections' items (level 2). Nothing deeper: containers below level 1
// are replayed empty. A schema that starts constraining deeper levels must raise this.
constexpr std::size_t envelope_replay_depth = 1;

std::string describe_key(rules::prefetch_template const& t) {
    std::string out = "'" + t.key + "'";
    if (!t.describes.empty()) out += " (" + t.describes + ")";
    return out;
}

}  // namespace

bool is_json_media_type(std::string_view content_type) {
    auto const semicolon = content_type.find(';');
    auto const media = trim(content_type.substr(0, semicolon));
    bool const json = iequals(media, "application/json") ||
                      (media.size() > 17 && iequals(media.substr(0, 12), "application/") &&
                       iends_with(media, "+json"));
    if (!json) return false;
    std::string_view params = semicolon == std::string_view::npos
                                  ? std::string_view{}
                                  : content_type.substr(semicolon + 1);
    while (!params.empty()) {
        auto const next = params.find(';');
        auto const param = trim(params.substr(0, next));
        params = next == std::string_view::npos ? std::string_view{} : params.substr(next + 1);
        auto const eq = param.find('=');
        if (eq == std::string_view::npos || !iequals(trim(param.substr(0, eq)), "charset"))
            continue;
        auto value = trim(param.substr(eq + 1));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
            value = value.substr(1, value.size() - 2);
        // JSON exchanged between systems must be UTF-8 (RFC 8259 §8.1).
        if (!iequals(value, "utf-8") && !iequals(value, "utf8")) return false;
    }
    return true;
}

namespace {

// `temporary` holds the parser's own stack while parsing; `storage` the resulting tree.
json_body parse_json_body_into(std::string_view body,
                               unsigned max_depth,
                               boost::json::storage_ptr temporary,
                               boost::json::storage_ptr storage) {
    json_body out;
    boost::json::parse_options options;
    options.max_depth = max_depth;
    boost::json::stream_parser parser(std::move(temporary), options);
    parser.reset(std::move(storage));
    boost::system::error_code ec;
    std::size_t const consumed = parser.write(body.data(), body.size(), ec);
    if (!ec) parser.finish(ec);
    if (!ec) {
        // Constructed, not assigned: assigning into a value on the default resource would
        // deep-copy the tree out of the arena, and then free the copy node by node.
        return json_body{parser.release(), std::nullopt};
    }
    out.error = json_error_response(body, ec, consumed, max_depth);
    return out;
}

}  // namespace

json_body parse_json_body(std::string_view body, unsigned max_depth) {
    // One shared arena per body: the tree (and the arena with it) lives as long as the value.
    return parse_json_body_into(
        body, max_depth, {}, boost::json::make_shared_resource<boost::json::monotonic_resource>());
}

namespace {

// 415 unless the body is declared JSON in UTF-8.
std::optional<http_response> check_content_type(http_request const& request) {
    auto const content_type = request.header("Content-Type");
    if (is_json_media_type(content_type)) return std::nullopt;
    return error_response(
        errc::unsupported_media_type,
        content_type.empty() ? std::string{"the request has no Content-Type; send application/json"}
                             : "Content-Type " + quoted(content_type) + " is not application/json");
}

// 413 rather than 400: the request is well-formed, only more than this service is configured
// to take on (RFC 9110 §15.5.14), and the client can send less.
std::optional<http_response> check_resource_count(std::size_t count, std::size_t limit) {
    if (count <= limit) return std::nullopt;
    return error_response(errc::too_many_resources,
                          "the request carries more than " + std::to_string(limit) +
                              " FHIR resources in prefetch and context.draftOrders",
                          "prefetch");
}

// The request's envelope, hook and context, checked before anything read from it is used.
std::optional<http_response> check_envelope(boost::json::value const& body,
                                            service_state const& state,
                                            rules::service_definition const& service) {
    // Envelope only (replay depth 1): the request schema constrains nothing inside a
    // prefetch value or inside context (the context schema checks context, once); the
    // resources themselves are checked by the typed FHIR parser.
    if (auto violation = state.schemas->request.validate(body, {}, envelope_replay_depth)) {
        return error_response(errc::schema_violation, violation->message, violation->path);
    }
    auto const& root = body.get_object();
    auto const hook = root.at("hook").get_string();
    if (hook != service.hook) {
        return error_response(errc::hook_mismatch,
                              "service '" + service.id + "' answers the hook '" + service.hook +
                                  "', but the request's hook is " + quoted(hook),
                              "hook");
    }
    if (auto it = state.schemas->context_by_hook.find(service.hook);
        it != state.schemas->context_by_hook.end()) {
        if (auto violation =
                it->second.validate(root.at("context"), "context", envelope_replay_depth)) {
            return error_response(errc::schema_violation, violation->message, violation->path);
        }
    }
    return std::nullopt;
}

// Prefetch (CDS Hooks 2.0 "Prefetch"): returns the service's keys the request brings no
// value for; a key whose value is an OperationOutcome is unavailable.
std::vector<rules::prefetch_template const*> absent_prefetch(boost::json::object const& root,
                                                             prepared_call& call) {
    boost::json::object const* prefetch = nullptr;
    if (auto const* p = root.if_contains("prefetch"); p != nullptr && p->is_object())
        prefetch = &p->get_object();
    std::vector<rules::prefetch_template const*> absent;
    for (auto const& t : call.service->prefetch) {
        boost::json::value const* value =
            prefetch != nullptr ? prefetch->if_contains(t.key) : nullptr;
        if (value == nullptr) {
            absent.push_back(&t);
        } else if (is_resource_of_type(*value, "OperationOutcome")) {
            // The client's own query failed and it says so, so that we do not repeat it.
            call.unavailable[t.key] = "the CDS client reported that its query for " +
                                      describe_key(t) + " failed (OperationOutcome in prefetch)";
        }
        // null: the client looked and nothing exists; that is data, not a gap.
    }
    return absent;
}

// The absent keys become queries to the request's fhirServer, or unavailable when there is
// no server to ask or no fetcher to ask it with.
void plan_fetch(boost::json::object const& root,
                std::vector<rules::prefetch_template const*> const& absent,
                service_state const& state,
                prepared_call& call) {
    std::string const fhir_server = string_member(root, "fhirServer");
    if (fhir_server.empty() || !state.fetcher) {
        for (auto const* t : absent) {
            call.unavailable[t->key] =
                describe_key(*t) + " was not prefetched, and " +
                (fhir_server.empty()
                     ? std::string{"the request names no fhirServer to query"}
                     : std::string{"this service is not configured to query FHIR servers"});
        }
        return;
    }
    auto& fetch = call.fetch;
    fetch.fhir_server = fhir_server;
    if (auto const* auth = root.if_contains("fhirAuthorization");
        auth != nullptr && auth->is_object()) {
        auto const& a = auth->get_object();
        if (auto token_type = string_member(a, "token_type"); !token_type.empty())
            fetch.token_type = token_type;
        if (auto token = string_member(a, "access_token"); !token.empty())
            fetch.access_token = std::move(token);
    }
    fetch.context = root.at("context").get_object();
    constexpr std::string_view practitioner = "Practitioner/";
    if (call.context.user_id.starts_with(practitioner)) {
        fetch.user_practitioner_id = call.context.user_id.substr(practitioner.size());
    }
    for (auto const* t : absent) fetch.queries.push_back(prefetch_query{t->key, t->query});
    fetch.deadline = std::chrono::steady_clock::now() + state.limits.fetch_deadline;
    fetch.budget = state.limits.fetch_deadline;
}

}  // namespace

namespace {

// What follows reading: which prefetch keys are absent, and the queries for them.
void plan_prefetch(boost::json::object const& root,
                   http_request const& request,
                   service_state const& state,
                   prepared_call& call) {
    auto const absent = absent_prefetch(root, call);
    if (!absent.empty()) plan_fetch(root, absent, state, call);
    // The FHIR-server calls are a child span of the caller's trace (W3C Trace Context
    // section 3.2.2.3): same trace id, this request's span as their parent.
    if (!call.fetch.queries.empty()) {
        if (auto const parent = traceparent_of(request)) {
            call.fetch.traceparent = child_traceparent(
                *parent, request.request_id.empty() ? new_span_id() : request.request_id);
        }
    }
}

// How reading a body ended: answered (an error response, or the call prepared), or to be
// read again into a fresh call.
enum class read_again { no, with_boost_json, as_tree };
struct reading_outcome {
    std::optional<http_response> error;
    read_again again = read_again::no;
};

// The body read in one pass (request_reader.hpp) into `call`. The envelope takes the first
// quarter of the thread's first block, the entries' scratch (the strings the parser
// unescaped, reused entry after entry) the rest.
reading_outcome prepare_in_one_pass(http_request const& request,
                                    service_state const& state,
                                    prepared_call& call,
                                    std::span<unsigned char> block,
                                    body_tokenizer tokenizer) {
    std::size_t const envelope_size = block.size() / 4;
    request_arena envelope_arena(block.data(), envelope_size);
    auto read = read_request_one_pass(
        request.body, {state.limits.max_json_depth, state.limits.max_resources},
        boost::json::storage_ptr(&envelope_arena), block.subspan(envelope_size), *call.service,
        call.context.now, call.context, call.builder, tokenizer);
    if (read.declined) return {.error = std::nullopt, .again = read_again::with_boost_json};
    // A count over the limit is made exact on the tree (duplicate keys count here).
    if (read.needs_tree || (!read.error && read.resource_count > state.limits.max_resources))
        return {.error = std::nullopt, .again = read_again::as_tree};
    if (read.error) return {.error = std::move(*read.error)};
    if (auto error = check_envelope(read.envelope, state, *call.service)) return {.error = error};
    call.skipped_draft_orders = read.skipped_draft_orders;
    plan_prefetch(read.envelope.get_object(), request, state, call);
    return {};
}

void count_reread(service_state const& state, ops::service_metrics::body_reread reader) {
    if (state.metrics) state.metrics->record_body_reread(reader);
}

std::optional<http_response> prepare_from_tree(http_request const& request,
                                               service_state const& state,
                                               prepared_call& call,
                                               boost::json::storage_ptr const& storage) {
    auto parsed = parse_json_body_into(request.body, state.limits.max_json_depth, storage, storage);
    if (parsed.error) return std::move(*parsed.error);
    boost::json::value const& body = parsed.value;
    if (auto error = check_resource_count(count_request_resources(body, state.limits.max_resources),
                                          state.limits.max_resources))
        return error;
    if (auto error = check_envelope(body, state, *call.service)) return error;
    auto const& root = body.get_object();
    call.skipped_draft_orders =
        read_hook_context(root, *call.service, call.context.now, call.context, call.builder);
    plan_prefetch(root, request, state, call);
    return std::nullopt;
}

}  // namespace

std::variant<http_response, prepared_call> prepare_cds_call(
    http_request const& request,
    service_state const& state,
    rules::service_definition const& service,
    request_reading reading,
    rules::rule_set const* read_for) {
    if (auto error = check_content_type(request)) return std::move(*error);
    // What the call keeps is copied out of the request's tree and envelope (draft orders and
    // the snapshot builder own their strings, fetch.context is a copy on the default resource).
    // So their arena is local and not shared: dropped in O(1) without visiting its nodes, and
    // it starts in this thread's reusable first block. Declared first, so it outlives them.
    arena_first_block const first_block;
    // The call is prepared where it is returned from (one object, no move of the call).
    std::variant<http_response, prepared_call> result;
    auto const fresh_call = [&]() -> prepared_call& {
        auto& call = result.emplace<prepared_call>();
        call.service = &service;
        call.context.now = state.fixed_now ? *state.fixed_now : request.received_at;
        if (read_for != nullptr) {
            call.rules = read_for;  // evaluated under the rules it was read for
            call.builder.keep_observations_if([read_for](fhir::codeable_concept const& code) {
                return rules::reads_observation(code, *read_for);
            });
        }
        return call;
    };
    std::span<unsigned char> const block{first_block.data(), first_block.size()};
    reading_outcome read{.error = std::nullopt, .again = read_again::as_tree};
    if (reading != request_reading::tree) {
        auto const tokenizer = reading == request_reading::one_pass ? body_tokenizer::whole_body
                                                                    : body_tokenizer::boost_json;
        read = prepare_in_one_pass(request, state, fresh_call(), block, tokenizer);
    }
    if (read.again == read_again::with_boost_json) {
        count_reread(state, ops::service_metrics::body_reread::boost_json);
        read = prepare_in_one_pass(request, state, fresh_call(), block, body_tokenizer::boost_json);
    }
    if (read.again == read_again::as_tree) {
        if (reading != request_reading::tree)
            count_reread(state, ops::service_metrics::body_reread::tree);
        request_arena arena(block.data(), block.size());
        read.error =
            prepare_from_tree(request, state, fresh_call(), boost::json::storage_ptr(&arena));
    }
    if (read.error) result.emplace<http_response>(std::move(*read.error));
    return result;
}

namespace {

// One note on fetched data as it reaches the client: the token masked (again: a cut could
// leave part of it otherwise), then cut to `max_bytes` on a UTF-8 boundary, control
// characters blanked.
std::string client_fit_note(std::string const& fetched_note,
                            std::string const* token,
                            std::size_t max_bytes) {
    std::string_view raw = fetched_note;
    std::string redacted;
    if (token != nullptr && fetched_note.find(*token) != std::string::npos) {
        constexpr std::string_view mask = "[redacted]";
        redacted = fetched_note;
        for (auto at = redacted.find(*token); at != std::string::npos;
             at = redacted.find(*token, at)) {
            redacted.replace(at, token->size(), mask);
            at += mask.size();
        }
        raw = redacted;
    }
    std::string note;
    std::size_t cut = std::min(raw.size(), max_bytes);
    while (cut < raw.size() && cut > 0 && (static_cast<unsigned char>(raw[cut]) & 0xC0) == 0x80)
        --cut;
    note.reserve(cut + 3);
    for (char const c : raw.substr(0, cut)) {
        note += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
    }
    if (cut < raw.size()) note += "...";
    return note;
}

// What went partly wrong (a Medication that could not be read, a search cut at the page
// limit) reaches the rules, which show it on every card: without it a drug that was not
// counted would go unnoticed. The fetcher redacts the token; here it is redacted once more
// (a note reaches the client), each note is kept short and printable (it may quote a
// server's diagnostics), and their number is bounded.
std::vector<std::string> data_notes_of(fetch_outcome const& fetched,
                                       std::optional<std::string> const& access_token) {
    constexpr std::size_t max_notes = 5;
    constexpr std::size_t max_note_bytes = 200;
    std::string const* const token =
        access_token && !access_token->empty() ? &*access_token : nullptr;
    std::vector<std::string> notes;
    for (auto const& fetched_note : fetched.notes) {
        if (fetched_note.empty()) continue;
        if (notes.size() == max_notes) {
            notes.emplace_back("further notes on the fetched data were left out");
            break;
        }
        auto note = client_fit_note(fetched_note, token, max_note_bytes);
        if (std::find(notes.begin(), notes.end(), note) == notes.end())
            notes.push_back(std::move(note));
    }
    return notes;
}

}  // namespace

namespace {

// The rules whose cards a call returns, each once in card order, for the access log: a card's
// CDS Hooks 2.0 source.topic.code is its rule id. Identifiers only, never card text.
std::vector<std::string> rule_ids_of(boost::json::array const& cards) {
    std::vector<std::string> ids;
    for (auto const& card : cards) {
        auto const* source = card.is_object() ? card.get_object().if_contains("source") : nullptr;
        auto const* topic = source != nullptr && source->is_object()
                                ? source->get_object().if_contains("topic")
                                : nullptr;
        auto const* code = topic != nullptr && topic->is_object()
                               ? topic->get_object().if_contains("code")
                               : nullptr;
        if (code == nullptr || !code->is_string()) continue;
        std::string id{code->get_string()};
        if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(std::move(id));
    }
    return ids;
}

}  // namespace

std::vector<missing_data> settle_prefetch(prepared_call& call, fetch_outcome const* fetched) {
    if (fetched != nullptr) {
        for (auto const& [key, value] : fetched->results) {
            if (is_resource_of_type(value, "OperationOutcome")) {
                call.unavailable[key] =
                    "the FHIR server answered the query for '" + key + "' with an OperationOutcome";
            } else if (value.is_object()) {
                call.builder.add(value, "fetched." + key);
            }
        }
        for (auto const& [key, why] : fetched->failures) call.unavailable[key] = why;
        for (auto const& q : call.fetch.queries) {
            if (!fetched->results.contains(q.key) && !call.unavailable.contains(q.key)) {
                call.unavailable[q.key] =
                    "the FHIR server query for '" + q.key + "' did not complete";
            }
        }
    }
    call.context.data_notes.clear();
    if (fetched != nullptr)
        call.context.data_notes = data_notes_of(*fetched, call.fetch.access_token);
    // Required data that is missing stops the call (CDS Hooks 2.0: 412 when the service
    // cannot obtain what it needs); optional gaps are evaluated around and named in cards.
    std::vector<missing_data> missing_required;
    call.context.unavailable_prefetch.clear();
    for (auto const& t : call.service->prefetch) {
        auto it = call.unavailable.find(t.key);
        if (it == call.unavailable.end()) continue;
        if (t.required) {
            missing_required.push_back(
                {t.key, "required data " + describe_key(t) + " is unavailable: " + it->second});
        } else {
            call.context.unavailable_prefetch.push_back(t.key);
        }
    }
    return missing_required;
}

namespace {

// The returned cards, and the snoozed ones marked with the override they follow (counted by
// feedback-report); nothing when there is neither.
void record_in_ledger(card_ledger& ledger,
                      boost::json::array const& cards,
                      std::vector<snoozed_card> const& snoozed,
                      ledger_call const& call) {
    auto entries = ledger_cards_from(cards, call);
    for (auto const& s : snoozed) {
        for (auto& entry : ledger_cards_from(boost::json::array{s.card}, call)) {
            entry.suppressed_by = s.follows.card_uuid;
            entries.push_back(std::move(entry));
        }
    }
    if (!entries.empty()) ledger.record(std::move(entries));
}

}  // namespace

http_response complete_cds_call(prepared_call call,
                                fetch_outcome const* fetched,
                                service_state const& state) {
    auto const& service = *call.service;
    auto const missing = settle_prefetch(call, fetched);
    if (!missing.empty()) {
        std::vector<outcome_issue> issues;
        for (auto const& m : missing) issues.push_back({m.diagnostics, "prefetch." + m.key});
        // Whoever reads the 412 (an EHR integrator, `evaluate` on the command line) learns at
        // once everything that could not be obtained, and why, not only what stopped the call.
        for (auto const& t : service.prefetch) {
            if (t.required || !call.unavailable.contains(t.key)) continue;
            issues.push_back({"optional data " + describe_key(t) +
                                  " is unavailable too: " + call.unavailable.at(t.key),
                              "prefetch." + t.key, "warning"});
        }
        auto response = error_response(errc::required_data_unavailable, issues);
        response.log.service_id = service.id;
        response.log.hook = service.hook;
        return response;
    }

    auto snapshot = std::move(call.builder).build();
    std::size_t codings_left = fhir::max_resolved_codings;
    for (auto& order : call.context.draft_orders)
        fhir::resolve_medication(order, snapshot, snapshot.issues, codings_left);
    // The cards are built in an arena like the request's tree (no co_await from here on, so
    // this thread's first block is free): built, serialized and dropped without a free per node.
    arena_first_block const first_block;
    request_arena arena(first_block.data(), first_block.size());
    boost::json::storage_ptr const storage(&arena);
    std::shared_ptr<rules::rule_set const> const current =
        call.rules != nullptr ? nullptr : state.rules.get();
    rules::rule_set const& rule_set = call.rules != nullptr ? *call.rules : *current;
    call.context.record_trace = call.explain;  // the trace is built only to be returned
    auto result = rules::evaluate(snapshot, call.context, rule_set, state.next_uuid, storage);
    link_rule_pages(result.cards, state.public_base->get());
    auto const issued_at = std::chrono::system_clock::now();
    std::vector<snoozed_card> snoozed;
    if (state.snooze && call.overrides) {
        snoozed = take_snoozed(result.cards, state.snooze->keys(), *call.overrides,
                               rule_set.snooze(), issued_at);
    }

    http_response response;
    response.status = 200;
    response.content_type = "application/json";
    response.log.service_id = service.id;
    response.log.card_count = static_cast<int>(result.cards.size());
    response.log.hook = service.hook;
    response.log.rule_ids = rule_ids_of(result.cards);
    if (state.ledger) {
        record_in_ledger(
            *state.ledger, result.cards, snoozed,
            {service.id, service.hook, rule_set.id(), rule_set.version(), call.client_iss,
             issued_at, state.snooze ? &state.snooze->keys() : nullptr, call.patient_key});
    }
    if (state.metrics) {
        state.metrics->record_cards(result.cards);
        for (auto const& s : snoozed) state.metrics->record_snoozed(s.card);
    }
    boost::json::object document(storage);
    document["cards"] = std::move(result.cards);
    if (call.explain) {
        auto explain = render_explain(rule_set, call.context, result.trace, storage);
        // Suppressed cards only ever appear here, with the override they follow (§6).
        if (!snoozed.empty()) explain["suppressed"] = render_snoozed(snoozed);
        document["explain"] = std::move(explain);
    }
    response.body = boost::json::serialize(document);
    return response;
}

}  // namespace cds::service
