#include "cds/service/resource_count.hpp"

#include <vector>

#include <boost/json.hpp>

namespace cds::service {

namespace {

bool is_resource(boost::json::object const& o) {
    auto const* type = o.if_contains("resourceType");
    return type != nullptr && type->is_string();
}

}  // namespace

std::size_t count_request_resources(boost::json::value const& request, std::size_t stop_after) {
    if (!request.is_object()) return 0;
    auto const& root = request.get_object();
    std::vector<boost::json::value const*> pending;
    if (auto const* prefetch = root.if_contains("prefetch")) pending.push_back(prefetch);
    if (auto const* context = root.if_contains("context"); context != nullptr && context->is_object()) {
        if (auto const* drafts = context->get_object().if_contains("draftOrders")) pending.push_back(drafts);
    }
    std::size_t count = 0;
    while (!pending.empty() && count <= stop_after) {
        boost::json::value const* v = pending.back();
        pending.pop_back();
        if (v->is_object()) {
            auto const& o = v->get_object();
            if (is_resource(o)) ++count;
            for (auto const& member : o) {
                if (member.value().is_structured()) pending.push_back(&member.value());
            }
        } else if (v->is_array()) {
            for (auto const& element : v->get_array()) {
                if (element.is_structured()) pending.push_back(&element);
            }
        }
    }
    return count;
}

}  // namespace cds::service
