// `magnesium-cds scenarios DIR [--rules FILE]`: every scenario folder of DIR
// (fixtures/scenarios/README.md) evaluated in-process under one rule file, one line each.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

#include <spdlog/spdlog.h>
#include <boost/program_options.hpp>

#include "cds/service/workbench/scenario_history.hpp"
#include "cds/service/workbench/workbench.hpp"

namespace cds::service::workbench {

namespace {

namespace fs = std::filesystem;
namespace po = boost::program_options;

struct scenario_files {
    std::string name;
    fs::path folder;
};

std::optional<boost::json::value> read_json(fs::path const& path, std::string& error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = path.string() + ": cannot be read";
        return std::nullopt;
    }
    std::string const body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (ec) {
        error = path.string() + ": not JSON (" + ec.message() + ")";
        return std::nullopt;
    }
    return v;
}

std::vector<scenario_files> scenario_folders(fs::path const& root) {
    std::vector<scenario_files> out;
    for (auto const& entry : fs::directory_iterator(root)) {
        if (entry.is_directory() && fs::exists(entry.path() / "expected.json")) {
            out.push_back({entry.path().filename().string(), entry.path()});
        }
    }
    std::sort(out.begin(), out.end(), [](auto const& a, auto const& b) { return a.name < b.name; });
    return out;
}

// The rule file a scenario runs under: the file under test, or its own `rules` file, with the
// scenario's `rules_patch` edits; evaluators are shared between scenarios with the same rules.
class rules_cache {
public:
    explicit rules_cache(rules_under_test base) : base_(std::move(base)), base_evaluator_(base_) {}

    std::pair<rules_under_test const*, evaluator const*> for_scenario(
        boost::json::value const& expected, fs::path const& folder, std::string& error) {
        auto const* own =
            expected.is_object() ? expected.get_object().if_contains("rules") : nullptr;
        auto const* patch =
            expected.is_object() ? expected.get_object().if_contains("rules_patch") : nullptr;
        if (own == nullptr && patch == nullptr) return {&base_, &base_evaluator_};
        std::string const key = folder.string();
        auto it = cache_.find(key);
        if (it == cache_.end()) {
            auto loaded = load(own, patch, folder, error);
            if (!loaded) return {nullptr, nullptr};
            auto owned = std::make_unique<entry>(std::move(*loaded));
            it = cache_.emplace(key, std::move(owned)).first;
        }
        return {&it->second->rules, &it->second->eval};
    }

    rules_under_test const& base() const { return base_; }

private:
    struct entry {
        explicit entry(rules_under_test r) : rules(std::move(r)), eval(rules) {}
        rules_under_test rules;
        evaluator eval;
    };

    std::optional<rules_under_test> load(boost::json::value const* own,
                                         boost::json::value const* patch,
                                         fs::path const& folder,
                                         std::string& error) const {
        std::optional<rules_under_test> start;
        if (own != nullptr) {
            std::ostringstream problems;
            start =
                load_rules_under_test((folder / std::string{own->as_string()}).string(), problems);
            if (!start) {
                error = problems.str();
                return std::nullopt;
            }
        }
        if (patch == nullptr || !patch->is_array()) return start;
        auto patched = patch_rules(start ? *start : base_, patch->get_array());
        error = patched.error;
        return std::move(patched.rules);
    }

    rules_under_test base_;
    evaluator base_evaluator_;
    std::map<std::string, std::unique_ptr<entry>> cache_;
};

// The scenario's request evaluated after the earlier feedback of its history.json
// (scenario_history.hpp); the history's problems instead when it cannot be read or replayed.
struct evaluation_after_history {
    evaluation result;
    std::vector<std::string> problems;
};
evaluation_after_history evaluate_after(fs::path const& history_file,
                                        boost::json::value const& request,
                                        fhir::instant now,
                                        rules_under_test const& rules,
                                        evaluator const& eval) {
    auto const read = read_history(history_file);
    if (!read.history) {
        evaluation_after_history out;
        for (auto const& p : read.problems) out.problems.push_back("fixture error: " + p);
        return out;
    }
    auto replayed =
        evaluate_after_history(*read.history, boost::json::serialize(request), now, *rules.rules,
                               [&eval](std::string body, fhir::instant at) {
                                   auto e = eval.evaluate(std::move(body), at);
                                   return evaluated_request{e.status, std::move(e.body)};
                               });
    evaluation_after_history out{{replayed.response.status, std::move(replayed.response.body), {}},
                                 {}};
    for (auto const& p : replayed.problems) out.problems.push_back("history: " + p);
    boost::system::error_code ec;
    auto parsed = boost::json::parse(out.result.body, ec);
    if (!ec) out.result.response = std::move(parsed);
    return out;
}

std::vector<std::string> run_one(scenario_files const& s, rules_cache& cache) {
    std::string error;
    auto expected = read_json(s.folder / "expected.json", error);
    auto request = expected ? read_json(s.folder / "request.json", error) : std::nullopt;
    if (!expected || !request) return {error};
    auto const* now_text =
        expected->is_object() ? expected->get_object().if_contains("now") : nullptr;
    auto const now = fhir::parse_date_time(
        now_text != nullptr && now_text->is_string() ? now_text->get_string() : "");
    if (!now.value)
        return {"fixture error: expected.now: required, a FHIR dateTime with time zone"};
    auto const [rules, eval] = cache.for_scenario(*expected, s.folder, error);
    if (rules == nullptr) return {"rule file: " + error};
    auto const history_file = s.folder / "history.json";
    if (!fs::exists(history_file)) {
        auto const result = eval->evaluate(boost::json::serialize(*request), now.value->start);
        return check_scenario(*expected, *request, result, *rules);
    }
    auto const after = evaluate_after(history_file, *request, now.value->start, *rules, *eval);
    if (!after.problems.empty()) return after.problems;
    return check_scenario(*expected, *request, after.result, *rules);
}

po::options_description scenarios_options() {
    po::options_description d("scenarios options");
    d.add_options()("dir", po::value<std::string>(),
                    "the scenario folder (fixtures/scenarios format)")(
        "rules", po::value<std::string>(), "rule file under test (default: the bundled rule set)")(
        "only", po::value<std::string>()->default_value(""),
        "run only the scenarios whose name contains this");
    return d;
}

}  // namespace

std::string scenarios_help() {
    std::ostringstream out;
    out << scenarios_options();
    return out.str();
}

int run_scenarios_command(std::vector<std::string> const& args, std::ostream& out) {
    po::positional_options_description positional;
    positional.add("dir", 1);
    po::variables_map vm;
    try {
        po::store(
            po::command_line_parser(args).options(scenarios_options()).positional(positional).run(),
            vm);
        po::notify(vm);
    } catch (po::error const& e) {
        throw usage_error(e.what());
    }
    if (!vm.count("dir")) throw usage_error("scenarios needs a DIR of scenario folders");
    fs::path const root = vm["dir"].as<std::string>();
    if (!fs::is_directory(root)) throw usage_error(root.string() + " is not a directory");
    spdlog::set_level(spdlog::level::warn);
    auto base = load_rules_under_test(
        vm.count("rules") ? vm["rules"].as<std::string>() : std::string{}, out);
    if (!base) return 1;
    out << "rule set " << base->rules->id() << " version " << base->rules->version() << " ("
        << base->source << ")\n";
    rules_cache cache(std::move(*base));
    std::size_t passed = 0;
    std::size_t failed = 0;
    auto const only = vm["only"].as<std::string>();
    for (auto const& s : scenario_folders(root)) {
        if (s.name.find(only) == std::string::npos) continue;
        auto const problems = run_one(s, cache);
        out << (problems.empty() ? "PASS " : "FAIL ") << s.name << '\n';
        for (auto const& p : problems) out << "     - " << p.substr(0, 1500) << '\n';
        (problems.empty() ? passed : failed) += 1;
    }
    if (passed + failed == 0) {
        out << "FAIL no scenario found under " << root.string() << '\n';
        failed = 1;
    }
    out << passed << " passed, " << failed << " failed\n";
    return failed == 0 ? 0 : 1;
}

}  // namespace cds::service::workbench
