// `magnesium-cds impact --rules OLD --rules NEW DIR`: the cards each request of DIR gets under
// two rule files, and what changed (a card added or removed, its indicator or
// suggestions; a reworded summary alone is not a change), for review before a rule change
// goes live.

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>

#include <spdlog/spdlog.h>
#include <boost/program_options.hpp>

#include "cds/service/workbench/workbench.hpp"

namespace cds::service::workbench {

namespace {

namespace fs = std::filesystem;
namespace po = boost::program_options;
namespace bj = boost::json;

struct impact_case {
    std::string name;
    std::string body;
    fhir::instant now{};
};

struct card_view {
    std::string rule;  // source.topic.code: the rule that issued the card
    std::string indicator;
    std::string summary;
    std::vector<std::string> suggestions;  // labels
};

struct card_change {
    std::string kind;  // added, removed, changed
    std::string rule;
    std::string before;
    std::string after;
};

struct case_impact {
    std::string name;
    int status_before = 0;
    int status_after = 0;
    std::vector<card_change> changes;
};

std::string read_text(fs::path const& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string member(bj::value const* v, std::string_view key) {
    auto const* f = v != nullptr && v->is_object() ? v->get_object().if_contains(key) : nullptr;
    return f != nullptr && f->is_string() ? std::string{f->get_string()} : std::string{};
}

// The scenario's own `now` when the case is a scenario folder; else the --now time.
std::vector<impact_case> load_cases(fs::path const& root, fhir::instant default_now) {
    std::vector<impact_case> out;
    for (auto const& entry : fs::directory_iterator(root)) {
        auto const& p = entry.path();
        if (entry.is_directory() && fs::exists(p / "request.json")) {
            impact_case c{p.filename().string(), read_text(p / "request.json"), default_now};
            boost::system::error_code ec;
            auto const expected = fs::exists(p / "expected.json")
                                      ? bj::parse(read_text(p / "expected.json"), ec)
                                      : bj::value{};
            if (auto const parsed = fhir::parse_date_time(member(&expected, "now")); parsed.value)
                c.now = parsed.value->start;
            out.push_back(std::move(c));
        } else if (entry.is_regular_file() && p.extension() == ".json") {
            out.push_back({p.stem().string(), read_text(p), default_now});
        }
    }
    std::sort(out.begin(), out.end(), [](auto const& a, auto const& b) { return a.name < b.name; });
    return out;
}

std::vector<card_view> cards_of(evaluation const& e) {
    std::vector<card_view> out;
    auto const* cards =
        e.response.is_object() ? e.response.get_object().if_contains("cards") : nullptr;
    if (cards == nullptr || !cards->is_array()) return out;
    for (auto const& c : cards->get_array()) {
        card_view v;
        auto const* source = c.is_object() ? c.get_object().if_contains("source") : nullptr;
        v.rule = member(source != nullptr && source->is_object()
                            ? source->get_object().if_contains("topic")
                            : nullptr,
                        "code");
        v.indicator = member(&c, "indicator");
        v.summary = member(&c, "summary");
        auto const* suggestions =
            c.is_object() ? c.get_object().if_contains("suggestions") : nullptr;
        if (suggestions != nullptr && suggestions->is_array()) {
            for (auto const& s : suggestions->get_array())
                v.suggestions.push_back(member(&s, "label"));
        }
        out.push_back(std::move(v));
    }
    return out;
}

std::string describe(card_view const& c) {
    std::string s = c.indicator + ": " + c.summary;
    if (!c.suggestions.empty()) {
        s += " [suggests: ";
        for (std::size_t i = 0; i < c.suggestions.size(); ++i)
            s += (i ? "; " : "") + c.suggestions[i];
        s += "]";
    }
    return s;
}

// Cards are paired by the rule that issued them (in order, when a rule issues several).
std::vector<card_change> compare(std::vector<card_view> before, std::vector<card_view> after) {
    std::vector<card_change> out;
    for (auto const& b : before) {
        auto it = std::find_if(after.begin(), after.end(),
                               [&](card_view const& a) { return a.rule == b.rule; });
        if (it == after.end()) {
            out.push_back({"removed", b.rule, describe(b), ""});
            continue;
        }
        if (it->indicator != b.indicator || it->suggestions != b.suggestions) {
            out.push_back({"changed", b.rule, describe(b), describe(*it)});
        }
        after.erase(it);
    }
    for (auto const& a : after) out.push_back({"added", a.rule, "", describe(a)});
    return out;
}

std::map<std::string, int> counts(std::vector<case_impact> const& impacts) {
    std::map<std::string, int> n{
        {"added", 0}, {"removed", 0}, {"changed", 0}, {"requests changed", 0}};
    for (auto const& i : impacts) {
        for (auto const& c : i.changes) n[c.kind] += 1;
        if (!i.changes.empty() || i.status_before != i.status_after) n["requests changed"] += 1;
    }
    return n;
}

void print_text(std::vector<case_impact> const& impacts,
                std::string const& old_name,
                std::string const& new_name,
                std::ostream& out) {
    out << "impact of " << new_name << " against " << old_name << "\n";
    for (auto const& i : impacts) {
        if (i.changes.empty() && i.status_before == i.status_after) continue;
        out << "\n"
            << i.name
            << (i.status_before != i.status_after
                    ? " (status " + std::to_string(i.status_before) + " -> " +
                          std::to_string(i.status_after) + ")"
                    : "")
            << "\n";
        for (auto const& c : i.changes) {
            out << "  " << c.kind << " " << c.rule << "\n";
            if (!c.before.empty()) out << "    before: " << c.before << "\n";
            if (!c.after.empty()) out << "    after:  " << c.after << "\n";
        }
    }
    auto const n = counts(impacts);
    out << "\nrequests   changed  cards added  removed  changed\n"
        << impacts.size() << "  " << n.at("requests changed") << "  " << n.at("added") << "  "
        << n.at("removed") << "  " << n.at("changed") << "\n";
}

void print_markdown(std::vector<case_impact> const& impacts,
                    std::string const& old_name,
                    std::string const& new_name,
                    std::ostream& out) {
    out << "## Impact of `" << new_name << "` against `" << old_name << "`\n\n"
        << "| request | change | rule | before | after |\n|---|---|---|---|---|\n";
    for (auto const& i : impacts) {
        for (auto const& c : i.changes) {
            out << "| " << i.name << " | " << c.kind << " | " << c.rule << " | " << c.before
                << " | " << c.after << " |\n";
        }
    }
    auto const n = counts(impacts);
    out << "\n| requests | requests changed | cards added | cards removed | cards changed "
           "|\n|---|---|---|---|---|\n"
        << "| " << impacts.size() << " | " << n.at("requests changed") << " | " << n.at("added")
        << " | " << n.at("removed") << " | " << n.at("changed") << " |\n";
}

void print_json(std::vector<case_impact> const& impacts,
                std::string const& old_name,
                std::string const& new_name,
                std::ostream& out) {
    bj::array requests;
    for (auto const& i : impacts) {
        bj::array changes;
        for (auto const& c : i.changes)
            changes.push_back(
                {{"kind", c.kind}, {"rule", c.rule}, {"before", c.before}, {"after", c.after}});
        requests.push_back({{"name", i.name},
                            {"statusBefore", i.status_before},
                            {"statusAfter", i.status_after},
                            {"changes", std::move(changes)}});
    }
    auto const n = counts(impacts);
    bj::object summary{{"requests", impacts.size()},
                       {"requestsChanged", n.at("requests changed")},
                       {"cardsAdded", n.at("added")},
                       {"cardsRemoved", n.at("removed")},
                       {"cardsChanged", n.at("changed")}};
    out << bj::serialize(bj::object{{"old", old_name},
                                    {"new", new_name},
                                    {"requests", std::move(requests)},
                                    {"summary", std::move(summary)}})
        << '\n';
}

po::options_description impact_options() {
    po::options_description d("impact options");
    d.add_options()("dir", po::value<std::string>(),
                    "a folder of request .json files or of scenario folders")(
        "rules", po::value<std::vector<std::string>>()->composing(),
        "OLD then NEW rule file (given twice)")(
        "now", po::value<std::string>(),
        "evaluation time for plain requests (scenarios use their own; default: the clock)")(
        "format", po::value<std::string>()->default_value("text"), "text, json or markdown");
    return d;
}

}  // namespace

std::string impact_help() {
    std::ostringstream out;
    out << impact_options();
    return out.str();
}

int run_impact_command(std::vector<std::string> const& args, std::ostream& out) {
    po::positional_options_description positional;
    positional.add("dir", 1);
    po::variables_map vm;
    try {
        po::store(
            po::command_line_parser(args).options(impact_options()).positional(positional).run(),
            vm);
        po::notify(vm);
    } catch (po::error const& e) {
        throw usage_error(e.what());
    }
    auto const files =
        vm.count("rules") ? vm["rules"].as<std::vector<std::string>>() : std::vector<std::string>{};
    if (files.size() != 2) throw usage_error("impact needs --rules OLD --rules NEW");
    if (!vm.count("dir") || !fs::is_directory(vm["dir"].as<std::string>()))
        throw usage_error("impact needs a DIR of requests");
    auto const format = vm["format"].as<std::string>();
    if (format != "text" && format != "json" && format != "markdown")
        throw usage_error("--format must be text, json or markdown");
    fhir::instant now =
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    if (vm.count("now")) {
        auto const parsed = fhir::parse_date_time(vm["now"].as<std::string>());
        if (!parsed.value) throw usage_error("--now is not a FHIR dateTime: " + parsed.error);
        now = parsed.value->start;
    }
    spdlog::set_level(spdlog::level::warn);
    auto const old_rules = load_rules_under_test(files[0], std::cerr);
    auto const new_rules = load_rules_under_test(files[1], std::cerr);
    if (!old_rules || !new_rules) return 1;
    evaluator const before(*old_rules);
    evaluator const after(*new_rules);
    std::vector<case_impact> impacts;
    for (auto const& c : load_cases(vm["dir"].as<std::string>(), now)) {
        auto const b = before.evaluate(c.body, c.now);
        auto const a = after.evaluate(c.body, c.now);
        impacts.push_back({c.name, b.status, a.status, compare(cards_of(b), cards_of(a))});
    }
    if (format == "json") print_json(impacts, files[0], files[1], out);
    if (format == "markdown") print_markdown(impacts, files[0], files[1], out);
    if (format == "text") print_text(impacts, files[0], files[1], out);
    return 0;
}

}  // namespace cds::service::workbench
