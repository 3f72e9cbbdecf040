#include "cds/service/service_state.hpp"

#include <boost/json.hpp>
#include <boost/uuid/random_generator.hpp>
#include <boost/uuid/uuid_io.hpp>

namespace cds::embedded {
extern std::string_view const cds_hooks_request_schema;
extern std::string_view const cds_hooks_feedback_schema;
extern std::string_view const patient_view_context_schema;
extern std::string_view const order_select_context_schema;
extern std::string_view const order_sign_context_schema;
}  // namespace cds::embedded

namespace cds::service {

std::shared_ptr<protocol_schemas const> load_protocol_schemas() {
    auto schemas = std::make_shared<protocol_schemas>(protocol_schemas{
        json_schema{embedded::cds_hooks_request_schema, "cds-hooks-request.json"},
        json_schema{embedded::cds_hooks_feedback_schema, "cds-hooks-feedback.json"},
        {}});
    schemas->context_by_hook.emplace("patient-view",
                                     json_schema{embedded::patient_view_context_schema, "patient-view-context.json"});
    schemas->context_by_hook.emplace("order-select",
                                     json_schema{embedded::order_select_context_schema, "order-select-context.json"});
    schemas->context_by_hook.emplace("order-sign",
                                     json_schema{embedded::order_sign_context_schema, "order-sign-context.json"});
    return schemas;
}

std::string render_discovery(rules::rule_set const& rules) {
    boost::json::array services;
    for (auto const& service : rules.services()) {
        boost::json::object entry;
        entry["hook"] = service.hook;
        // The spec makes title optional and forbids empty optional members in responses.
        if (!service.title.empty()) entry["title"] = service.title;
        entry["description"] = service.description;
        entry["id"] = service.id;
        if (!service.prefetch.empty()) {
            boost::json::object prefetch;
            for (auto const& t : service.prefetch) prefetch[t.key] = t.query;
            entry["prefetch"] = std::move(prefetch);
        }
        services.emplace_back(std::move(entry));
    }
    boost::json::object document;
    document["services"] = std::move(services);
    return boost::json::serialize(document);
}

rules::uuid_source random_uuid_source() {
    return [] {
        // One generator per thread: boost::uuids::random_generator is not thread-safe, and a
        // lock here would sit on every card.
        thread_local boost::uuids::random_generator generator;
        return boost::uuids::to_string(generator());
    };
}

service_state make_service_state(std::shared_ptr<rules::rule_set const> rules, service_limits limits,
                                 cors_policy cors) {
    service_state state;
    if (rules) state.discovery_body = render_discovery(*rules);
    state.rules = std::move(rules);
    state.limits = limits;
    state.cors = std::move(cors);
    state.schemas = load_protocol_schemas();
    state.next_uuid = random_uuid_source();
    return state;
}

}  // namespace cds::service
