#include "cds/service/ops/serve_config.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstddef>
#include <sstream>

#include <boost/any.hpp>
#include <boost/json.hpp>

#include "cds/service/ops/duration.hpp"

namespace cds::service::ops {

namespace po = boost::program_options;

namespace {

std::vector<std::string> split_at_whitespace(std::string const& text) {
    std::istringstream in(text);
    std::vector<std::string> words;
    for (std::string word; in >> word;) words.push_back(word);
    return words;
}

bool is_repeatable(po::options_description const& description, std::string const& name) {
    auto const* option = description.find_nothrow(name, false);
    return option != nullptr && option->semantic()->is_composing();
}

// The default of an option as text, for the value types serve's options use.
std::vector<std::string> default_as_text(boost::any const& value) {
    if (auto const* s = boost::any_cast<std::string>(&value)) return {*s};
    if (auto const* b = boost::any_cast<bool>(&value)) return {*b ? "true" : "false"};
    if (auto const* u = boost::any_cast<unsigned>(&value)) return {std::to_string(*u)};
    if (auto const* i = boost::any_cast<int>(&value)) return {std::to_string(*i)};
    if (auto const* l = boost::any_cast<long>(&value)) return {std::to_string(*l)};
    if (auto const* z = boost::any_cast<std::size_t>(&value)) return {std::to_string(*z)};
    if (auto const* d = boost::any_cast<double>(&value)) {
        std::ostringstream text;
        text << *d;
        return {text.str()};
    }
    if (auto const* v = boost::any_cast<std::vector<std::string>>(&value)) return *v;
    if (auto const* t = boost::any_cast<duration>(&value)) return {format_duration(t->value)};
    return {"?"};
}

bool names_a_secret(std::string_view option) {
    static constexpr std::array<std::string_view, 5> words{"key", "token", "secret", "password",
                                                           "credential"};
    return std::any_of(words.begin(), words.end(), [&](std::string_view word) {
        return option.find(word) != std::string_view::npos;
    });
}

// libpq's `password` URL parameter ("postgresql://host/db?password=pw").
std::string redact_password_parameter(std::string value) {
    constexpr std::string_view key = "password=";
    for (auto at = value.find(key); at != std::string::npos; at = value.find(key, at + 1)) {
        if (at == 0 || (value[at - 1] != '?' && value[at - 1] != '&')) continue;
        auto const start = at + key.size();
        auto const end = value.find('&', start);
        value.replace(start, (end == std::string::npos ? value.size() : end) - start, "(redacted)");
    }
    return value;
}

// "postgresql://user:pw@host/db" -> "postgresql://user:(redacted)@host/db" (RFC 3986 section
// 3.2.1: the password in the user information is deprecated but still used by libpq URLs).
std::string redact_url_password(std::string_view value) {
    auto const scheme_end = value.find("://");
    if (scheme_end == std::string_view::npos) return std::string{value};
    if (value.find('?') != std::string_view::npos) {
        auto const without_parameter = redact_password_parameter(std::string{value});
        if (without_parameter != value) return redact_url_password(without_parameter);
    }
    auto const authority_start = scheme_end + 3;
    auto const authority_end = value.find_first_of("/?#", authority_start);
    auto const authority = value.substr(authority_start, authority_end - authority_start);
    auto const at = authority.rfind('@');
    if (at == std::string_view::npos) return std::string{value};
    auto const colon = authority.find(':');
    if (colon == std::string_view::npos || colon > at) return std::string{value};
    return std::string{value.substr(0, authority_start + colon + 1)} + "(redacted)" +
           std::string{value.substr(authority_start + at)};
}

}  // namespace

std::string environment_name(std::string_view option) {
    std::string name{environment_prefix};
    for (char c : option) {
        name.push_back(c == '-' ? '_'
                                : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    }
    return name;
}

effective_config parse_command_line_and_environment(
    std::vector<std::string> const& args,
    po::options_description const& description,
    std::set<std::string> const& not_from_environment) {
    effective_config config;
    auto const from_command_line = po::command_line_parser(args).options(description).run();
    po::store(from_command_line, config.values);
    for (auto const& option : from_command_line.options) {
        config.sources[option.string_key] = config_source::command_line;
        auto& given = config.given[option.string_key];
        given.insert(given.end(), option.value.begin(), option.value.end());
    }

    std::map<std::string, std::string> option_by_variable;
    for (auto const& option : description.options()) {
        auto const& name = option->long_name();
        if (!not_from_environment.contains(name)) option_by_variable[environment_name(name)] = name;
    }
    auto from_environment = po::parse_environment(description, [&](std::string const& variable) {
        auto const found = option_by_variable.find(variable);
        return found == option_by_variable.end() ? std::string{} : found->second;
    });
    // The command line wins: an option it gave is not taken (nor, when repeatable, added to)
    // from the environment.
    std::erase_if(from_environment.options, [&](po::option const& option) {
        return config.sources.contains(option.string_key);
    });
    for (auto& option : from_environment.options) {
        if (is_repeatable(description, option.string_key) && option.value.size() == 1) {
            option.value = split_at_whitespace(option.value.front());
        }
        config.sources[option.string_key] = config_source::environment;
        config.given[option.string_key] = option.value;
    }
    po::store(from_environment, config.values);
    po::notify(config.values);

    for (auto const& [name, value] : config.values) {
        if (!config.sources.contains(name) && value.defaulted()) {
            config.sources[name] = config_source::default_value;
            config.given[name] = default_as_text(value.value());
        }
    }
    return config;
}

std::string redact(std::string_view option,
                   std::string_view value,
                   std::set<std::string> const& paths) {
    if (names_a_secret(option) && !paths.contains(std::string{option})) return "(redacted)";
    return redact_url_password(value);
}

std::string describe_config(po::options_description const& description,
                            effective_config const& config,
                            std::set<std::string> const& paths,
                            std::set<std::string> const& not_from_environment) {
    boost::json::object described;
    for (auto const& option : description.options()) {
        auto const& name = option->long_name();
        if (not_from_environment.contains(name)) continue;
        boost::json::object entry;
        auto const source = config.sources.find(name);
        auto const from = source == config.sources.end() ? config_source::unset : source->second;
        static constexpr std::array<char const*, 4> source_names{"unset", "default", "env", "flag"};
        auto const given = config.given.find(name);
        if (given == config.given.end()) {
            entry["value"] = nullptr;
        } else if (is_repeatable(description, name)) {
            boost::json::array values;
            for (auto const& value : given->second) values.emplace_back(redact(name, value, paths));
            entry["value"] = std::move(values);
        } else {
            entry["value"] = given->second.empty() ? std::string{"true"}
                                                   : redact(name, given->second.back(), paths);
        }
        entry["source"] = source_names[static_cast<std::size_t>(from)];
        entry["environment"] = environment_name(name);
        described[name] = std::move(entry);
    }
    return boost::json::serialize(described);
}

}  // namespace cds::service::ops
