#include "loader/registry_check.hpp"

#include <algorithm>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "registry.hpp"

namespace cds::rules {

namespace {

namespace bj = boost::json;
using problem_list = std::vector<rule_set_problem>;

// A member name as a JSON Pointer token (RFC 6901 §3: "~" and "/" escaped).
std::string pointer_token(std::string_view name) {
    std::string out;
    for (char const c : name) {
        if (c == '~') {
            out += "~0";
        } else if (c == '/') {
            out += "~1";
        } else {
            out += c;
        }
    }
    return out;
}

// "{mg}, {severity}", or "none".
std::string placeholder_list(std::string_view words) {
    std::string out;
    for_each_word(words, [&](std::string_view w) {
        if (!out.empty()) out += ", ";
        out.append("{").append(w).append("}");
    });
    return out.empty() ? std::string("none") : out;
}

// The placeholders of a template that are not among `allowed`, as written ("{x}"); an
// unclosed brace counts with the rest of the text.
std::vector<std::string> unknown_placeholders(std::string_view tpl, std::string_view allowed) {
    std::vector<std::string> unknown;
    for (std::size_t open = tpl.find('{'); open != std::string_view::npos;
         open = tpl.find('{', open + 1)) {
        std::size_t const close = tpl.find('}', open);
        if (close == std::string_view::npos) {
            unknown.emplace_back(std::string(tpl.substr(open)) + " (no closing brace)");
            break;
        }
        std::string_view const name = tpl.substr(open + 1, close - open - 1);
        std::string written;
        written.append("{").append(name).append("}");
        if (!has_word(allowed, name) &&
            std::find(unknown.begin(), unknown.end(), written) == unknown.end()) {
            unknown.push_back(std::move(written));
        }
    }
    return unknown;
}

// `filler` says who fills the template: "the rule" for a summary, "the code" for a text.
void check_placeholders(std::string_view tpl,
                        std::string_view allowed,
                        std::string const& path,
                        char const* filler,
                        problem_list& problems) {
    auto const unknown = unknown_placeholders(tpl, allowed);
    if (unknown.empty()) return;
    std::string names;
    for (auto const& u : unknown) names.append(names.empty() ? "" : ", ").append(u);
    problems.push_back(
        {path, std::string(unknown.size() == 1 ? "unknown placeholder " : "unknown placeholders ") +
                   names + ": " + filler + " fills " + placeholder_list(allowed)});
}

void check_rules(bj::object const& configured, problem_list& problems) {
    for (auto const& r : registered_rules()) {
        if (configured.contains(r.id)) continue;
        problems.push_back({"/rules/" + pointer_token(r.id),
                            "rule '" + std::string(r.id) +
                                "' is not configured: every rule of this build needs an entry "
                                "(\"enabled\": false turns one off)"});
    }
    for (auto const& [id, value] : configured) {
        std::string const path = "/rules/" + pointer_token(id);
        auto const* r = find_registered_rule(id);
        if (!r) {
            problems.push_back({path, "unknown rule '" + std::string(id) +
                                          "': this build has no rule with that id"});
            continue;
        }
        auto const* summary =
            value.is_object() ? value.get_object().if_contains("summary") : nullptr;
        if (summary && summary->is_string()) {
            check_placeholders(summary->get_string(), r->summary_placeholders, path + "/summary",
                               "the rule", problems);
        }
    }
}

struct configured_text {
    std::string key;  // "actions.iv" for the member "iv" of the group "actions"
    std::string path;
    bj::value const* value;
};

std::vector<configured_text> flatten_texts(bj::object const& texts) {
    std::vector<configured_text> out;
    for (auto const& [key, value] : texts) {
        std::string const path = "/texts/" + pointer_token(key);
        if (!value.is_object()) {
            out.push_back({std::string(key), path, &value});
            continue;
        }
        for (auto const& [member, member_value] : value.get_object()) {
            out.push_back({std::string(key) + "." + std::string(member),
                           path + "/" + pointer_token(member), &member_value});
        }
    }
    return out;
}

// "/texts/actions/iv" for "actions.iv".
std::string text_path(std::string_view key) {
    std::string path = "/texts/" + pointer_token(key);
    std::replace(path.begin(), path.end(), '.', '/');
    return path;
}

// The rules that read a text, for the message about a missing one.
std::string readers_of(std::string_view key) {
    std::string rules;
    for (auto const& r : registered_rules()) {
        if (has_word(r.texts, key)) rules.append(rules.empty() ? "" : ", ").append(r.id);
    }
    return rules.empty() ? std::string("the card builders") : "rule " + rules;
}

void check_texts(bj::object const& texts, problem_list& problems) {
    auto const configured = flatten_texts(texts);
    for (auto const& t : registered_texts()) {
        bool const present = std::any_of(configured.begin(), configured.end(),
                                         [&](auto const& c) { return c.key == t.key; });
        if (!present)
            problems.push_back({text_path(t.key), "missing text '" + std::string(t.key) +
                                                      "', read by " + readers_of(t.key)});
    }
    for (auto const& c : configured) {
        auto const* t = find_registered_text(c.key);
        if (!t) {
            problems.push_back(
                {c.path,
                 "text '" + c.key + "' is read by no rule and no card builder (a misspelt key?)"});
            continue;
        }
        if (c.value->is_string())
            check_placeholders(c.value->get_string(), t->placeholders, c.path, "the code",
                               problems);
    }
}

}  // namespace

void check_against_registry(bj::object const& root, problem_list& problems) {
    if (auto const* rules = root.if_contains("rules"); rules && rules->is_object())
        check_rules(rules->get_object(), problems);
    if (auto const* texts = root.if_contains("texts"); texts && texts->is_object())
        check_texts(texts->get_object(), problems);
}

}  // namespace cds::rules
