#include "cds/service/fhir_client/search_bundle.hpp"

#include <algorithm>
#include <array>
#include <set>
#include <string_view>

#include <boost/json/array.hpp>
#include <boost/json/string.hpp>

namespace cds::service::fhir_client {

namespace json = boost::json;

namespace {

std::string_view string_member(json::object const& o, std::string_view name) {
    if (auto const* v = o.if_contains(name); v != nullptr && v->is_string()) return v->get_string();
    return {};
}

json::object const* object_member(json::object const& o, std::string_view name) {
    if (auto const* v = o.if_contains(name); v != nullptr && v->is_object())
        return &v->get_object();
    return nullptr;
}

json::array const* array_member(json::object const& o, std::string_view name) {
    if (auto const* v = o.if_contains(name); v != nullptr && v->is_array()) return &v->get_array();
    return nullptr;
}

bool is_plain_id(std::string_view s) {
    return !s.empty() && s.size() <= 64 && s != "." && s != ".." &&
           std::all_of(s.begin(), s.end(), [](char c) {
               return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.';
           });
}

std::string resource_key(json::object const& resource) {
    auto const type = string_member(resource, "resourceType");
    auto const id = string_member(resource, "id");
    if (type.empty() || id.empty()) return {};
    return std::string(type) + "/" + std::string(id);
}

// "Medication/123", "Medication/123/_history/2" -> "123"; anything else -> empty.
std::string_view medication_id_of(std::vector<std::string_view> const& segments) {
    if ((segments.size() == 2 || (segments.size() == 4 && segments[2] == "_history")) &&
        segments[0] == "Medication" && is_plain_id(segments[1])) {
        return segments[1];
    }
    return {};
}

std::vector<std::string_view> split_path(std::string_view s) {
    std::vector<std::string_view> out;
    while (true) {
        auto const slash = s.find('/');
        out.push_back(s.substr(0, slash));
        if (slash == std::string_view::npos) break;
        s.remove_prefix(slash + 1);
    }
    return out;
}

// The Medication id a reference names on `server`, or empty when it names something else.
std::string medication_id_on_server(std::string_view reference, http_url const& server) {
    if (reference.empty() || reference.front() == '#' || reference.starts_with("urn:")) return {};
    if (reference.find("://") == std::string_view::npos) {
        return std::string(medication_id_of(split_path(reference)));
    }
    auto const url = parse_http_url(reference);
    if (!url || !url->same_origin(server) || !url->encoded_query.empty()) return {};
    auto const& base = server.path_segments;
    auto const& segments = url->path_segments;
    if (segments.size() < base.size() || !std::equal(base.begin(), base.end(), segments.begin())) {
        return {};
    }
    std::vector<std::string_view> rest(segments.begin() + static_cast<std::ptrdiff_t>(base.size()),
                                       segments.end());
    return std::string(medication_id_of(rest));
}

}  // namespace

std::string outcome_text(json::object const& outcome, std::size_t limit) {
    std::string text;
    if (auto const* issues = array_member(outcome, "issue")) {
        for (auto const& issue_value : *issues) {
            if (!issue_value.is_object()) continue;
            auto const& issue = issue_value.get_object();
            std::string_view part = string_member(issue, "diagnostics");
            if (part.empty()) {
                if (auto const* details = object_member(issue, "details"))
                    part = string_member(*details, "text");
            }
            if (part.empty()) continue;
            if (!text.empty()) text += "; ";
            text += part;
        }
    }
    if (text.size() > limit) {
        text.resize(limit);
        text += "...";
    }
    return text;
}

boost::system::result<search_page, std::string> read_search_page(json::value body) {
    if (!body.is_object())
        return std::string("the FHIR server answered with JSON that is not a FHIR resource");
    auto& bundle = body.get_object();
    auto const type = string_member(bundle, "resourceType");
    if (type == "OperationOutcome") {
        auto const text = outcome_text(bundle);
        return "the FHIR server answered with an OperationOutcome" +
               (text.empty() ? std::string() : ": " + text);
    }
    if (type != "Bundle") {
        return "the FHIR server answered a search with " +
               (type.empty() ? std::string("JSON that is not a FHIR resource")
                             : "a " + std::string(type) + " instead of a Bundle");
    }

    search_page page;
    if (auto const* links = array_member(bundle, "link")) {
        for (auto const& link : *links) {
            if (link.is_object() && string_member(link.get_object(), "relation") == "next") {
                auto const url = string_member(link.get_object(), "url");
                if (!url.empty()) page.next_url = std::string(url);
            }
        }
    }
    if (auto* entries = bundle.if_contains("entry")) {
        if (!entries->is_array())
            return std::string(
                "the FHIR server answered with a Bundle whose entry is not an array");
        for (auto& entry_value : entries->get_array()) {
            if (!entry_value.is_object()) continue;
            auto& entry = entry_value.get_object();
            auto const* resource = object_member(entry, "resource");
            if (resource == nullptr) continue;
            std::string_view mode;
            if (auto const* search = object_member(entry, "search"))
                mode = string_member(*search, "mode");
            if (mode == "outcome") {
                // R4 Bundle.entry.search.mode: "outcome" entries are about the search itself.
                bool failed = false;
                if (auto const* issues = array_member(*resource, "issue")) {
                    failed =
                        std::any_of(issues->begin(), issues->end(), [](json::value const& issue) {
                            if (!issue.is_object()) return false;
                            auto const severity = string_member(issue.get_object(), "severity");
                            return severity == "error" || severity == "fatal";
                        });
                }
                if (failed) {
                    auto const text = outcome_text(*resource);
                    return "the FHIR server reported an error with the search" +
                           (text.empty() ? std::string() : ": " + text);
                }
                continue;
            }
            page.entries.push_back(std::move(entry_value));
        }
    }
    return page;
}

searchset_builder::searchset_builder() {
    bundle_["resourceType"] = "Bundle";
    bundle_["type"] = "searchset";
    bundle_["total"] = 0;
}

bool searchset_builder::seen(json::value const& resource) {
    if (!resource.is_object()) return false;
    auto key = resource_key(resource.get_object());
    if (key.empty()) return false;
    return !keys_.insert(std::move(key)).second;
}

void searchset_builder::append(json::value entry, bool counts_as_match) {
    auto* entries = bundle_.if_contains("entry");
    if (entries == nullptr) entries = &(bundle_["entry"] = json::array());
    entries->get_array().push_back(std::move(entry));
    if (counts_as_match) bundle_["total"] = ++matches_;
}

void searchset_builder::add(search_page&& page) {
    for (auto& entry : page.entries) {
        auto const* resource = entry.get_object().if_contains("resource");
        if (resource != nullptr && seen(*resource)) continue;
        std::string_view mode;
        if (auto const* search = object_member(entry.get_object(), "search"))
            mode = string_member(*search, "mode");
        append(std::move(entry), mode != "include");
    }
}

void searchset_builder::add_included(json::object resource) {
    json::value value(std::move(resource));
    if (seen(value)) return;
    json::object entry;
    entry["resource"] = std::move(value);
    entry["search"] = json::object{{"mode", "include"}};
    append(std::move(entry), false);
}

std::vector<std::string> missing_medication_references(json::object const& bundle,
                                                       http_url const& server) {
    static constexpr std::array<std::string_view, 4> referring_types{
        "MedicationRequest", "MedicationStatement", "MedicationAdministration",
        "MedicationDispense"};
    auto const* entries = array_member(bundle, "entry");
    if (entries == nullptr) return {};

    std::set<std::string, std::less<>> present;
    for (auto const& entry : *entries) {
        if (!entry.is_object()) continue;
        auto const* resource = object_member(entry.get_object(), "resource");
        if (resource != nullptr && string_member(*resource, "resourceType") == "Medication") {
            present.emplace(string_member(*resource, "id"));
        }
    }
    std::vector<std::string> missing;
    std::set<std::string, std::less<>> listed;
    for (auto const& entry : *entries) {
        if (!entry.is_object()) continue;
        auto const* resource = object_member(entry.get_object(), "resource");
        if (resource == nullptr) continue;
        auto const type = string_member(*resource, "resourceType");
        if (std::find(referring_types.begin(), referring_types.end(), type) ==
            referring_types.end())
            continue;
        auto const* reference = object_member(*resource, "medicationReference");
        if (reference == nullptr) continue;
        auto id = medication_id_on_server(string_member(*reference, "reference"), server);
        if (id.empty() || present.contains(id)) continue;
        auto relative = "Medication/" + id;
        if (listed.insert(relative).second) missing.push_back(std::move(relative));
    }
    return missing;
}

}  // namespace cds::service::fhir_client
