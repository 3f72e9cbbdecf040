#pragma once
// The magnesium-cds commands. Each takes the arguments after its name and returns the exit
// code; command-line mistakes throw usage_error and refused start-ups start_refused
// (cli/options.hpp), which the executable reports.

#include <ostream>
#include <string>
#include <vector>

#include <boost/program_options/options_description.hpp>

namespace cds::service::cli {

// serve: answer CDS Hooks over HTTP until SIGTERM/SIGINT.
[[nodiscard]] int run_serve(std::vector<std::string> const& args);
// evaluate: print the response the service would give to one request file.
[[nodiscard]] int run_evaluate(std::vector<std::string> const& args);
// check-rules: validate a rule configuration file.
[[nodiscard]] int run_check_rules(std::vector<std::string> const& args);
// feedback-report: the stored feedback, counted.
[[nodiscard]] int run_feedback_report(std::vector<std::string> const& args);
// scenarios and impact: the informatics workbench (workbench.hpp).
[[nodiscard]] int run_scenarios(std::vector<std::string> const& args);
[[nodiscard]] int run_impact(std::vector<std::string> const& args);

// Each command's options, as --help prints them.
[[nodiscard]] boost::program_options::options_description serve_options();
[[nodiscard]] boost::program_options::options_description evaluate_options();
[[nodiscard]] boost::program_options::options_description check_rules_options();
[[nodiscard]] boost::program_options::options_description feedback_report_options();

// The usage of every command and each one's options.
void print_help(std::ostream& out, char const* version);

}  // namespace cds::service::cli
