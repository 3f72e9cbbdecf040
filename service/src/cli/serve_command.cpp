#include <filesystem>
#include <iostream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "cds/fhir/date_time.hpp"
#include "cds/service/auth/auth_config.hpp"
#include "cds/service/auth/jwt_request_authenticator.hpp"
#include "cds/service/cli/commands.hpp"
#include "cds/service/cli/options.hpp"
#include "cds/service/feedback/feedback_store.hpp"
#include "cds/service/feedback/snooze.hpp"
#include "cds/service/fhir_client/command_line.hpp"
#include "cds/service/fhir_client/http_fhir_fetcher.hpp"
#include "cds/service/http/bench_stage_stops.hpp"
#include "cds/service/ops/buffered_log_sink.hpp"
#include "serve_settings.hpp"

namespace cds::service::cli {

namespace po = boost::program_options;

namespace {

// The rule set of `file` (bundled when none); start_refused naming every problem when invalid.
std::shared_ptr<rules::rule_set const> rules_to_serve(std::optional<std::string> const& file) {
    std::ostringstream problems;
    auto rule_set = load_rules(file, problems);
    if (rule_set) return rule_set;
    std::string text = problems.str();
    if (!text.empty() && text.back() == '\n') text.pop_back();
    throw start_refused(text);
}

// The /metrics counters, with the values other components own: the authenticator's decisions
// and the log lines the buffered sink dropped (when serve's logger is the buffered one).
std::shared_ptr<ops::service_metrics> make_metrics(
    rules::rule_set const& rule_set, std::shared_ptr<auth::authenticator> authenticator) {
    ops::metrics_sources sources;
    if (authenticator && authenticator->enabled()) {
        sources.auth_decisions = [authenticator] { return authenticator->counters(); };
    }
    for (auto const& sink : spdlog::default_logger()->sinks()) {
        if (auto buffered = std::dynamic_pointer_cast<buffered_log_sink>(sink)) {
            sources.log_lines_dropped = [buffered] { return buffered->dropped_lines(); };
        }
    }
    return std::make_shared<ops::service_metrics>(rule_set, std::move(sources));
}

// --enable-explain, --enable-ui and --ui-rules.
void configure_explain_and_ui(po::variables_map const& vm, service_state& state) {
    state.ui_enabled = vm["enable-ui"].as<bool>();
    state.explain_enabled = vm["enable-explain"].as<bool>();
    if (state.explain_enabled)
        spdlog::warn("explain is enabled: hook calls may ask for the evaluation trace");
    if (!vm.count("ui-rules")) return;
    if (!state.ui_enabled) throw usage_error("--ui-rules needs --enable-ui");
    for (auto const& path : vm["ui-rules"].as<std::vector<std::string>>()) {
        auto rule_set = rules_to_serve(path);
        std::string const name = std::filesystem::path(path).filename().string();
        if (!state.ui_rules.emplace(name, std::move(rule_set)).second) {
            throw usage_error("two --ui-rules files are named " + name);
        }
    }
}

// Checks the listen address against the authentication configuration and installs the
// authenticator; returns it for the metrics.
std::shared_ptr<auth::authenticator> configure_authentication(po::variables_map const& vm,
                                                              server_options const& options,
                                                              service_state& state) {
    auto const auth_config = auth::make_auth_config(auth::read_auth_flags(vm));
    auto const policy = auth::check_listen_policy(options.listen.host, auth_config);
    if (!policy.allowed) throw start_refused(policy.message);
    if (!policy.message.empty()) spdlog::warn("{}", policy.message);
    std::vector<std::string> warnings;
    auto authenticator =
        auth::make_authenticator(auth_config, std::chrono::system_clock::now(), &warnings);
    state.authenticator = auth::make_request_authenticator(authenticator);
    // The cards link to the rule pages under --public-url, else under the bound address.
    if (!auth_config.public_url.empty()) state.public_base->set(auth_config.public_url);
    for (auto const& warning : warnings) spdlog::warn("{}", warning);
    return authenticator;
}

// --feedback-db: feedback and the card ledger stored in SQLite behind bounded queues; without
// it feedback is validated and only counted in the log.
void configure_feedback_store(po::variables_map const& vm,
                              rules::rule_set const& rule_set,
                              service_state& state) {
    if (!vm.count("feedback-db")) {
        if (vm.count("snooze-secret-file"))
            throw usage_error(
                "--snooze-secret-file needs --feedback-db (snoozing reads the overrides there)");
        spdlog::info(
            "feedback is validated and counted in the log only (no --feedback-db); no snoozing");
        return;
    }
    auto const feedback_db = vm["feedback-db"].as<std::string>();
    feedback_queue_options queue;
    try {
        queue = feedback_queue_options_from(vm);
    } catch (std::invalid_argument const& e) {
        throw usage_error(e.what());
    }
    try {
        auto store = open_feedback_store_from(vm, {rule_set.id(), rule_set.version()},
                                              feedback_store_role::serve);
        state.snooze = make_snooze_service(vm, store);
        auto queued = make_queued_store(std::move(store), queue);
        state.feedback = std::move(queued.feedback);
        state.ledger = std::move(queued.ledger);
    } catch (std::runtime_error const& e) {
        throw start_refused(e.what());
    }
    spdlog::info("feedback is stored in {}",
                 is_postgres_url(feedback_db) ? "PostgreSQL (synchronous_commit=on)"
                                              : feedback_db + " (SQLite, WAL, synchronous=FULL)");
}

// The shared state every request reads: rules, limits, authentication, the FHIR client, the
// feedback store, the fixed clock, explain/UI and metrics.
std::shared_ptr<service_state const> make_serve_state(
    po::variables_map const& vm,
    server_options const& options,
    service_limits limits,
    std::shared_ptr<rules::rule_set const> rules) {
    auto const fetch_options = fhir_client::fhir_client_options_from(vm);
    limits.fetch_deadline = fetch_options.deadline;
    auto state = make_service_state(rules, limits, cors_policy_from(vm));
    auto const authenticator = configure_authentication(vm, options, state);
    // Fetching from a client's fhirServer stays off until --fhir-allow names servers; until
    // then absent prefetch keys are unavailable.
    if (!fetch_options.allow.empty()) {
        state.fetcher = std::make_shared<fhir_client::http_fhir_fetcher>(fetch_options);
    }
    configure_feedback_store(vm, *rules, state);
    if (vm.count("now")) {
        state.fixed_now = parse_now(vm["now"].as<std::string>());
        spdlog::warn("every call is evaluated at the fixed time {} (--now), not at its arrival",
                     fhir::format_instant(*state.fixed_now));
    }
    configure_explain_and_ui(vm, state);
    if (!vm["disable-metrics"].as<bool>()) state.metrics = make_metrics(*rules, authenticator);
    return std::make_shared<service_state const>(std::move(state));
}

}  // namespace

int run_serve(std::vector<std::string> const& args) {
    auto const parsed = parse_serve_arguments(args);
    if (!parsed) return exit_ok;  // --print-config
    auto const& vm = *parsed;
    use_stderr_logger(vm["log-level"].as<std::string>(), true, vm["log-format"].as<std::string>());
    auto const options = server_options_from(vm);
    auto const limits = service_limits_from(vm);
    auto const rule_set = rules_to_serve(optional_text(vm, "rules"));
    auto const state = make_serve_state(vm, options, limits, rule_set);
    if (state->ui_enabled) {
        spdlog::info("card viewer at /ui ({} rule sets to compare)", state->ui_rules.size());
    }
    spdlog::info("rule set {} {} with {} services; {} threads ({} I/O); body limit {} bytes",
                 rule_set->id(), rule_set->version(), rule_set->services().size(), options.threads,
                 vm["io-model"].as<std::string>(), state->limits.max_body_bytes);
    warn_of_bench_stage_stops();
    char const* const scheme = options.tls ? "https" : "http";
    bool const public_url_given = !auth::read_auth_flags(vm).public_url.empty();
    int const code =
        run_server(options, state, [scheme, &state, public_url_given](listen_address const& bound) {
            bool const v6 = bound.host.find(':') != std::string::npos;
            std::string const url = std::string{scheme} + "://" + (v6 ? "[" : "") + bound.host +
                                    (v6 ? "]" : "") + ':' + std::to_string(bound.port);
            if (!public_url_given) state->public_base->set(url);
            // Tests and scripts read this line to learn the port when --listen asked for port 0.
            std::cout << "listening on " << url << std::endl;
        });
    spdlog::default_logger()->flush();
    return code;
}

}  // namespace cds::service::cli
