#include <iostream>

#include "cds/service/cli/commands.hpp"
#include "cds/service/cli/options.hpp"

namespace cds::service::cli {

namespace po = boost::program_options;

po::options_description check_rules_options() {
    po::options_description d("check-rules options");
    d.add_options()("file", po::value<std::string>(), "the rule configuration file to check");
    return d;
}

int run_check_rules(std::vector<std::string> const& args) {
    auto const vm = parse_arguments(args, check_rules_options(), "file");
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

}  // namespace cds::service::cli
