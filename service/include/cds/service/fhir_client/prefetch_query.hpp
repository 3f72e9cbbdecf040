#pragma once
// Turning a prefetch template into the FHIR query that is sent (CDS Hooks 2.0 "Prefetch
// tokens"): tokens are replaced from the hook context, every query value is percent-encoded,
// and a token that cannot be resolved fails that one query instead of sending a wrong one.
//
// Pure functions, no I/O: unit-tested on their own.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/system/result.hpp>

namespace cds::service::fhir_client {

// Values that prefetch tokens resolve against.
struct token_source {
    // request.context: `{{context.X}}` reads the root-level primitive field X.
    boost::json::object const* context = nullptr;
    // `{{userPractitionerId}}` and its siblings name the FHIR id of the current user's resource
    // of that type. When a value is not given here it is derived from `context.userId` when
    // that is a reference of the matching type ("PractitionerRole/abc" gives
    // userPractitionerRoleId = "abc"); otherwise the token is unresolvable.
    std::optional<std::string> user_practitioner_id;
    std::optional<std::string> user_practitioner_role_id;
    std::optional<std::string> user_patient_id;
    std::optional<std::string> user_related_person_id;
};

// A FHIR read or search relative to the server base, with every part decoded; encoding
// happens once, in `encoded_target`.
struct fhir_query {
    std::vector<std::string> path;                            // {"Observation"}, {"Patient","1"}
    std::vector<std::pair<std::string, std::string>> params;  // in template order

    // A type-level search (`Type?...`) answers with a Bundle; anything else is a read.
    bool is_search() const { return path.size() == 1; }
    // "Patient/123" for reads; the resource type for searches.
    std::string resource_type() const { return path.empty() ? std::string{} : path.front(); }
};

// Substitutes the tokens of `template_text` and splits it into path and query parameters.
// Fails, with a message naming the token or the problem but never a token's value, when:
// a token is unknown, its context field is absent or not a primitive, a user-id token cannot
// be derived, a value placed in the path is not a FHIR id or `Type/id` reference, or the
// template is not a relative FHIR read/search URL.
boost::system::result<fhir_query, std::string> resolve_prefetch_template(
    std::string_view template_text, token_source const& tokens);

// Percent-encodes a query value so that only unreserved characters and ',' (FHIR's "or"
// separator, written by template authors) stay literal: `http://loinc.org|19123-9` becomes
// `http%3A%2F%2Floinc.org%7C19123-9`.
std::string encode_query_value(std::string_view decoded);
// Query parameter names keep ':' (modifiers such as `code:in`) and '.' (chains) literal.
std::string encode_query_name(std::string_view decoded);
// A path segment: unreserved characters, sub-delimiters, ':' and '@' stay literal.
std::string encode_path_segment(std::string_view decoded);

// The origin-form request target: `base_path` (already encoded, e.g. "/fhir", may be empty)
// followed by the encoded path and query, e.g.
// "/fhir/Observation?patient=123&code=http%3A%2F%2Floinc.org%7C19123-9".
std::string encoded_target(std::string_view base_path, fhir_query const& query);

}  // namespace cds::service::fhir_client
