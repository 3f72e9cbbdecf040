#include <chrono>
#include <iostream>

#include <spdlog/spdlog.h>
#include <boost/json.hpp>

#include "cds/service/cds/cds_call.hpp"
#include "cds/service/cds/explain.hpp"
#include "cds/service/cds/service_state.hpp"
#include "cds/service/cli/commands.hpp"
#include "cds/service/cli/options.hpp"
#include "cds/service/fhir_client/command_line.hpp"
#include "cds/service/http/router.hpp"
#include "cds/service/workbench/scenario_history.hpp"

namespace cds::service::cli {

namespace po = boost::program_options;

po::options_description evaluate_options() {
    po::options_description d("evaluate options");
    d.add_options()("request", po::value<std::string>(),
                    "the CDS Hooks request JSON file (- for stdin)")(
        "now", po::value<std::string>(), "evaluation time as a FHIR dateTime (default: the clock)")(
        "rules", po::value<std::string>(),
        "rule configuration file (default: the bundled rule set)")(
        "service", po::value<std::string>(),
        "service id (default: the service answering the request's hook)")(
        "max-json-depth", po::value<unsigned>()->default_value(service_limits{}.max_json_depth),
        "deepest JSON nesting accepted")("explain", po::bool_switch(),
                                         "print the evaluation trace with the cards")(
        "format", po::value<std::string>()->default_value("json"),
        "with --explain: json (the service's ?explain=true response) or text (readable)")(
        "history", po::value<std::string>()->value_name("FILE"),
        "earlier feedback to replay first (a scenario's history.json): the cards it overrode "
        "are snoozed as the service would snooze them");
    // The same FHIR-client flags as serve: with --fhir-allow, absent prefetch keys are fetched
    // from the request's fhirServer exactly as over HTTP (one call, on a private io_context).
    fhir_client::add_fhir_client_options(d);
    return d;
}

namespace {

// The hook the request body names; empty when it cannot be read.
std::string requested_hook(std::string const& body, unsigned max_depth) {
    auto parsed = parse_json_body(body, max_depth);
    if (parsed.error || !parsed.value.is_object()) return {};
    auto const* hook = parsed.value.get_object().if_contains("hook");
    return hook != nullptr && hook->is_string() ? std::string{hook->get_string()} : std::string{};
}

// The service whose hook the request names, when --service is not given; the first service
// when the hook cannot be read, so that the request path itself reports what is wrong.
std::string pick_service(rules::rule_set const& rule_set,
                         std::string const& body,
                         unsigned max_depth) {
    std::string const hook = requested_hook(body, max_depth);
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

// `evaluate --explain --format text` (cds/service/cds/explain.hpp).
void print_explained(std::string const& body, std::ostream& out) {
    print_explain_text(boost::json::parse(body).as_object(), out);
}

// The service state `evaluate` runs the request through: the rule set, the JSON depth bound
// and, with --fhir-allow, a FHIR client.
service_state evaluation_state(po::variables_map const& vm,
                               std::shared_ptr<rules::rule_set const> rule_set) {
    service_limits limits;
    limits.max_json_depth = vm["max-json-depth"].as<unsigned>();
    auto const fetch_options = fhir_client::fhir_client_options_from(vm);
    limits.fetch_deadline = fetch_options.deadline;
    auto state = make_service_state(std::move(rule_set), limits);
    if (!fetch_options.allow.empty()) {
        state.fetcher = std::make_shared<fhir_client::http_fhir_fetcher>(fetch_options);
    }
    return state;
}

http_response answer(http_request request, service_state const& state) {
    try {
        return handle_request_blocking(std::move(request), state);
    } catch (std::exception const& e) {
        spdlog::error("evaluation failed: {}", e.what());
        return error_response(errc::internal_error, "the service failed to evaluate the request");
    }
}

// The request after the earlier feedback of a history file (workbench/scenario_history.hpp);
// a history that cannot be read or replayed is an error naming each problem.
workbench::evaluated_request evaluate_after(std::string const& history_file,
                                            std::string const& body,
                                            fhir::instant now,
                                            rules::rule_set const& rule_set,
                                            workbench::request_evaluator const& evaluate) {
    auto const read = workbench::read_history(history_file);
    if (!read.history) {
        std::string message = "--history " + history_file + ":";
        for (auto const& problem : read.problems) message += "\n  " + problem;
        throw usage_error(message);
    }
    auto replayed = workbench::evaluate_after_history(*read.history, body, now, rule_set, evaluate);
    if (!replayed.problems.empty()) {
        std::string message = "--history " + history_file + " cannot be replayed:";
        for (auto const& problem : replayed.problems) message += "\n  " + problem;
        throw usage_error(message);
    }
    return std::move(replayed.response);
}

}  // namespace

int run_evaluate(std::vector<std::string> const& args) {
    auto const vm = parse_arguments(args, evaluate_options(), "request");
    use_stderr_logger("warn");
    if (!vm.count("request"))
        throw usage_error("evaluate needs a REQUEST.json file (or - for stdin)");
    fhir::instant const now = vm.count("now")
                                  ? parse_now(vm["now"].as<std::string>())
                                  : std::chrono::time_point_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now());
    std::string body = read_file(vm["request"].as<std::string>());
    auto rule_set = load_rules(optional_text(vm, "rules"), std::cerr);
    if (!rule_set) return exit_failure;
    auto state = evaluation_state(vm, rule_set);

    bool const explain = vm["explain"].as<bool>();
    std::string const format = vm["format"].as<std::string>();
    if (format != "json" && format != "text") throw usage_error("--format must be json or text");
    if (format == "text" && !explain) throw usage_error("--format text goes with --explain");
    state.explain_enabled = explain;

    // Each request (a history's earlier ones too) goes to the service answering its own hook.
    auto const evaluate = [&](std::string request_body, fhir::instant at) {
        std::string const service_id =
            vm.count("service")
                ? vm["service"].as<std::string>()
                : pick_service(*rule_set, request_body, state.limits.max_json_depth);
        http_request request;
        request.method = "POST";
        request.target = "/cds-services/" + service_id + (explain ? "?explain=true" : "");
        request.headers = {{"Content-Type", "application/json"}};
        request.body = std::move(request_body);
        request.received_at = at;
        auto response = answer(std::move(request), state);
        return workbench::evaluated_request{static_cast<int>(response.status),
                                            std::move(response.body)};
    };
    auto const response = vm.count("history") ? evaluate_after(vm["history"].as<std::string>(),
                                                               body, now, *rule_set, evaluate)
                                              : evaluate(std::move(body), now);
    if (response.status == 200 && format == "text") {
        print_explained(response.body, std::cout);
    } else if (!response.body.empty()) {
        std::cout << response.body << '\n';
    }
    std::cout.flush();
    return response.status == 200 ? exit_ok : exit_failure;
}

}  // namespace cds::service::cli
