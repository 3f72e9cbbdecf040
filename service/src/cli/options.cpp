#include "cds/service/cli/options.hpp"

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "cds/service/ops/duration.hpp"

namespace cds::service::cli {

namespace po = boost::program_options;

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

po::variables_map parse_arguments(std::vector<std::string> const& args,
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

fhir::instant parse_now(std::string const& text) {
    auto const parsed = fhir::parse_date_time(text);
    if (!parsed.value) throw usage_error("--now is not a FHIR dateTime: " + parsed.error);
    return parsed.value->start;
}

std::chrono::milliseconds duration_option(po::variables_map const& vm,
                                          char const* name,
                                          std::chrono::milliseconds low,
                                          std::chrono::milliseconds high) {
    try {
        return ops::bounded_duration(name, vm[name].as<ops::duration>(), low, high);
    } catch (std::invalid_argument const& e) {
        throw usage_error(e.what());
    }
}

std::optional<std::string> optional_text(po::variables_map const& vm, char const* name) {
    if (vm.count(name) == 0) return std::nullopt;
    return vm[name].as<std::string>();
}

std::shared_ptr<rules::rule_set const> load_rules(std::optional<std::string> const& file,
                                                  std::ostream& problems_out) {
    std::string const source = file ? *file : std::string{"bundled rule set"};
    auto loaded = file ? rules::load_rule_set(read_file(*file))
                       : rules::load_rule_set(rules::bundled_rule_set_json());
    if (loaded.problems.empty() && loaded.rules) return loaded.rules;
    problems_out << source << ": invalid rule configuration (" << loaded.problems.size()
                 << " problem" << (loaded.problems.size() == 1 ? "" : "s") << ")\n";
    for (auto const& p : loaded.problems) {
        problems_out << "  " << (p.path.empty() ? std::string{"/"} : p.path) << ": " << p.message
                     << '\n';
    }
    return nullptr;
}

}  // namespace cds::service::cli
