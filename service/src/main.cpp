// magnesium-cds: wiring only (STYLE.md practice 3). Parses the command line, loads and
// validates the rule set, builds the shared service state and hands it to the server or to
// the same request path for `evaluate`. Start-up errors are exceptions caught here.

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <boost/json.hpp>
#include <boost/program_options.hpp>

#include "cds/fhir/date_time.hpp"
#include "cds/rules/rule_set.hpp"
#include "cds/service/auth/auth_config.hpp"
#include "cds/service/auth/jwt_request_authenticator.hpp"
#include "cds/service/cds/cds_call.hpp"
#include "cds/service/cds/service_state.hpp"
#include "cds/service/feedback/feedback_store.hpp"
#include "cds/service/fhir_client/command_line.hpp"
#include "cds/service/fhir_client/http_fhir_fetcher.hpp"
#include "cds/service/http/http_server.hpp"
#include "cds/service/http/router.hpp"
#include "cds/service/ops/buffered_log_sink.hpp"
#include "cds/service/ops/log_format.hpp"
#include "cds/service/ops/serve_config.hpp"
#include "cds/service/workbench/workbench.hpp"

#ifndef CDS_VERSION
#define CDS_VERSION "unknown"
#endif

namespace po = boost::program_options;
namespace service = cds::service;
namespace rules = cds::rules;

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;  // invalid rules, an error response from `evaluate`
constexpr int exit_usage = 2;    // bad command line, unreadable file

// Thrown for command-line mistakes: reported with a hint to --help, exit 2.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::string read_file(std::string const& path) {
    if (path == "-")
        return {std::istreambuf_iterator<char>{std::cin}, std::istreambuf_iterator<char>{}};
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw std::runtime_error("cannot read " + path);
    return text.str();
}

po::options_description serve_options() {
    service::service_limits const limits;
    service::cors_policy const cors;
    po::options_description d("serve options");
    d.add_options()("listen", po::value<std::string>()->default_value("127.0.0.1:8080"),
                    "HOST:PORT to listen on ([::1]:PORT for IPv6; port 0 picks a free port, "
                    "printed on stdout)")(
        "rules", po::value<std::string>(),
        "rule configuration file (default: the bundled rule set); SIGHUP reloads it")(
        "rules-watch", po::value<unsigned>(),
        "MS: also reload the --rules file when it changes, checked every MS milliseconds")(
        "threads", po::value<unsigned>()->default_value(0),
        "server threads (0: one per hardware thread)")(
        "io-model", po::value<std::string>()->default_value("shared"),
        "shared: any thread serves any connection (steadier tail latency); per-thread: each "
        "connection stays on one thread (more requests/s)")(
        "max-body", po::value<std::size_t>()->default_value(limits.max_body_bytes),
        "largest request body in bytes (413 beyond)")(
        "body-budget", po::value<std::size_t>()->default_value(limits.body_budget_bytes),
        "request bodies held at once across all connections, in bytes (503 beyond; at least "
        "--max-body)")("max-header",
                       po::value<std::size_t>()->default_value(limits.max_header_bytes),
                       "largest request line + headers in bytes (431 beyond)")(
        "max-json-depth", po::value<unsigned>()->default_value(limits.max_json_depth),
        "deepest JSON nesting accepted (400 beyond)")(
        "max-connections", po::value<std::size_t>()->default_value(limits.max_connections),
        "concurrent connections (503 beyond)")(
        "max-resources", po::value<std::size_t>()->default_value(limits.max_resources),
        "FHIR resources per hook call, counted across prefetch and draftOrders (413 beyond)")(
        "tls-cert", po::value<std::string>(),
        "PEM certificate chain: serve HTTPS (TLS 1.2+) instead of HTTP; needs --tls-key")(
        "tls-key", po::value<std::string>(), "PEM private key (unencrypted) of --tls-cert")(
        "tls-handshake-timeout", po::value<double>()->default_value(10),
        "seconds a client has to complete the TLS handshake")(
        "read-timeout", po::value<double>()->default_value(10),
        "seconds to receive one request's header and body (408 beyond)")(
        "idle-timeout", po::value<double>()->default_value(30),
        "seconds a keep-alive connection may wait for its next request")(
        "write-timeout", po::value<double>()->default_value(30), "seconds to send one response")(
        "shutdown-timeout", po::value<double>()->default_value(10),
        "seconds in-flight requests get after SIGTERM/SIGINT")(
        "now", po::value<std::string>(),
        "evaluate every call at this FHIR dateTime instead of its arrival time (for tests and "
        "demonstrations)")("cors-origin", po::value<std::vector<std::string>>()->composing(),
                           "allowed browser origin for CORS (repeatable; default *)")(
        "cors-max-age", po::value<long>()->default_value(cors.max_age.count()),
        "seconds browsers may cache a CORS preflight")(
        "log-level", po::value<std::string>()->default_value("info"),
        "trace, debug, info, warn, error, critical or off")(
        "enable-explain", po::bool_switch(),
        "a hook call with ?explain=true gets the evaluation trace in its response (never logged)")(
        "enable-ui", po::bool_switch(),
        "serve the card viewer at /ui (its calls may ask for explain)")(
        "disable-metrics", po::bool_switch(),
        "do not serve GET /metrics (Prometheus text format, public like /healthz)")(
        "ui-rules", po::value<std::vector<std::string>>()->composing(),
        "extra rule file the card viewer can compare against (repeatable; needs --enable-ui)")(
        "log-format", po::value<std::string>()->default_value("text"),
        "text, or json: one JSON object per line (time, level, message)")(
        "print-config", po::bool_switch(),
        "print the effective configuration as JSON (each option's value and whether it came from "
        "the default, the "
        "environment or a flag; secrets redacted) and exit; every serve option OPT may also be set "
        "by the "
        "environment variable MAGNESIUM_CDS_OPT (upper case, - as _), a flag winning over the "
        "environment");
    // Flags owned by the FHIR client and by authentication.
    cds::service::fhir_client::add_fhir_client_options(d);
    cds::service::auth::add_auth_options(d);
    service::add_feedback_store_options(d);
    service::add_snooze_options(d);
    return d;
}

po::options_description evaluate_options() {
    po::options_description d("evaluate options");
    d.add_options()("request", po::value<std::string>(),
                    "the CDS Hooks request JSON file (- for stdin)")(
        "now", po::value<std::string>(), "evaluation time as a FHIR dateTime (default: the clock)")(
        "rules", po::value<std::string>(),
        "rule configuration file (default: the bundled rule set)")(
        "service", po::value<std::string>(),
        "service id (default: the service answering the request's hook)")(
        "max-json-depth",
        po::value<unsigned>()->default_value(service::service_limits{}.max_json_depth),
        "deepest JSON nesting accepted")("explain", po::bool_switch(),
                                         "print the evaluation trace with the cards")(
        "format", po::value<std::string>()->default_value("json"),
        "with --explain: json (the service's ?explain=true response) or text (readable)");
    // The same FHIR-client flags as serve: with --fhir-allow, absent prefetch keys are fetched
    // from the request's fhirServer exactly as over HTTP (one call, on a private io_context).
    cds::service::fhir_client::add_fhir_client_options(d);
    return d;
}

po::options_description check_rules_options() {
    po::options_description d("check-rules options");
    d.add_options()("file", po::value<std::string>(), "the rule configuration file to check");
    return d;
}

po::options_description feedback_report_options() {
    po::options_description d("feedback-report options");
    d.add_options()("feedback-db", po::value<std::string>(),
                    "the feedback store written by serve --feedback-db: a SQLite file or a "
                    "postgresql:// URL")(
        "since", po::value<std::string>(),
        "count feedback received at or after this FHIR dateTime (default: all)")(
        "until", po::value<std::string>(),
        "count feedback received before this FHIR dateTime (default: no bound)")(
        "by", po::value<std::string>(),
        "rule: join feedback to the card ledger and count per rule and rule-set version")(
        "format", po::value<std::string>()->default_value("json"),
        "with --by rule: json, csv or text");
    service::add_feedback_db_password_option(d);
    return d;
}

void print_help(std::ostream& out) {
    out << "magnesium-cds " CDS_VERSION
           " - a CDS Hooks 2.0 service for magnesium safety\n\n"
           "Usage:\n"
           "  magnesium-cds serve [--listen HOST:PORT] [--rules FILE] [options]\n"
           "  magnesium-cds evaluate REQUEST.json [--now DATETIME] [--rules FILE] [--service ID]\n"
           "                         [--fhir-allow URL ...] [--explain [--format text|json]]\n"
           "  magnesium-cds check-rules FILE\n"
           "  magnesium-cds feedback-report --feedback-db FILE|URL [--since DATETIME] [--until "
           "DATETIME]\n"
           "                                [--by rule [--format json|csv|text]]\n"
           "  magnesium-cds scenarios DIR [--rules FILE] [--only TEXT]\n"
           "  magnesium-cds impact --rules OLD --rules NEW DIR [--now DATETIME] [--format "
           "text|json|markdown]\n"
           "  magnesium-cds --help | --version\n\n"
           "serve        answer CDS Hooks over HTTP until SIGTERM/SIGINT\n"
           "evaluate     print the response the service would give to REQUEST.json (stdout: the\n"
           "             JSON alone; exit 1 with the OperationOutcome when it would be an error);\n"
           "             with --fhir-allow it fetches absent prefetch from the request's "
           "fhirServer\n"
           "check-rules  validate a rule configuration file, printing every problem with its JSON "
           "path\n"
           "feedback-report  print as JSON the stored feedback counted by service, rule set, "
           "outcome\n"
           "             and override reason (serve without --feedback-db stores none); with --by "
           "rule,\n"
           "             per rule: cards issued, accepted, overridden, top override reasons\n"
           "scenarios    run every scenario folder of DIR (fixtures/scenarios format) under one "
           "rule\n"
           "             file: PASS/FAIL a line, then 'N passed, M failed'; exit 1 on a failure\n"
           "impact       the cards each request (or scenario) of DIR gets under OLD and NEW "
           "rules:\n"
           "             cards added, removed or changed, then a summary table\n\n"
        << serve_options() << '\n'
        << evaluate_options() << '\n'
        << check_rules_options() << '\n'
        << feedback_report_options() << '\n'
        << service::workbench::scenarios_help() << '\n'
        << service::workbench::impact_help() << '\n';
}

po::variables_map parse(std::vector<std::string> const& args,
                        po::options_description const& options,
                        char const* positional_name) {
    po::positional_options_description positional;
    if (positional_name != nullptr) positional.add(positional_name, 1);
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(args).options(options).positional(positional).run(), vm);
        po::notify(vm);
    } catch (po::error const& e) {
        throw usage_error(e.what());
    }
    return vm;
}

cds::fhir::instant parse_now(std::string const& text) {
    auto const parsed = cds::fhir::parse_date_time(text);
    if (!parsed.value) throw usage_error("--now is not a FHIR dateTime: " + parsed.error);
    return parsed.value->start;
}

std::chrono::milliseconds seconds_option(po::variables_map const& vm, char const* name) {
    double const seconds = vm[name].as<double>();
    if (!(seconds > 0) || seconds > 86400.0)
        throw usage_error(std::string{"--"} + name + " must be between 0 and 86400 seconds");
    return std::chrono::milliseconds{static_cast<long long>(seconds * 1000.0)};
}

// Loads the rule set from FILE or the bundled one; prints every problem and returns null when
// invalid.
std::shared_ptr<rules::rule_set const> load_rules(po::variables_map const& vm,
                                                  std::ostream& problems_out) {
    std::string const source =
        vm.count("rules") ? vm["rules"].as<std::string>() : std::string{"bundled rule set"};
    auto loaded = vm.count("rules") ? rules::load_rule_set(read_file(vm["rules"].as<std::string>()))
                                    : rules::load_rule_set(rules::bundled_rule_set_json());
    if (!loaded.problems.empty() || !loaded.rules) {
        problems_out << source << ": invalid rule configuration (" << loaded.problems.size()
                     << " problem" << (loaded.problems.size() == 1 ? "" : "s") << ")\n";
        for (auto const& p : loaded.problems) {
            problems_out << "  " << (p.path.empty() ? std::string{"/"} : p.path) << ": "
                         << p.message << '\n';
        }
        return nullptr;
    }
    return loaded.rules;
}

// `buffered`: serve's logger, written to stderr in batches by a background thread so that a
// request never waits for stderr (buffered_log_sink.hpp); when stderr is a terminal, where a
// person reads along, lines go out one by one in colour as before.
void use_stderr_logger(std::string const& level_name,
                       bool buffered = false,
                       std::string const& format = "text") {
    auto const level = spdlog::level::from_str(level_name);
    if (level == spdlog::level::off && level_name != "off")
        throw usage_error("unknown --log-level " + level_name);
    if (format != "text" && format != "json")
        throw usage_error("--log-format must be text or json");
    std::shared_ptr<spdlog::logger> logger;
    if (buffered && format == "json") {
        logger = std::make_shared<spdlog::logger>("magnesium-cds",
                                                  std::make_shared<service::buffered_log_sink>());
        logger->set_formatter(std::make_unique<service::ops::json_log_formatter>());
    } else if (buffered && isatty(STDERR_FILENO) == 0) {
        logger = std::make_shared<spdlog::logger>("magnesium-cds",
                                                  std::make_shared<service::buffered_log_sink>());
        logger->set_formatter(
            std::make_unique<service::service_log_formatter>());  // the pattern below
    } else {
        logger = spdlog::stderr_color_mt("magnesium-cds");
        logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
    }
    logger->set_level(level);
    spdlog::set_default_logger(std::move(logger));
}

// The /metrics counters, with the values other components own: the authenticator's decisions
// and the log lines the buffered sink dropped (when serve's logger is the buffered one).
std::shared_ptr<service::ops::service_metrics> make_metrics(
    rules::rule_set const& rule_set, std::shared_ptr<service::auth::authenticator> authenticator) {
    service::ops::metrics_sources sources;
    if (authenticator && authenticator->enabled()) {
        sources.auth_decisions = [authenticator] { return authenticator->counters(); };
    }
    for (auto const& sink : spdlog::default_logger()->sinks()) {
        if (auto buffered = std::dynamic_pointer_cast<service::buffered_log_sink>(sink)) {
            sources.log_lines_dropped = [buffered] { return buffered->dropped_lines(); };
        }
    }
    return std::make_shared<service::ops::service_metrics>(rule_set, std::move(sources));
}

// std::cerr once every line logged so far is out, so that direct messages stay in order
// after the (buffered) log lines that led to them.
std::ostream& cerr_after_log() {
    spdlog::default_logger()->flush();
    return std::cerr;
}

// --enable-explain, --enable-ui and --ui-rules; false (with the problems printed) when a
// --ui-rules file is invalid.
bool configure_explain_and_ui(po::variables_map const& vm, service::service_state& state) {
    state.ui_enabled = vm["enable-ui"].as<bool>();
    state.explain_enabled = vm["enable-explain"].as<bool>();
    if (state.explain_enabled)
        spdlog::warn("explain is enabled: hook calls may ask for the evaluation trace");
    if (!vm.count("ui-rules")) return true;
    if (!state.ui_enabled) throw usage_error("--ui-rules needs --enable-ui");
    for (auto const& path : vm["ui-rules"].as<std::vector<std::string>>()) {
        po::variables_map one;
        one.emplace("rules", po::variable_value(path, false));
        std::ostringstream problems;
        auto rule_set = load_rules(one, problems);
        if (!rule_set) {
            cerr_after_log() << "magnesium-cds: refusing to start: " << problems.str();
            return false;
        }
        std::string const name = std::filesystem::path(path).filename().string();
        if (!state.ui_rules.emplace(name, std::move(rule_set)).second) {
            throw usage_error("two --ui-rules files are named " + name);
        }
    }
    return true;
}

// Options that name a file: --print-config shows their path although the name says "key".
std::set<std::string> const serve_path_options{"tls-key", "snooze-secret-file",
                                               "feedback-db-password-file"};

po::variables_map parse_serve(std::vector<std::string> const& args, bool& print_config) {
    auto const description = serve_options();
    std::set<std::string> const command_line_only{"print-config"};
    service::ops::effective_config config;
    try {
        config =
            service::ops::parse_command_line_and_environment(args, description, command_line_only);
    } catch (po::error const& e) {
        throw usage_error(e.what());
    }
    print_config = config.values["print-config"].as<bool>();
    if (print_config) {
        std::cout << service::ops::describe_config(description, config, serve_path_options,
                                                   command_line_only)
                  << '\n';
    }
    return config.values;
}

int serve(std::vector<std::string> const& args) {
    bool print_config = false;
    auto const vm = parse_serve(args, print_config);
    if (print_config) return exit_ok;
    use_stderr_logger(vm["log-level"].as<std::string>(), true, vm["log-format"].as<std::string>());

    service::server_options options;
    auto const listen = service::parse_listen_address(vm["listen"].as<std::string>());
    if (!listen) throw usage_error("--listen must be HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080");
    options.listen = *listen;
    options.threads = vm["threads"].as<unsigned>();
    if (options.threads == 0) options.threads = std::max(1U, std::thread::hardware_concurrency());
    auto const io_model = vm["io-model"].as<std::string>();
    if (io_model == "per-thread") {
        options.io = service::io_model::per_thread;
    } else if (io_model != "shared") {
        throw usage_error("--io-model must be shared or per-thread");
    }
    options.shutdown_timeout = seconds_option(vm, "shutdown-timeout");
    if (vm.count("tls-cert") != vm.count("tls-key"))
        throw usage_error("--tls-cert and --tls-key go together");
    if (vm.count("tls-cert")) {
        service::tls_options tls;
        tls.certificate_chain_file = vm["tls-cert"].as<std::string>();
        tls.private_key_file = vm["tls-key"].as<std::string>();
        tls.handshake_timeout = seconds_option(vm, "tls-handshake-timeout");
        try {
            service::check_tls_files(tls);
        } catch (std::runtime_error const& e) {
            cerr_after_log() << "magnesium-cds: refusing to start: " << e.what() << '\n';
            return exit_failure;
        }
        options.tls = std::move(tls);
    }

    service::service_limits limits;
    limits.max_body_bytes = vm["max-body"].as<std::size_t>();
    limits.max_header_bytes = vm["max-header"].as<std::size_t>();
    limits.max_json_depth = vm["max-json-depth"].as<unsigned>();
    limits.max_connections = vm["max-connections"].as<std::size_t>();
    limits.max_resources = vm["max-resources"].as<std::size_t>();
    limits.read_timeout = seconds_option(vm, "read-timeout");
    limits.idle_timeout = seconds_option(vm, "idle-timeout");
    limits.write_timeout = seconds_option(vm, "write-timeout");
    if (limits.max_body_bytes == 0 || limits.max_header_bytes < 256 || limits.max_json_depth == 0 ||
        limits.max_connections == 0 || limits.max_resources == 0) {
        throw usage_error(
            "--max-body, --max-json-depth, --max-connections and --max-resources must be positive, "
            "--max-header at least 256");
    }
    limits.body_budget_bytes = vm["body-budget"].as<std::size_t>();
    if (limits.body_budget_bytes < limits.max_body_bytes) {
        throw usage_error("--body-budget must be at least --max-body (" +
                          std::to_string(limits.max_body_bytes) +
                          " bytes), or no body of the largest size could ever be read");
    }
    service::cors_policy cors;
    if (vm.count("cors-origin"))
        cors.allowed_origins = vm["cors-origin"].as<std::vector<std::string>>();
    cors.max_age = std::chrono::seconds{vm["cors-max-age"].as<long>()};

    if (vm.count("rules")) options.rules_reload.file = vm["rules"].as<std::string>();
    if (vm.count("rules-watch")) {
        unsigned const ms = vm["rules-watch"].as<unsigned>();
        if (!vm.count("rules") || ms == 0 || ms > 3'600'000) {
            throw usage_error("--rules-watch needs --rules FILE and 1 to 3600000 milliseconds");
        }
        options.rules_reload.watch_interval = std::chrono::milliseconds{ms};
    }
    std::ostringstream problems;
    auto rule_set = load_rules(vm, problems);
    if (!rule_set) {
        cerr_after_log() << "magnesium-cds: refusing to start: " << problems.str();
        return exit_failure;
    }

    auto const fetch_options = service::fhir_client::fhir_client_options_from(vm);
    limits.fetch_deadline = fetch_options.deadline;
    auto const auth_config = service::auth::make_auth_config(service::auth::read_auth_flags(vm));
    auto const policy = service::auth::check_listen_policy(options.listen.host, auth_config);
    if (!policy.allowed) {
        cerr_after_log() << "magnesium-cds: refusing to start: " << policy.message << '\n';
        return exit_failure;
    }
    if (!policy.message.empty()) spdlog::warn("{}", policy.message);

    auto state = service::make_service_state(rule_set, limits, cors);
    std::vector<std::string> auth_warnings;
    auto const authenticator = service::auth::make_authenticator(
        auth_config, std::chrono::system_clock::now(), &auth_warnings);
    state.authenticator = service::auth::make_request_authenticator(authenticator);
    for (auto const& warning : auth_warnings) spdlog::warn("{}", warning);
    // Fetching from a client's fhirServer stays off until --fhir-allow names servers; until
    // then absent prefetch keys are unavailable.
    if (!fetch_options.allow.empty()) {
        state.fetcher = std::make_shared<service::fhir_client::http_fhir_fetcher>(fetch_options);
    }
    // Without --feedback-db feedback is validated and only counted in the log.
    if (vm.count("feedback-db")) {
        auto const feedback_db = vm["feedback-db"].as<std::string>();
        service::feedback_queue_options queue;
        try {
            queue = service::feedback_queue_options_from(vm);
        } catch (std::invalid_argument const& e) {
            throw usage_error(e.what());
        }
        try {
            auto store = service::open_feedback_store_from(
                vm, {rule_set->id(), rule_set->version()}, service::feedback_store_role::serve);
            state.snooze = service::make_snooze_service(vm, store);
            auto queued = service::make_queued_store(std::move(store), queue);
            state.feedback = std::move(queued.feedback);
            state.ledger = std::move(queued.ledger);
        } catch (std::runtime_error const& e) {
            cerr_after_log() << "magnesium-cds: refusing to start: " << e.what() << '\n';
            return exit_failure;
        }
        spdlog::info("feedback is stored in {}",
                     service::is_postgres_url(feedback_db)
                         ? "PostgreSQL (synchronous_commit=on)"
                         : feedback_db + " (SQLite, WAL, synchronous=FULL)");
    } else {
        if (vm.count("snooze-secret-file"))
            throw usage_error(
                "--snooze-secret-file needs --feedback-db (snoozing reads the overrides there)");
        spdlog::info(
            "feedback is validated and counted in the log only (no --feedback-db); no snoozing");
    }
    if (vm.count("now")) {
        state.fixed_now = parse_now(vm["now"].as<std::string>());
        spdlog::warn("every call is evaluated at the fixed time {} (--now), not at its arrival",
                     cds::fhir::format_instant(*state.fixed_now));
    }
    if (!configure_explain_and_ui(vm, state)) return exit_failure;
    // The cards link to the rule pages under --public-url, else under the bound address.
    bool const public_url_given = !auth_config.public_url.empty();
    if (public_url_given) state.public_base->set(auth_config.public_url);
    if (!vm["disable-metrics"].as<bool>()) state.metrics = make_metrics(*rule_set, authenticator);
    auto const shared_state = std::make_shared<service::service_state const>(std::move(state));

    if (shared_state->ui_enabled) {
        spdlog::info("card viewer at /ui ({} rule sets to compare)", shared_state->ui_rules.size());
    }
    spdlog::info("rule set {} {} with {} services; {} threads ({} I/O); body limit {} bytes",
                 rule_set->id(), rule_set->version(), rule_set->services().size(), options.threads,
                 io_model, limits.max_body_bytes);
    char const* const scheme = options.tls ? "https" : "http";
    int const code = service::run_server(
        options, shared_state,
        [scheme, &shared_state, public_url_given](service::listen_address const& bound) {
            bool const v6 = bound.host.find(':') != std::string::npos;
            std::string const url = std::string{scheme} + "://" + (v6 ? "[" : "") + bound.host +
                                    (v6 ? "]" : "") + ':' + std::to_string(bound.port);
            // Without --public-url the cards link to the rule pages at the bound address.
            if (!public_url_given) shared_state->public_base->set(url);
            // Tests and scripts read this line to learn the port when --listen asked for port 0.
            std::cout << "listening on " << url << std::endl;
        });
    spdlog::default_logger()->flush();
    return code;
}

// The service whose hook the request names, when --service is not given; the first service
// when the hook cannot be read, so that the request path itself reports what is wrong.
std::string pick_service(rules::rule_set const& rule_set,
                         std::string const& body,
                         unsigned max_depth) {
    auto parsed = service::parse_json_body(body, max_depth);
    std::string hook;
    if (!parsed.error && parsed.value.is_object()) {
        if (auto const* h = parsed.value.get_object().if_contains("hook");
            h != nullptr && h->is_string()) {
            hook = std::string{h->get_string()};
        }
    }
    auto const& services = rule_set.services();
    if (hook.empty()) return services.empty() ? std::string{} : services.front().id;
    std::vector<std::string> matching;
    for (auto const& s : services) {
        if (s.hook == hook) matching.push_back(s.id);
    }
    if (matching.empty())
        throw usage_error("no service in the rule set answers the hook '" + hook + "'");
    if (matching.size() > 1)
        throw usage_error("several services answer the hook '" + hook +
                          "'; choose one with --service");
    return matching.front();
}

std::string json_text(boost::json::value const* v) {
    return v != nullptr && v->is_string() ? std::string{v->get_string()} : std::string{};
}

// `evaluate --explain --format text`: each card (indicator, summary, detail, suggestions),
// then the trace, one decision a line. Reads the same JSON the service returns.
void print_explained(std::string const& body, std::ostream& out) {
    auto const document = boost::json::parse(body).as_object();
    auto const& cards = document.at("cards").as_array();
    out << cards.size() << (cards.size() == 1 ? " card" : " cards") << '\n';
    for (auto const& card_value : cards) {
        auto const& card = card_value.as_object();
        out << "\n[" << json_text(card.if_contains("indicator")) << "] "
            << json_text(card.if_contains("summary")) << '\n';
        if (auto detail = json_text(card.if_contains("detail")); !detail.empty()) {
            std::istringstream lines(detail);
            for (std::string line; std::getline(lines, line);) out << "    " << line << '\n';
        }
        if (auto const* suggestions = card.if_contains("suggestions");
            suggestions != nullptr && suggestions->is_array()) {
            for (auto const& s : suggestions->as_array()) {
                out << "  suggestion: " << json_text(s.as_object().if_contains("label")) << '\n';
            }
        }
    }
    auto const& explain = document.at("explain").as_object();
    out << "\nwhy (rule set " << json_text(explain.if_contains("ruleSetId")) << ' '
        << json_text(explain.if_contains("ruleSetVersion")) << "):\n";
    for (auto const& entry_value : explain.at("entries").as_array()) {
        auto const& entry = entry_value.as_object();
        out << "  " << json_text(entry.if_contains("rule")) << " | "
            << json_text(entry.if_contains("subject")) << " | "
            << json_text(entry.if_contains("message")) << '\n';
    }
}

int evaluate(std::vector<std::string> const& args) {
    auto const vm = parse(args, evaluate_options(), "request");
    use_stderr_logger("warn");
    if (!vm.count("request"))
        throw usage_error("evaluate needs a REQUEST.json file (or - for stdin)");

    cds::fhir::instant const now = vm.count("now")
                                       ? parse_now(vm["now"].as<std::string>())
                                       : std::chrono::time_point_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now());
    std::string body = read_file(vm["request"].as<std::string>());

    auto rule_set = load_rules(vm, std::cerr);
    if (!rule_set) return exit_failure;
    service::service_limits limits;
    limits.max_json_depth = vm["max-json-depth"].as<unsigned>();
    auto const fetch_options = service::fhir_client::fhir_client_options_from(vm);
    limits.fetch_deadline = fetch_options.deadline;
    auto state = service::make_service_state(rule_set, limits);
    if (!fetch_options.allow.empty()) {
        state.fetcher = std::make_shared<service::fhir_client::http_fhir_fetcher>(fetch_options);
    }

    bool const explain = vm["explain"].as<bool>();
    std::string const format = vm["format"].as<std::string>();
    if (format != "json" && format != "text") throw usage_error("--format must be json or text");
    if (format == "text" && !explain) throw usage_error("--format text goes with --explain");
    state.explain_enabled = explain;

    std::string const service_id = vm.count("service")
                                       ? vm["service"].as<std::string>()
                                       : pick_service(*rule_set, body, limits.max_json_depth);
    service::http_request request;
    request.method = "POST";
    request.target = "/cds-services/" + service_id + (explain ? "?explain=true" : "");
    request.headers = {{"Content-Type", "application/json"}};
    request.body = std::move(body);
    request.received_at = now;

    service::http_response response;
    try {
        response = service::handle_request_blocking(std::move(request), state);
    } catch (std::exception const& e) {
        spdlog::error("evaluation failed: {}", e.what());
        response = service::error_response(service::errc::internal_error,
                                           "the service failed to evaluate the request");
    }
    if (response.status == 200 && format == "text") {
        print_explained(response.body, std::cout);
    } else if (!response.body.empty()) {
        std::cout << response.body << '\n';
    }
    std::cout.flush();
    return response.status == 200 ? exit_ok : exit_failure;
}

int check_rules(std::vector<std::string> const& args) {
    auto const vm = parse(args, check_rules_options(), "file");
    if (!vm.count("file")) throw usage_error("check-rules needs a FILE");
    auto const path = vm["file"].as<std::string>();
    auto const loaded = rules::load_rule_set(read_file(path));
    if (loaded.problems.empty() && loaded.rules) {
        std::cout << path << ": OK (rule set " << loaded.rules->id() << " version "
                  << loaded.rules->version() << ", " << loaded.rules->services().size()
                  << " services)\n";
        return exit_ok;
    }
    std::cout << path << ": " << loaded.problems.size() << " problem"
              << (loaded.problems.size() == 1 ? "" : "s") << '\n';
    for (auto const& p : loaded.problems) {
        std::cout << (p.path.empty() ? std::string{"/"} : p.path) << ": " << p.message << '\n';
    }
    return exit_failure;
}

int feedback_report(std::vector<std::string> const& args) {
    auto const vm = parse(args, feedback_report_options(), nullptr);
    use_stderr_logger("warn");
    if (!vm.count("feedback-db")) throw usage_error("feedback-report needs --feedback-db FILE");
    service::feedback_summary_query query;
    for (auto const* bound : {"since", "until"}) {
        if (!vm.count(bound)) continue;
        auto const parsed = cds::fhir::parse_date_time(vm[bound].as<std::string>());
        if (!parsed.value)
            throw usage_error(std::string{"--"} + bound +
                              " is not a FHIR dateTime: " + parsed.error);
        (std::string_view{bound} == "since" ? query.since : query.until) = parsed.value->start;
    }
    std::string const by = vm.count("by") ? vm["by"].as<std::string>() : std::string{};
    std::string const format = vm["format"].as<std::string>();
    if (!by.empty() && by != "rule") throw usage_error("--by must be rule");
    if (format != "json" && (by.empty() || (format != "csv" && format != "text"))) {
        throw usage_error(by.empty() ? "--format needs --by rule (the default report is JSON only)"
                                     : "--format must be json, csv or text");
    }
    auto const store =
        service::open_feedback_store_from(vm, {}, service::feedback_store_role::report);
    if (by.empty()) {
        std::cout << service::render_feedback_summary(store->summarize(query)) << '\n';
        return exit_ok;
    }
    auto const report = store->summarize_by_rule(query);
    if (format == "json") std::cout << service::render_rule_feedback_json(report) << '\n';
    if (format == "csv") std::cout << service::render_rule_feedback_csv(report);
    if (format == "text") std::cout << service::render_rule_feedback_text(report);
    return exit_ok;
}

int run(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) {
        print_help(std::cerr);
        return exit_usage;
    }
    std::string const command = args.front();
    args.erase(args.begin());
    if (command == "--help" || command == "-h" || command == "help") {
        print_help(std::cout);
        return exit_ok;
    }
    if (command == "--version") {
        std::cout << "magnesium-cds " CDS_VERSION "\n";
        return exit_ok;
    }
    bool const wants_help = std::find(args.begin(), args.end(), "--help") != args.end();
    if (wants_help) {
        print_help(std::cout);
        return exit_ok;
    }
    if (command == "serve") return serve(args);
    if (command == "evaluate") return evaluate(args);
    if (command == "check-rules") return check_rules(args);
    if (command == "feedback-report") return feedback_report(args);
    try {
        if (command == "scenarios")
            return service::workbench::run_scenarios_command(args, std::cout);
        if (command == "impact") return service::workbench::run_impact_command(args, std::cout);
    } catch (service::workbench::usage_error const& e) {
        throw usage_error(e.what());
    }
    throw usage_error("unknown command '" + command + "'");
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (usage_error const& e) {
        cerr_after_log() << "magnesium-cds: " << e.what() << "\n(see magnesium-cds --help)\n";
        return exit_usage;
    } catch (std::exception const& e) {
        cerr_after_log() << "magnesium-cds: " << e.what() << '\n';
        return exit_usage;
    }
}
