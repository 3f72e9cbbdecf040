#include <iostream>

#include "cds/service/cli/commands.hpp"
#include "cds/service/cli/options.hpp"
#include "cds/service/workbench/workbench.hpp"

namespace cds::service::cli {

namespace {

// The workbench reports its command-line mistakes as its own usage_error; here they become
// the executable's (hint to --help, exit 2).
template <class Command>
int translating_usage_errors(Command const& command) {
    try {
        return command();
    } catch (workbench::usage_error const& e) {
        throw usage_error(e.what());
    }
}

}  // namespace

int run_scenarios(std::vector<std::string> const& args) {
    return translating_usage_errors(
        [&] { return workbench::run_scenarios_command(args, std::cout); });
}

int run_impact(std::vector<std::string> const& args) {
    return translating_usage_errors([&] { return workbench::run_impact_command(args, std::cout); });
}

}  // namespace cds::service::cli
