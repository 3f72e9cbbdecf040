#include "cds/service/cds/resource_count.hpp"

#include <string_view>
#include <vector>

#include <boost/json.hpp>

namespace cds::service {

std::size_t count_request_resources(boost::json::value const& request, std::size_t stop_after) {
    if (!request.is_object()) return 0;
    auto const& root = request.get_object();
    // Containers still to visit. Each object's members are read once, in one loop that both
    // spots a string `resourceType` and queues the member containers: a separate look-up of
    // "resourceType" per object cost as much again as the walk itself.
    std::vector<boost::json::value const*> pending;
    pending.reserve(64);
    if (auto const* prefetch = root.if_contains("prefetch")) pending.push_back(prefetch);
    if (auto const* context = root.if_contains("context");
        context != nullptr && context->is_object()) {
        if (auto const* drafts = context->get_object().if_contains("draftOrders"))
            pending.push_back(drafts);
    }
    constexpr std::string_view resource_type = "resourceType";
    std::size_t count = 0;
    while (!pending.empty() && count <= stop_after) {
        boost::json::value const* v = pending.back();
        pending.pop_back();
        if (auto const* o = v->if_object()) {
            // A parsed object has no duplicate keys, so one match per object at most.
            for (auto const& member : *o) {
                auto const& child = member.value();
                if (child.is_structured()) {
                    pending.push_back(&child);
                } else if (child.is_string() && member.key() == resource_type) {
                    ++count;
                }
            }
        } else if (auto const* a = v->if_array()) {
            for (auto const& element : *a) {
                if (element.is_structured()) pending.push_back(&element);
            }
        }
    }
    return count;
}

}  // namespace cds::service
