#include "cds/service/cds_call.hpp"

#include <algorithm>

#include <boost/json.hpp>

#include "cds/service/router.hpp"

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

std::string string_member(boost::json::object const& o, std::string_view key) {
    if (auto const* v = o.if_contains(key); v != nullptr && v->is_string()) return std::string{v->get_string()};
    return {};
}

bool is_resource_of_type(boost::json::value const& v, std::string_view type) {
    if (!v.is_object()) return false;
    auto const* rt = v.get_object().if_contains("resourceType");
    return rt != nullptr && rt->is_string() && rt->get_string() == type;
}

// Reads one draft order resource: MedicationRequest (R4) and MedicationOrder (DSTU2) become
// draft orders; a Medication goes into the snapshot so references to it resolve; other
// order types (ServiceRequest, NutritionOrder, ...) are not what these rules look at.
void read_draft_resource(boost::json::value const& resource, std::string const& path, prepared_call& call,
                         fhir::issue_list& issues) {
    if (is_resource_of_type(resource, "MedicationRequest") || is_resource_of_type(resource, "MedicationOrder")) {
        auto order = fhir::parse_medication_order(resource, path, issues);
        if (!order) return;
        // The sandbox's first order-select call carries a bare draft with no medication yet
        // (interop/cds-hooks-sandbox/README.md): nothing to judge, and not an error.
        if (!order->has_medication()) {
            ++call.skipped_draft_orders;
            return;
        }
        call.context.draft_orders.push_back(std::move(*order));
    } else if (is_resource_of_type(resource, "Medication")) {
        call.builder.add(resource, path);
    }
}

void read_draft_orders(boost::json::value const& draft_orders, prepared_call& call, fhir::issue_list& issues) {
    std::string const base = "context.draftOrders";
    auto read_entry = [&](boost::json::value const& entry, std::string const& entry_path) {
        if (!entry.is_object()) return;
        auto const& o = entry.get_object();
        if (o.contains("resourceType")) {
            read_draft_resource(entry, entry_path, call, issues);
        } else if (auto const* resource = o.if_contains("resource")) {
            read_draft_resource(*resource, append_member(entry_path, "resource"), call, issues);
        }
    };
    if (draft_orders.is_array()) {
        auto const& a = draft_orders.get_array();
        for (std::size_t i = 0; i < a.size(); ++i) read_entry(a[i], append_index(base, i));
        return;
    }
    if (!draft_orders.is_object()) return;
    auto const* entries = draft_orders.get_object().if_contains("entry");
    if (entries == nullptr) return;
    std::string const entry_base = append_member(base, "entry");
    if (entries->is_array()) {
        auto const& a = entries->get_array();
        for (std::size_t i = 0; i < a.size(); ++i) read_entry(a[i], append_index(entry_base, i));
    } else {
        // An array-typed element sent as a single object, as some clients do.
        read_entry(*entries, append_index(entry_base, 0));
    }
}

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
                      (media.size() > 17 && iequals(media.substr(0, 12), "application/") && iends_with(media, "+json"));
    if (!json) return false;
    std::string_view params = semicolon == std::string_view::npos ? std::string_view{} : content_type.substr(semicolon + 1);
    while (!params.empty()) {
        auto const next = params.find(';');
        auto const param = trim(params.substr(0, next));
        params = next == std::string_view::npos ? std::string_view{} : params.substr(next + 1);
        auto const eq = param.find('=');
        if (eq == std::string_view::npos || !iequals(trim(param.substr(0, eq)), "charset")) continue;
        auto value = trim(param.substr(eq + 1));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
        // JSON exchanged between systems must be UTF-8 (RFC 8259 §8.1).
        if (!iequals(value, "utf-8") && !iequals(value, "utf8")) return false;
    }
    return true;
}

json_body parse_json_body(std::string_view body, unsigned max_depth) {
    json_body out;
    boost::json::parse_options options;
    options.max_depth = max_depth;
    boost::json::stream_parser parser({}, options);
    // One arena per request: the parsed tree is freed in one go when the call is done.
    parser.reset(boost::json::make_shared_resource<boost::json::monotonic_resource>());
    boost::system::error_code ec;
    std::size_t const consumed = parser.write(body.data(), body.size(), ec);
    if (!ec) parser.finish(ec);
    if (!ec) {
        out.value = parser.release();
        return out;
    }
    if (ec == boost::json::error::too_deep) {
        out.error = error_response(errc::json_too_deep, "the body nests JSON deeper than " +
                                                            std::to_string(max_depth) + " levels");
        return out;
    }
    if (body.empty()) {
        out.error = error_response(errc::malformed_json, "the body is empty; a JSON object is required");
        return out;
    }
    std::size_t const at = std::min(consumed, body.size());
    std::size_t const line = 1 + static_cast<std::size_t>(std::count(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
    auto const last_newline = body.substr(0, at).rfind('\n');
    std::size_t const column = 1 + (last_newline == std::string_view::npos ? at : at - last_newline - 1);
    out.error = error_response(errc::malformed_json, "the body is not valid JSON: " + ec.message() + " at line " +
                                                         std::to_string(line) + ", column " + std::to_string(column));
    return out;
}

std::variant<http_response, prepared_call> prepare_cds_call(http_request const& request, service_state const& state,
                                                            rules::service_definition const& service) {
    auto const content_type = request.header("Content-Type");
    if (!is_json_media_type(content_type)) {
        return error_response(errc::unsupported_media_type,
                              content_type.empty()
                                  ? std::string{"the request has no Content-Type; send application/json"}
                                  : "Content-Type " + quoted(content_type) + " is not application/json");
    }
    auto parsed = parse_json_body(request.body, state.limits.max_json_depth);
    if (parsed.error) return std::move(*parsed.error);
    boost::json::value const& body = parsed.value;

    if (auto violation = state.schemas->request.validate(body)) {
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
    auto const& context_value = root.at("context");
    if (auto it = state.schemas->context_by_hook.find(service.hook); it != state.schemas->context_by_hook.end()) {
        if (auto violation = it->second.validate(context_value, "context")) {
            return error_response(errc::schema_violation, violation->message, violation->path);
        }
    }
    auto const& context = context_value.get_object();

    prepared_call call;
    call.service = &service;
    auto& ctx = call.context;
    ctx.hook = service.hook;
    ctx.service_id = service.id;
    ctx.now = request.received_at;
    ctx.patient_id = string_member(context, "patientId");
    ctx.user_id = string_member(context, "userId");
    ctx.encounter_id = string_member(context, "encounterId");
    if (auto const* selections = context.if_contains("selections"); selections != nullptr && selections->is_array()) {
        for (auto const& s : selections->get_array()) {
            if (s.is_string()) ctx.selections.emplace_back(s.get_string());
        }
    }
    fhir::issue_list draft_issues;
    if (auto const* drafts = context.if_contains("draftOrders")) read_draft_orders(*drafts, call, draft_issues);

    // Prefetch (CDS Hooks 2.0 "Prefetch"): every key with data is used, including keys the
    // service did not declare, since resources are classified by their own type and code.
    boost::json::object const* prefetch = nullptr;
    if (auto const* p = root.if_contains("prefetch"); p != nullptr && p->is_object()) prefetch = &p->get_object();
    std::vector<rules::prefetch_template const*> absent;
    for (auto const& t : service.prefetch) {
        boost::json::value const* value = prefetch != nullptr ? prefetch->if_contains(t.key) : nullptr;
        if (value == nullptr) {
            absent.push_back(&t);
        } else if (is_resource_of_type(*value, "OperationOutcome")) {
            // The client's own query failed and it says so, so that we do not repeat it.
            call.unavailable[t.key] = "the CDS client reported that its query for " + describe_key(t) +
                                      " failed (OperationOutcome in prefetch)";
        }
        // null: the client looked and nothing exists; that is data, not a gap.
    }
    if (prefetch != nullptr) {
        for (auto const& member : *prefetch) {
            if (member.value().is_object() && !is_resource_of_type(member.value(), "OperationOutcome")) {
                call.builder.add(member.value(), "prefetch." + std::string{member.key()});
            }
        }
    }

    if (!absent.empty()) {
        std::string const fhir_server = string_member(root, "fhirServer");
        if (fhir_server.empty() || !state.fetcher) {
            for (auto const* t : absent) {
                call.unavailable[t->key] =
                    describe_key(*t) + " was not prefetched, and " +
                    (fhir_server.empty() ? std::string{"the request names no fhirServer to query"}
                                         : std::string{"this service is not configured to query FHIR servers"});
            }
        } else {
            auto& fetch = call.fetch;
            fetch.fhir_server = fhir_server;
            if (auto const* auth = root.if_contains("fhirAuthorization"); auth != nullptr && auth->is_object()) {
                auto const& a = auth->get_object();
                if (auto token_type = string_member(a, "token_type"); !token_type.empty()) fetch.token_type = token_type;
                if (auto token = string_member(a, "access_token"); !token.empty()) fetch.access_token = std::move(token);
            }
            fetch.context = context;
            constexpr std::string_view practitioner = "Practitioner/";
            if (ctx.user_id.starts_with(practitioner)) fetch.user_practitioner_id = ctx.user_id.substr(practitioner.size());
            for (auto const* t : absent) fetch.queries.push_back(prefetch_query{t->key, t->query});
            fetch.deadline = std::chrono::steady_clock::now() + state.limits.fetch_deadline;
        }
    }
    return call;
}

std::vector<missing_data> settle_prefetch(prepared_call& call, fetch_outcome const* fetched) {
    if (fetched != nullptr) {
        for (auto const& [key, value] : fetched->results) {
            if (is_resource_of_type(value, "OperationOutcome")) {
                call.unavailable[key] = "the FHIR server answered the query for '" + key + "' with an OperationOutcome";
            } else if (value.is_object()) {
                call.builder.add(value, "fetched." + key);
            }
        }
        for (auto const& [key, why] : fetched->failures) call.unavailable[key] = why;
        for (auto const& q : call.fetch.queries) {
            if (!fetched->results.contains(q.key) && !call.unavailable.contains(q.key)) {
                call.unavailable[q.key] = "the FHIR server query for '" + q.key + "' did not complete";
            }
        }
    }
    // Required data that is missing stops the call (CDS Hooks 2.0: 412 when the service
    // cannot obtain what it needs); optional gaps are evaluated around and named in cards.
    std::vector<missing_data> missing_required;
    call.context.unavailable_prefetch.clear();
    for (auto const& t : call.service->prefetch) {
        auto it = call.unavailable.find(t.key);
        if (it == call.unavailable.end()) continue;
        if (t.required) {
            missing_required.push_back({t.key, "required data " + describe_key(t) + " is unavailable: " + it->second});
        } else {
            call.context.unavailable_prefetch.push_back(t.key);
        }
    }
    return missing_required;
}

http_response complete_cds_call(prepared_call call, fetch_outcome const* fetched, service_state const& state) {
    auto const& service = *call.service;
    auto const missing = settle_prefetch(call, fetched);
    if (!missing.empty()) {
        std::vector<outcome_issue> issues;
        for (auto const& m : missing) issues.push_back({m.diagnostics, "prefetch." + m.key});
        auto response = error_response(errc::required_data_unavailable, issues);
        response.log.service_id = service.id;
        return response;
    }

    auto snapshot = std::move(call.builder).build();
    for (auto& order : call.context.draft_orders) fhir::resolve_medication(order, snapshot, snapshot.issues);
    auto result = rules::evaluate(snapshot, call.context, *state.rules, state.next_uuid);

    http_response response;
    response.status = 200;
    response.content_type = "application/json";
    response.log.service_id = service.id;
    response.log.card_count = static_cast<int>(result.cards.size());
    boost::json::object document;
    document["cards"] = std::move(result.cards);
    response.body = boost::json::serialize(document);
    return response;
}

}  // namespace cds::service
