#include "cds/rules/rule_set.hpp"

#include <stdexcept>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <boost/json.hpp>

#include "loader/extract.hpp"
#include "loader/registry_check.hpp"
#include "loader/schema_validation.hpp"
#include "rule_set_data.hpp"

namespace cds::embedded {
extern std::string_view const bundled_rule_set;
extern std::string_view const rule_set_schema;
}  // namespace cds::embedded

namespace cds::rules {

namespace bj = boost::json;

rule_set::rule_set(std::shared_ptr<rule_set_data const> data) : data_(std::move(data)) {
    if (!data_) throw std::invalid_argument("rule_set needs data");
}
std::string const& rule_set::id() const { return data_->id; }
std::string const& rule_set::version() const { return data_->version; }
std::vector<service_definition> const& rule_set::services() const { return data_->services; }
std::vector<std::string> rule_set::rule_ids() const {
    std::vector<std::string> ids;
    ids.reserve(data_->rule_texts.size());
    for (auto const& [id, text] : data_->rule_texts) ids.push_back(id);
    return ids;
}
snooze_periods const& rule_set::snooze() const { return data_->snooze; }
service_definition const* rule_set::find_service(std::string_view service_id) const {
    for (auto const& s : data_->services) {
        if (s.id == service_id) return &s;
    }
    return nullptr;
}

std::string_view bundled_rule_set_json() { return cds::embedded::bundled_rule_set; }
std::string_view rule_set_schema_json() { return cds::embedded::rule_set_schema; }

// JSON, then the schema and the registry (each reporting every problem it finds), then the
// typed extraction with its consistency checks.
rule_set_load_result load_rule_set(std::string_view json_text) {
    rule_set_load_result result;
    rapidjson::Document doc;
    doc.Parse(json_text.data(), json_text.size());
    if (doc.HasParseError()) {
        result.problems.push_back({"/", std::string("not valid JSON at offset ") +
                                            std::to_string(doc.GetErrorOffset()) + ": " +
                                            rapidjson::GetParseError_En(doc.GetParseError())});
        return result;
    }
    validate_against_schema(doc, result.problems);

    boost::system::error_code ec;
    bj::value root = bj::parse(json_text, ec);
    if (ec || !root.is_object()) {
        if (result.problems.empty())
            result.problems.push_back({"/", "not valid JSON: " + ec.message()});
        return result;
    }
    check_against_registry(root.as_object(), result.problems);
    if (!result.problems.empty()) return result;

    auto data = std::make_shared<rule_set_data>();
    try {
        extract_rule_set(root.as_object(), *data, result.problems);
    } catch (std::exception const& e) {
        // The schema should make this unreachable; report rather than crash at start-up.
        result.problems.push_back({"/", std::string("rule file could not be read: ") + e.what()});
    }
    if (!result.problems.empty()) return result;
    result.rules = std::make_shared<rule_set const>(std::move(data));
    return result;
}

}  // namespace cds::rules
