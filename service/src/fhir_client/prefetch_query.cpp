#include "cds/service/fhir_client/prefetch_query.hpp"

#include <algorithm>
#include <array>

#include <boost/json/value.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/grammar/lut_chars.hpp>
#include <boost/url/pct_string_view.hpp>
#include <boost/url/rfc/pchars.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

namespace cds::service::fhir_client {

namespace {

namespace urls = boost::urls;

// Text or the reason there is none. Both sides are strings, so results are built explicitly.
using text_result = boost::system::result<std::string, std::string>;

text_result ok(std::string text) {
    return text_result(boost::system::in_place_value, std::move(text));
}

text_result fail(std::string reason) {
    return text_result(boost::system::in_place_error, std::move(reason));
}

// Where a token's value lands decides what it may contain: a path only takes ids and
// references, a query value takes any text (FHIR-escaped, then percent-encoded).
enum class placement { path, query };

constexpr auto query_value_chars = urls::unreserved_chars + ',';
constexpr auto query_name_chars = urls::unreserved_chars + ':';

bool is_id_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
}

// FHIR R4 id: [A-Za-z0-9\-\.]{1,64}
bool is_fhir_id(std::string_view s) {
    return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), is_id_char) &&
           s != "." && s != "..";
}

bool is_resource_type_name(std::string_view s) {
    if (s.empty() || s.size() > 64 || s.front() < 'A' || s.front() > 'Z') return false;
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); });
}

// "abc" or "Patient/abc": what a prefetch token may put into a query path.
bool is_id_or_reference(std::string_view s) {
    auto const slash = s.find('/');
    if (slash == std::string_view::npos) return is_fhir_id(s);
    return is_resource_type_name(s.substr(0, slash)) && is_fhir_id(s.substr(slash + 1));
}

bool has_control_char(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) {
        auto const u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7f;
    });
}

// FHIR search escaping (R4 3.1.1.5.7 "Escaping Search Parameters"): in a substituted value
// these characters are data, not separators.
std::string fhir_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        if (c == '\\' || c == ',' || c == '$' || c == '|') out.push_back('\\');
        out.push_back(c);
    }
    return out;
}

struct user_token {
    std::string_view name;
    std::string_view resource_type;
    std::optional<std::string> token_source::*explicit_value;
};

constexpr std::array<user_token, 4> user_tokens{{
    {"userPractitionerId", "Practitioner", &token_source::user_practitioner_id},
    {"userPractitionerRoleId", "PractitionerRole", &token_source::user_practitioner_role_id},
    {"userPatientId", "Patient", &token_source::user_patient_id},
    {"userRelatedPersonId", "RelatedPerson", &token_source::user_related_person_id},
}};

std::string token_text(std::string_view name) { return "{{" + std::string(name) + "}}"; }

text_result resolve_context_token(std::string_view field, token_source const& tokens) {
    auto const token = token_text("context." + std::string(field));
    if (field.empty() || field.find('.') != std::string_view::npos) {
        // CDS Hooks 2.0: only root-level context fields can be tokens.
        return fail("prefetch token " + token + " is not a root-level context field");
    }
    if (tokens.context == nullptr)
        return fail("prefetch token " + token + ": the request has no context");
    auto const* value = tokens.context->if_contains(field);
    if (value == nullptr) {
        return fail("prefetch token " + token + " cannot be resolved: context." +
                    std::string(field) + " is absent");
    }
    switch (value->kind()) {
        case boost::json::kind::string: {
            auto const& s = value->get_string();
            if (s.empty()) {
                return fail("prefetch token " + token + " cannot be resolved: context." +
                            std::string(field) + " is empty");
            }
            return ok(std::string(s));
        }
        case boost::json::kind::int64:
            return ok(std::to_string(value->get_int64()));
        case boost::json::kind::uint64:
            return ok(std::to_string(value->get_uint64()));
        case boost::json::kind::bool_:
            return ok(value->get_bool() ? "true" : "false");
        default:
            return fail("prefetch token " + token + " cannot be resolved: context." +
                        std::string(field) + " is not a primitive value");
    }
}

text_result resolve_user_token(user_token const& user, token_source const& tokens) {
    if (auto const& given = tokens.*(user.explicit_value); given && !given->empty())
        return ok(*given);
    // The hooks define context.userId as "[ResourceType]/[id]".
    if (tokens.context != nullptr) {
        if (auto const* user_id = tokens.context->if_contains("userId");
            user_id != nullptr && user_id->is_string()) {
            std::string_view const reference = user_id->get_string();
            auto const slash = reference.find('/');
            if (slash != std::string_view::npos &&
                reference.substr(0, slash) == user.resource_type &&
                is_fhir_id(reference.substr(slash + 1))) {
                return ok(std::string(reference.substr(slash + 1)));
            }
        }
    }
    return fail("prefetch token " + token_text(user.name) +
                " cannot be resolved: the current user (context.userId) is not a " +
                std::string(user.resource_type));
}

text_result resolve_token(std::string_view name, token_source const& tokens) {
    constexpr std::string_view context_prefix = "context.";
    if (name.starts_with(context_prefix)) {
        return resolve_context_token(name.substr(context_prefix.size()), tokens);
    }
    for (auto const& user : user_tokens) {
        if (name == user.name) return resolve_user_token(user, tokens);
    }
    return fail("unknown prefetch token " + token_text(name));
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

text_result pct_decode(std::string_view raw, std::string_view what) {
    auto const pct = urls::make_pct_string_view(raw);
    if (!pct)
        return fail("the prefetch template has a malformed percent-encoding in " +
                    std::string(what));
    // '+' stays '+' (RFC 3986 query, not HTML form encoding): a FHIR dateTime offset
    // like +01:00 must keep its sign.
    return ok(pct->decode());
}

// Substitutes the tokens of one template part. Literal text is percent-decoded when
// `decode_literals` (query parts), token values are checked for `where` they land.
text_result substitute(std::string_view part,
                       token_source const& tokens,
                       placement where,
                       bool decode_literals) {
    std::string out;
    while (!part.empty()) {
        auto const open = part.find("{{");
        auto const literal = part.substr(0, open);
        if (decode_literals) {
            auto decoded = pct_decode(literal, "a query parameter");
            if (!decoded) return decoded;
            out += *decoded;
        } else {
            out += literal;
        }
        if (open == std::string_view::npos) break;
        auto const close = part.find("}}", open + 2);
        if (close == std::string_view::npos)
            return fail("the prefetch template has an unterminated {{ token");
        auto const name = trim(part.substr(open + 2, close - open - 2));
        auto value = resolve_token(name, tokens);
        if (!value) return value;
        if (where == placement::path) {
            if (!is_id_or_reference(*value)) {
                return fail("the value of prefetch token " + token_text(name) +
                            " is not a FHIR id or reference, so it cannot form a FHIR read");
            }
            out += *value;
        } else {
            if (has_control_char(*value)) {
                return fail("the value of prefetch token " + token_text(name) +
                            " contains control characters");
            }
            out += fhir_escape(*value);
        }
        part.remove_prefix(close + 2);
    }
    return ok(std::move(out));
}

}  // namespace

boost::system::result<fhir_query, std::string> resolve_prefetch_template(
    std::string_view template_text, token_source const& tokens) {
    auto text = trim(template_text);
    if (text.empty()) return std::string("the prefetch template is empty");
    if (text.find('#') != std::string_view::npos) {
        return std::string(
            "the prefetch template has a fragment ('#'), which a FHIR query cannot carry");
    }
    auto const question = text.find('?');
    auto raw_path = text.substr(0, question);
    if (raw_path.find("://") != std::string_view::npos || raw_path.starts_with("//")) {
        return std::string("the prefetch template is not relative to the FHIR server");
    }
    if (raw_path.starts_with('/')) raw_path.remove_prefix(1);
    if (has_control_char(text))
        return std::string("the prefetch template contains control characters");

    fhir_query query;
    auto path = substitute(raw_path, tokens, placement::path, false);
    if (!path) return path.error();
    std::string_view rest = *path;
    while (true) {
        auto const slash = rest.find('/');
        auto segment = pct_decode(rest.substr(0, slash), "the path");
        if (!segment) return segment.error();
        if (segment->empty() || *segment == "." || *segment == "..") {
            return std::string("the prefetch template's path has an empty or relative segment");
        }
        query.path.push_back(std::move(*segment));
        if (slash == std::string_view::npos) break;
        rest.remove_prefix(slash + 1);
    }
    if (!is_resource_type_name(query.path.front())) {
        return std::string("the prefetch template does not start with a FHIR resource type");
    }

    if (question != std::string_view::npos) {
        std::string_view params = text.substr(question + 1);
        while (!params.empty()) {
            auto const amp = params.find('&');
            auto const pair = params.substr(0, amp);
            params = amp == std::string_view::npos ? std::string_view{} : params.substr(amp + 1);
            if (pair.empty()) continue;
            auto const eq = pair.find('=');
            auto name = substitute(pair.substr(0, eq), tokens, placement::query, true);
            if (!name) return name.error();
            if (name->empty())
                return std::string("the prefetch template has a query parameter without a name");
            std::string value;
            if (eq != std::string_view::npos) {
                auto substituted = substitute(pair.substr(eq + 1), tokens, placement::query, true);
                if (!substituted) return substituted.error();
                value = std::move(*substituted);
            }
            query.params.emplace_back(std::move(*name), std::move(value));
        }
    }
    return query;
}

std::string encode_query_value(std::string_view decoded) {
    return urls::encode(decoded, query_value_chars);
}

std::string encode_query_name(std::string_view decoded) {
    return urls::encode(decoded, query_name_chars);
}

std::string encode_path_segment(std::string_view decoded) {
    return urls::encode(decoded, urls::pchars);
}

std::string encoded_target(std::string_view base_path, fhir_query const& query) {
    std::string target(base_path);
    while (!target.empty() && target.back() == '/') target.pop_back();
    for (auto const& segment : query.path) {
        target += '/';
        target += encode_path_segment(segment);
    }
    if (target.empty()) target.push_back('/');  // not = "/": GCC 12 -O2 false -Wstringop-overflow
    char separator = '?';
    for (auto const& [name, value] : query.params) {
        target += separator;
        target += encode_query_name(name);
        target += '=';
        target += encode_query_value(value);
        separator = '&';
    }
    return target;
}

}  // namespace cds::service::fhir_client
