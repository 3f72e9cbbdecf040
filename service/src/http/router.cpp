#include "cds/service/http/router.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <optional>

#include <boost/json.hpp>
#include <boost/url/decode_view.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "cds/service/cds/cds_call.hpp"
#include "cds/service/feedback/feedback.hpp"
#include "cds/service/http/bench_stage_stops.hpp"
#include "cds/service/ui/ui_assets.hpp"

namespace cds::service {

namespace {

constexpr std::string_view error_code_system = "urn:magnesium-cds:error";

std::string_view route_template(endpoint_kind kind) {
    switch (kind) {
        case endpoint_kind::discovery:
            return "/cds-services";
        case endpoint_kind::service_call:
            return "/cds-services/{id}";
        case endpoint_kind::feedback:
            return "/cds-services/{id}/feedback";
        case endpoint_kind::health:
            return "/healthz";
        case endpoint_kind::readiness:
            return "/readyz";
        case endpoint_kind::ui:
            return "/ui/{file}";
        case endpoint_kind::metrics:
            return "/metrics";
        case endpoint_kind::rule_page:
            return "/rules/{id}";
        case endpoint_kind::unknown:
            break;
    }
    return "(unknown)";
}

http_response json_response(int status, std::string body) {
    http_response r;
    r.status = status;
    r.content_type = "application/json";
    r.body = std::move(body);
    return r;
}

http_response method_not_allowed(std::string_view method, std::string_view allow) {
    std::string shown;
    for (char c : method.substr(0, 16)) shown += (c >= 0x21 && c < 0x7f) ? c : '?';
    auto r =
        error_response(errc::method_not_allowed,
                       "method " + shown + " is not allowed here; allowed: " + std::string{allow});
    r.set_header("Allow", std::string{allow});
    return r;
}

// The configured authenticator, when there is one, decides from the endpoint kind whether a
// token is needed (one policy, in the authenticator), before anything looks up the service or
// reads the body. Returns the 401 to send, or nothing when allowed; then `accepted_note` gets
// what the authenticator says about an accepted token (iss, jti, a jku it ignored) for the
// request's log line.
boost::asio::awaitable<std::optional<http_response>> authenticate(http_request const& request,
                                                                  route_match const& route,
                                                                  service_state const& state,
                                                                  std::string& accepted_note,
                                                                  std::string& client_iss) {
    if (!state.authenticator) co_return std::nullopt;
    auth_request const question{request, route.kind, route.path, route.service_id};
    auth_decision const decision = co_await state.authenticator->authenticate(question);
    if (decision.allowed) {
        if (!decision.log_reason.empty()) accepted_note = "auth: " + decision.log_reason;
        client_iss = decision.client_iss;
        co_return std::nullopt;
    }
    auto response = error_response(errc::unauthorized, std::string{});
    response.log.note =
        "auth: " + (decision.log_reason.empty() ? std::string{"refused"} : decision.log_reason);
    response.log.service_id = route.service_id;  // logged only when the rule set knows it
    co_return response;
}

// Awaits the sink, which answers only once the feedback is durably stored or refused; the
// server thread is free meanwhile.
boost::asio::awaitable<http_response> feedback_call(http_request const& request,
                                                    service_state const& state,
                                                    rules::rule_set const& rules,
                                                    rules::service_definition const& service) {
    auto const content_type = request.header("Content-Type");
    if (!is_json_media_type(content_type)) {
        co_return error_response(errc::unsupported_media_type,
                                 "the feedback body must be application/json");
    }
    auto parsed = parse_json_body(request.body, state.limits.max_json_depth);
    if (parsed.error) co_return std::move(*parsed.error);
    if (auto violation = state.schemas->feedback.validate(parsed.value)) {
        co_return error_response(errc::schema_violation, violation->message, violation->path);
    }
    auto feedback = parse_feedback(parsed.value);
    if (!feedback.error.empty()) {
        co_return error_response(errc::schema_violation, feedback.error, feedback.error_path);
    }

    std::size_t const count = feedback.entries.size();
    for (auto& entry : feedback.entries) entry.rule_set = {rules.id(), rules.version()};
    std::vector<std::string> outcomes;
    if (state.metrics) {
        for (auto const& entry : feedback.entries) outcomes.push_back(entry.outcome);
    }
    if (state.feedback) {
        feedback_receipt const receipt =
            co_await state.feedback->record(service.id, std::move(feedback.entries));
        if (!receipt.stored) {
            if (state.metrics) state.metrics->record_feedback_refused();
            auto r = error_response(errc::not_ready, receipt.refusal);
            r.set_header("Retry-After", "1");
            co_return r;
        }
    }
    // CDS Hooks 2.0 Feedback: the service answers 200 OK; the spec defines no body.
    for (auto const& outcome : outcomes) state.metrics->record_feedback_entry(outcome);
    http_response r;
    r.status = 200;
    r.log.note = "feedback entries: " + std::to_string(count);
    co_return r;
}

// The card viewer's marker header. Not a credential (the call is authenticated like any
// other): it keeps explain and compare out of calls that did not ask for them, and a page of
// another origin cannot send it, since the CORS preflight does not allow it.
constexpr std::string_view card_viewer_header = "X-Card-Viewer";

// What the query of a hook call asks for: `explain=true|false`, and `rules=NAME` (one of the
// `serve --ui-rules` files, card viewer calls only). Other query parameters are ignored.
struct call_options {
    bool explain = false;
    rules::rule_set const* rules = nullptr;  // null: the loaded rules
};

std::variant<http_response, call_options> read_call_options(http_request const& request,
                                                            service_state const& state) {
    call_options out;
    auto parsed = boost::urls::parse_origin_form(request.target);
    if (!parsed || !parsed->has_query()) return out;
    bool const from_viewer = state.ui_enabled && request.has_header(card_viewer_header);
    for (auto const param : parsed->params()) {
        if (param.key == "explain") {
            if (param.value != "true" && param.value != "false") {
                return error_response(errc::bad_query, "explain must be true or false");
            }
            out.explain = param.value == "true";
            if (out.explain && !state.explain_enabled && !from_viewer) {
                return error_response(
                    errc::bad_query,
                    "explain is not enabled on this service (serve --enable-explain)");
            }
        } else if (param.key == "rules") {
            auto const found = state.ui_rules.find(param.value);
            if (!from_viewer || found == state.ui_rules.end()) {
                return error_response(
                    errc::bad_query,
                    "rules names no rule set loaded for the card viewer (serve --ui-rules)");
            }
            out.rules = found->second.get();
        }
    }
    return out;
}

http_response ui_file(route_match const& route, service_state const& state) {
    if (route.ui_file == "config.json") {
        // What the page needs to know about this server; nothing secret, nothing clinical.
        boost::json::array compare;
        for (auto const& [name, rule_set] : state.ui_rules) {
            compare.emplace_back(boost::json::object{{"name", name},
                                                     {"ruleSetId", rule_set->id()},
                                                     {"ruleSetVersion", rule_set->version()}});
        }
        boost::json::object config{{"authentication", state.authenticator != nullptr},
                                   {"feedbackStored", state.feedback != nullptr},
                                   {"compareRules", std::move(compare)}};
        if (auto const rules = state.rules.get()) {
            config["ruleSet"] = {{"id", rules->id()}, {"version", rules->version()}};
        }
        config["fixedNow"] = state.fixed_now
                                 ? boost::json::value(fhir::format_instant(*state.fixed_now))
                                 : boost::json::value(nullptr);
        return json_response(200, boost::json::serialize(config));
    }
    auto const asset = find_ui_asset(route.ui_file);
    if (!asset)
        return error_response(errc::unknown_path, "the card viewer has no file at this path");
    http_response r;
    r.status = 200;
    r.content_type = std::string{asset->content_type};
    r.body = std::string{asset->body};
    // The page runs only its own scripts and styles and talks only to this service.
    r.set_header(
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'");
    r.set_header("X-Content-Type-Options", "nosniff");
    r.set_header("Cache-Control", "no-cache");
    return r;
}

// A rule's documentation page: only for a rule of the loaded rule set.
http_response rule_page(route_match const& route, service_state const& state) {
    auto const rules = state.rules.get();
    auto const ids = rules ? rules->rule_ids() : std::vector<std::string>{};
    auto const page = std::find(ids.begin(), ids.end(), route.rule_id) != ids.end()
                          ? rule_page_html(route.rule_id)
                          : std::nullopt;
    if (!page) {
        return error_response(errc::unknown_path,
                              "no rule has this id; the cards' source.topic.code names the rules");
    }
    http_response r;
    r.status = 200;
    r.content_type = "text/html; charset=utf-8";
    r.body = *page;
    // The page is text and one inline style sheet: nothing runs, nothing is loaded.
    r.set_header("Content-Security-Policy",
                 "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; "
                 "frame-ancestors 'none'; base-uri 'none'");
    r.set_header("X-Content-Type-Options", "nosniff");
    return r;
}

// Snoozing (snooze.hpp): the patient's key, and the overrides that may hide this call's
// cards, read just before evaluation so that feedback sent until then counts.
boost::asio::awaitable<void> look_up_overrides(prepared_call& call, service_state const& state) {
    if (!state.snooze || call.rules == nullptr || call.context.patient_id.empty()) co_return;
    call.patient_key = state.snooze->keys().patient_key(call.context.patient_id);
    auto const& periods = call.rules->snooze();
    auto const longest = std::max(periods.info, periods.warning);
    if (longest <= std::chrono::seconds{0}) co_return;
    call.overrides = co_await state.snooze->recent_overrides(
        call.patient_key, std::chrono::system_clock::now(), longest);
    if (!call.overrides && state.metrics) state.metrics->record_snooze_lookup_failed();
}

http_response readiness_response(service_state const& state) {
    auto const rules = state.rules.get();
    if (!rules) return error_response(errc::not_ready, "no rule set is loaded");
    boost::json::object body{{"status", "ready"},
                             {"ruleSet", {{"id", rules->id()}, {"version", rules->version()}}},
                             {"services", rules->services().size()}};
    // The feedback store's state is shown, not judged: hook calls do not need it.
    if (auto const store = state.feedback ? state.feedback->health() : std::nullopt) {
        body["feedbackStore"] = {{"status", store->status}, {"queued", store->queued}};
    }
    if (state.ledger) {
        auto const ledger = state.ledger->ledger_health();
        body["cardLedger"] = {{"queued", ledger.queued}, {"dropped", ledger.dropped}};
    }
    return json_response(200, boost::json::serialize(body));
}

http_response discovery_response(service_state const& state) {
    auto const loaded = state.rules.snapshot();
    if (!loaded) return error_response(errc::not_ready, "no rule set is loaded");
    return json_response(200, loaded->discovery_body);
}

http_response metrics_response(service_state const& state) {
    http_response r;
    r.content_type = std::string{ops::metrics_content_type};
    r.body = state.metrics->render(state);
    return r;
}

// A hook call to `service` of `rules` (or of the rule set the call's options choose): prepared,
// its absent prefetch fetched when a FHIR client is configured, then evaluated.
boost::asio::awaitable<http_response> hook_call(http_request const& request,
                                                route_match const& route,
                                                std::string const& client_iss,
                                                service_state const& state,
                                                std::shared_ptr<rules::rule_set const> rules,
                                                rules::service_definition const* service) {
    if (bench_stop_chosen() != bench_stop::none) {  // benchmark builds only
        if (auto stopped = bench_answer_before_read(request, state.limits.max_json_depth))
            co_return std::move(*stopped);
    }
    auto options = read_call_options(request, state);
    if (auto* refused_query = std::get_if<http_response>(&options))
        co_return std::move(*refused_query);
    auto const& chosen = std::get<call_options>(options);
    if (chosen.rules != nullptr) {
        service = chosen.rules->find_service(route.service_id);
        if (service == nullptr) {
            co_return error_response(errc::unknown_service,
                                     "the compared rule set has no service with this id");
        }
    }
    rules::rule_set const* const evaluated_by =
        chosen.rules != nullptr ? chosen.rules : rules.get();
    auto step = prepare_cds_call(request, state, *service, request_reading::one_pass,
                                 chosen.explain ? nullptr : evaluated_by);
    if (auto* early = std::get_if<http_response>(&step)) {
        early->log.service_id = service->id;
        co_return std::move(*early);
    }
    if (bench_stop_chosen() == bench_stop::read) co_return bench_stopped_answer();
    auto& call = std::get<prepared_call>(step);
    call.rules = evaluated_by;
    call.explain = chosen.explain;
    call.client_iss = client_iss;
    if (call.fetch.queries.empty() || !state.fetcher) {
        co_await look_up_overrides(call, state);
        co_return complete_cds_call(std::move(call), nullptr, state);
    }
    auto const fetch_started = std::chrono::steady_clock::now();
    fetch_outcome const fetched = co_await state.fetcher->fetch(call.fetch);
    if (state.metrics) {
        auto const took = std::chrono::steady_clock::now() - fetch_started;
        state.metrics->record_fhir_fetch(took, fetched.failures.size());
    }
    co_await look_up_overrides(call, state);
    co_return complete_cds_call(std::move(call), &fetched, state);
}

// POST /cds-services/{id} and /cds-services/{id}/feedback.
boost::asio::awaitable<http_response> service_endpoint(http_request const& request,
                                                       route_match const& route,
                                                       std::string const& client_iss,
                                                       service_state const& state) {
    if (request.method != "POST") co_return method_not_allowed(request.method, "POST, OPTIONS");
    // One rule set for the whole call, kept alive by this frame until it is answered, even
    // when a reload replaces state.rules meanwhile.
    auto const rules = state.rules.get();
    if (!rules) co_return error_response(errc::not_ready, "no rule set is loaded");
    auto const* service = rules->find_service(route.service_id);
    if (service == nullptr) {
        co_return error_response(
            errc::unknown_service,
            "no CDS service has this id; the services are listed at /cds-services");
    }
    if (route.kind == endpoint_kind::feedback) {
        auto r = co_await feedback_call(request, state, *rules, *service);
        r.log.service_id = service->id;
        co_return r;
    }
    co_return co_await hook_call(request, route, client_iss, state, rules, service);
}

boost::asio::awaitable<http_response> dispatch(http_request const& request,
                                               route_match const& route,
                                               std::string const& client_iss,
                                               service_state const& state) {
    if (request.method == "OPTIONS") co_return preflight_response(state.cors);
    if (!route.valid_target) {
        co_return error_response(errc::malformed_http,
                                 "the request target is not a valid origin-form path");
    }
    bool const get = request.method == "GET";
    switch (route.kind) {
        case endpoint_kind::health:
            if (!get) co_return method_not_allowed(request.method, "GET, OPTIONS");
            co_return json_response(200, R"({"status":"pass"})");
        case endpoint_kind::readiness:
            if (!get) co_return method_not_allowed(request.method, "GET, OPTIONS");
            co_return readiness_response(state);
        case endpoint_kind::discovery:
            if (!get) co_return method_not_allowed(request.method, "GET, OPTIONS");
            co_return discovery_response(state);
        case endpoint_kind::service_call:
        case endpoint_kind::feedback:
            co_return co_await service_endpoint(request, route, client_iss, state);
        case endpoint_kind::metrics:
            if (!state.metrics) break;
            if (!get) co_return method_not_allowed(request.method, "GET, OPTIONS");
            co_return metrics_response(state);
        case endpoint_kind::rule_page:
            if (!get) co_return method_not_allowed(request.method, "GET, OPTIONS");
            co_return rule_page(route, state);
        case endpoint_kind::ui:
            if (!state.ui_enabled) break;
            if (!get) co_return method_not_allowed(request.method, "GET, OPTIONS");
            co_return ui_file(route, state);
        case endpoint_kind::unknown:
            break;
    }
    co_return error_response(errc::unknown_path,
                             "there is no endpoint at this path; see /cds-services");
}

}  // namespace

route_match match_route(std::string_view target) {
    route_match out;
    auto parsed = boost::urls::parse_origin_form(target);
    if (!parsed) {
        out.valid_target = false;
        return out;
    }
    boost::urls::url_view const url = *parsed;
    out.path = url.path();
    // No endpoint has more than three segments, so at most four are looked at (the fourth may
    // be the empty one of a trailing '/'); they are compared decoded, without copying them.
    std::array<boost::urls::pct_string_view, 4> segments{};
    std::size_t count = 0;
    for (auto const segment : url.encoded_segments()) {
        if (count == segments.size()) return out;  // too many for any endpoint
        segments[count++] = segment;
    }
    // "/cds-services/" names the same resource as "/cds-services".
    if (count > 0 && segments[count - 1].empty()) --count;
    if (count == segments.size()) return out;
    auto const decoded_is = [&](std::size_t i, std::string_view text) {
        return *segments[i] == text;
    };
    auto const decoded = [&](std::size_t i) { return segments[i].decode(); };

    if (count == 1 && decoded_is(0, "healthz")) {
        out.kind = endpoint_kind::health;
    } else if (count == 1 && decoded_is(0, "readyz")) {
        out.kind = endpoint_kind::readiness;
    } else if (count == 1 && decoded_is(0, "metrics")) {
        out.kind = endpoint_kind::metrics;
    } else if (count == 2 && decoded_is(0, "rules") && !segments[1].empty()) {
        out.kind = endpoint_kind::rule_page;
        out.rule_id = decoded(1);
    } else if (count > 0 && count <= 2 && decoded_is(0, "ui")) {
        out.kind = endpoint_kind::ui;
        if (count == 2) out.ui_file = decoded(1);
    } else if (count > 0 && decoded_is(0, "cds-services")) {
        if (count == 1) {
            out.kind = endpoint_kind::discovery;
        } else if (count == 2 && !segments[1].empty()) {
            out.kind = endpoint_kind::service_call;
            out.service_id = decoded(1);
        } else if (count == 3 && !segments[1].empty() && decoded_is(2, "feedback")) {
            out.kind = endpoint_kind::feedback;
            out.service_id = decoded(1);
        }
    }
    return out;
}

boost::asio::awaitable<request_admission> admit_request(http_request const& head,
                                                        service_state const& state) {
    request_admission admission;
    admission.route = match_route(head.target);
    if (head.method == "OPTIONS" || !admission.route.valid_target) co_return admission;
    admission.refusal = co_await authenticate(head, admission.route, state, admission.auth_note,
                                              admission.client_iss);
    co_return admission;
}

boost::asio::awaitable<http_response> respond_to_admitted(http_request request,
                                                          request_admission admission,
                                                          service_state const& state) {
    // state.fixed_now (serve --now) is the evaluation time of the rules only (cds_call.cpp);
    // authentication keeps the arrival time, since a real token's exp/iat are real times.
    route_match const& route = admission.route;
    http_response response;
    if (admission.refusal) {
        response = std::move(*admission.refusal);
    } else {
        response = co_await dispatch(request, route, admission.client_iss, state);
    }
    auto const& auth_note = admission.auth_note;
    if (!auth_note.empty())
        response.log.note += (response.log.note.empty() ? "" : "; ") + auth_note;
    response.log.route = std::string{route_template(route.kind)};
    // Only ids the rule set knows are logged; an unknown id is whatever the client sent.
    if (!state.rules || state.rules->find_service(response.log.service_id) == nullptr)
        response.log.service_id.clear();
    apply_cors(response, request.header("Origin"), state.cors);
    co_return response;
}

boost::asio::awaitable<http_response> handle_request(http_request request,
                                                     service_state const& state) {
    request_admission admission = co_await admit_request(request, state);
    co_return co_await respond_to_admitted(std::move(request), std::move(admission), state);
}

http_response error_response(errc code,
                             std::string const& diagnostics,
                             std::string const& expression) {
    return error_response(code, std::vector<outcome_issue>{{diagnostics, expression}});
}

http_response error_response(errc code, std::vector<outcome_issue> const& issues) {
    auto const& meta = info(code);
    http_response response;
    response.status = meta.http_status;
    response.log.note = std::string{meta.id};
    if (code == errc::unauthorized) {
        // CDS Hooks 2.0 security advice: a failed authentication says nothing about why.
        response.set_header("WWW-Authenticate", "Bearer");
        return response;
    }
    boost::json::array issue_array;
    for (auto const& i : issues) {
        boost::json::object issue{
            {"severity", i.severity.empty() ? std::string{"error"} : i.severity},
            {"code", meta.issue_code},
            {"details",
             {{"coding", boost::json::array{{{"system", error_code_system}, {"code", meta.id}}}},
              {"text", meta.message}}}};
        if (!i.diagnostics.empty()) issue["diagnostics"] = i.diagnostics;
        if (!i.expression.empty())
            issue["expression"] = boost::json::array{boost::json::string{i.expression}};
        issue_array.emplace_back(std::move(issue));
    }
    boost::json::object outcome{{"resourceType", "OperationOutcome"},
                                {"issue", std::move(issue_array)}};
    response.content_type = "application/json";
    response.body = boost::json::serialize(outcome);
    return response;
}

void apply_cors(http_response& response, std::string_view origin, cors_policy const& cors) {
    auto const& allowed = cors.allowed_origins;
    if (allowed.empty() || std::find(allowed.begin(), allowed.end(), "*") != allowed.end()) {
        response.set_header("Access-Control-Allow-Origin", "*");
        return;
    }
    bool const listed = std::find(allowed.begin(), allowed.end(), origin) != allowed.end();
    response.set_header("Access-Control-Allow-Origin",
                        listed ? std::string{origin} : allowed.front());
    response.set_header("Vary", "Origin");
}

http_response preflight_response(cors_policy const& cors) {
    http_response response;
    response.status = 204;
    response.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    response.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
    response.set_header("Access-Control-Max-Age", std::to_string(cors.max_age.count()));
    return response;
}

}  // namespace cds::service
