// magnesium-cds: picks the command (service/src/cli/) and reports start-up errors. Each
// command parses its own options, loads the rules and runs the same request path.

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "cds/service/cli/commands.hpp"
#include "cds/service/cli/options.hpp"

#ifndef CDS_VERSION
#define CDS_VERSION "unknown"
#endif

namespace cli = cds::service::cli;

namespace {

int run_command(std::string const& command, std::vector<std::string> const& args) {
    if (command == "serve") return cli::run_serve(args);
    if (command == "evaluate") return cli::run_evaluate(args);
    if (command == "check-rules") return cli::run_check_rules(args);
    if (command == "feedback-report") return cli::run_feedback_report(args);
    if (command == "scenarios") return cli::run_scenarios(args);
    if (command == "impact") return cli::run_impact(args);
    throw cli::usage_error("unknown command '" + command + "'");
}

int run(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) {
        cli::print_help(std::cerr, CDS_VERSION);
        return cli::exit_usage;
    }
    std::string const command = args.front();
    args.erase(args.begin());
    if (command == "--version") {
        std::cout << "magnesium-cds " CDS_VERSION "\n";
        return cli::exit_ok;
    }
    bool const wants_help = command == "--help" || command == "-h" || command == "help" ||
                            std::find(args.begin(), args.end(), "--help") != args.end();
    if (wants_help) {
        cli::print_help(std::cout, CDS_VERSION);
        return cli::exit_ok;
    }
    return run_command(command, args);
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (cli::usage_error const& e) {
        cli::cerr_after_log() << "magnesium-cds: " << e.what() << "\n(see magnesium-cds --help)\n";
        return cli::exit_usage;
    } catch (cli::start_refused const& e) {
        cli::cerr_after_log() << "magnesium-cds: refusing to start: " << e.what() << '\n';
        return cli::exit_failure;
    } catch (std::exception const& e) {
        cli::cerr_after_log() << "magnesium-cds: " << e.what() << '\n';
        return cli::exit_usage;
    }
}
