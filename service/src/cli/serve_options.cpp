#include <algorithm>
#include <iostream>
#include <set>
#include <thread>

#include "cds/service/auth/auth_config.hpp"
#include "cds/service/cli/commands.hpp"
#include "cds/service/cli/options.hpp"
#include "cds/service/feedback/feedback_store.hpp"
#include "cds/service/fhir_client/command_line.hpp"
#include "cds/service/ops/duration.hpp"
#include "cds/service/ops/serve_config.hpp"
#include "serve_settings.hpp"

namespace cds::service::cli {

namespace po = boost::program_options;

namespace {

void add_listener_options(po::options_description& d) {
    d.add_options()("listen", po::value<std::string>()->default_value("127.0.0.1:8080"),
                    "HOST:PORT to listen on ([::1]:PORT for IPv6; port 0 picks a free port, "
                    "printed on stdout)")(
        "rules", po::value<std::string>(),
        "rule configuration file (default: the bundled rule set); SIGHUP reloads it")(
        "rules-watch", po::value<ops::duration>()->value_name("DURATION"),
        "also reload the --rules file when it changes, checked this often (e.g. 2s; 1ms to 1h)")(
        "threads", po::value<unsigned>()->default_value(0),
        "server threads (0: one per hardware thread)")(
        "io-model", po::value<std::string>()->default_value("per-thread"),
        "per-thread: each connection stays on one thread, new ones go to the thread with the "
        "fewest (less CPU per request); shared: any thread serves any connection, so a slow "
        "call delays no other connection");
}

void add_limit_options(po::options_description& d) {
    service_limits const limits;
    d.add_options()("max-body", po::value<std::size_t>()->default_value(limits.max_body_bytes),
                    "largest request body in bytes (413 beyond)")(
        "body-budget", po::value<std::size_t>()->default_value(limits.body_budget_bytes),
        "request bodies held at once across all connections, in bytes (a request waits for "
        "room up to --body-wait, then 503; at least --max-body)")(
        "body-wait", po::value<ops::duration>()->default_value({limits.body_wait}),
        "longest a request waits for room in --body-budget (within --read-timeout)")(
        "max-header", po::value<std::size_t>()->default_value(limits.max_header_bytes),
        "largest request line + headers in bytes (431 beyond)")(
        "max-json-depth", po::value<unsigned>()->default_value(limits.max_json_depth),
        "deepest JSON nesting accepted (400 beyond)")(
        "max-connections", po::value<std::size_t>()->default_value(limits.max_connections),
        "concurrent connections (503 beyond)")(
        "max-resources", po::value<std::size_t>()->default_value(limits.max_resources),
        "FHIR resources per hook call, counted across prefetch and draftOrders (413 beyond)");
}

void add_connection_options(po::options_description& d) {
    service_limits const limits;
    server_options const server;
    d.add_options()(
        "tls-cert", po::value<std::string>(),
        "PEM certificate chain: serve HTTPS (TLS 1.2+) instead of HTTP; needs --tls-key")(
        "tls-key", po::value<std::string>(), "PEM private key (unencrypted) of --tls-cert")(
        "tls-handshake-timeout",
        po::value<ops::duration>()->default_value({tls_options{}.handshake_timeout}),
        "time a client has to complete the TLS handshake")(
        "read-timeout", po::value<ops::duration>()->default_value({limits.read_timeout}),
        "time to receive one request's header and body (408 beyond)")(
        "idle-timeout", po::value<ops::duration>()->default_value({limits.idle_timeout}),
        "time a keep-alive connection may wait for its next request")(
        "write-timeout", po::value<ops::duration>()->default_value({limits.write_timeout}),
        "time to send one response")(
        "shutdown-timeout", po::value<ops::duration>()->default_value({server.shutdown_timeout}),
        "time in-flight requests get after SIGTERM/SIGINT");
}

void add_behaviour_options(po::options_description& d) {
    cors_policy const cors;
    d.add_options()("now", po::value<std::string>(),
                    "evaluate every call at this FHIR dateTime instead of its arrival time (for "
                    "tests and demonstrations)")(
        "cors-origin", po::value<std::vector<std::string>>()->composing(),
        "allowed browser origin for CORS (repeatable; default *)")(
        "cors-max-age", po::value<ops::duration>()->default_value({cors.max_age}),
        "how long browsers may cache a CORS preflight (whole seconds)")(
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
        "print the effective configuration as JSON (durations as given, defaults in the largest "
        "exact unit) (each option's value and whether it came from "
        "the default, the environment or a flag; secrets redacted) and exit; every serve option "
        "OPT may also be set by the environment variable MAGNESIUM_CDS_OPT (upper case, - as _), "
        "a flag winning over the environment");
}

// A timeout option: more than zero and at most a day.
std::chrono::milliseconds timeout_option(po::variables_map const& vm, char const* name) {
    return duration_option(vm, name, std::chrono::milliseconds{1}, std::chrono::hours{24});
}

// Options that name a file: --print-config shows their path although the name says "key".
std::set<std::string> const serve_path_options{"tls-key", "snooze-secret-file",
                                               "feedback-db-password-file"};

std::optional<tls_options> tls_options_from(po::variables_map const& vm) {
    if (vm.count("tls-cert") != vm.count("tls-key"))
        throw usage_error("--tls-cert and --tls-key go together");
    if (!vm.count("tls-cert")) return std::nullopt;
    tls_options tls;
    tls.certificate_chain_file = vm["tls-cert"].as<std::string>();
    tls.private_key_file = vm["tls-key"].as<std::string>();
    tls.handshake_timeout = timeout_option(vm, "tls-handshake-timeout");
    try {
        check_tls_files(tls);
    } catch (std::runtime_error const& e) {
        throw start_refused(e.what());
    }
    return tls;
}

rules_reload_options rules_reload_from(po::variables_map const& vm) {
    rules_reload_options reload;
    if (vm.count("rules")) reload.file = vm["rules"].as<std::string>();
    if (vm.count("rules-watch")) {
        if (!vm.count("rules")) throw usage_error("--rules-watch needs --rules FILE");
        reload.watch_interval =
            duration_option(vm, "rules-watch", std::chrono::milliseconds{1}, std::chrono::hours{1});
    }
    return reload;
}

void check_limits(service_limits const& limits) {
    if (limits.max_body_bytes == 0 || limits.max_header_bytes < 256 || limits.max_json_depth == 0 ||
        limits.max_connections == 0 || limits.max_resources == 0) {
        throw usage_error(
            "--max-body, --max-json-depth, --max-connections and --max-resources must be positive, "
            "--max-header at least 256");
    }
    if (limits.body_budget_bytes < limits.max_body_bytes) {
        throw usage_error("--body-budget must be at least --max-body (" +
                          std::to_string(limits.max_body_bytes) +
                          " bytes), or no body of the largest size could ever be read");
    }
}

}  // namespace

po::options_description serve_options() {
    po::options_description d("serve options");
    add_listener_options(d);
    add_limit_options(d);
    add_connection_options(d);
    add_behaviour_options(d);
    // Flags owned by the FHIR client, by authentication and by the feedback store.
    fhir_client::add_fhir_client_options(d);
    auth::add_auth_options(d);
    add_feedback_store_options(d);
    add_snooze_options(d);
    return d;
}

std::optional<po::variables_map> parse_serve_arguments(std::vector<std::string> const& args) {
    auto const description = serve_options();
    std::set<std::string> const command_line_only{"print-config"};
    ops::effective_config config;
    try {
        config = ops::parse_command_line_and_environment(args, description, command_line_only);
    } catch (po::error const& e) {
        throw usage_error(e.what());
    }
    if (!config.values["print-config"].as<bool>()) return std::move(config.values);
    std::cout << ops::describe_config(description, config, serve_path_options, command_line_only)
              << '\n';
    return std::nullopt;
}

server_options server_options_from(po::variables_map const& vm) {
    server_options options;
    auto const listen = parse_listen_address(vm["listen"].as<std::string>());
    if (!listen) throw usage_error("--listen must be HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080");
    options.listen = *listen;
    options.threads = vm["threads"].as<unsigned>();
    if (options.threads == 0) options.threads = std::max(1U, std::thread::hardware_concurrency());
    auto const io_model_name = vm["io-model"].as<std::string>();
    if (io_model_name == "shared") {
        options.io = io_model::shared;
    } else if (io_model_name != "per-thread") {
        throw usage_error("--io-model must be shared or per-thread");
    }
    options.shutdown_timeout = timeout_option(vm, "shutdown-timeout");
    options.tls = tls_options_from(vm);
    options.rules_reload = rules_reload_from(vm);
    return options;
}

service_limits service_limits_from(po::variables_map const& vm) {
    service_limits limits;
    limits.max_body_bytes = vm["max-body"].as<std::size_t>();
    limits.max_header_bytes = vm["max-header"].as<std::size_t>();
    limits.max_json_depth = vm["max-json-depth"].as<unsigned>();
    limits.max_connections = vm["max-connections"].as<std::size_t>();
    limits.max_resources = vm["max-resources"].as<std::size_t>();
    limits.body_budget_bytes = vm["body-budget"].as<std::size_t>();
    limits.body_wait = timeout_option(vm, "body-wait");
    limits.read_timeout = timeout_option(vm, "read-timeout");
    limits.idle_timeout = timeout_option(vm, "idle-timeout");
    limits.write_timeout = timeout_option(vm, "write-timeout");
    check_limits(limits);
    return limits;
}

cors_policy cors_policy_from(po::variables_map const& vm) {
    cors_policy cors;
    if (vm.count("cors-origin"))
        cors.allowed_origins = vm["cors-origin"].as<std::vector<std::string>>();
    auto const max_age = vm["cors-max-age"].as<ops::duration>().value;
    // Access-Control-Max-Age counts whole seconds (Fetch standard, CORS protocol).
    if (max_age % std::chrono::seconds{1} != std::chrono::milliseconds{0})
        throw usage_error("--cors-max-age must be whole seconds, got " +
                          ops::format_duration(max_age));
    cors.max_age = std::chrono::duration_cast<std::chrono::seconds>(max_age);
    return cors;
}

}  // namespace cds::service::cli
