#pragma once
// Reading members of an already parsed request whose shape the schema has checked only in part:
// absent or mistyped members read as empty, never as an error.

#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace cds::service {

inline std::string string_member(boost::json::object const& o, std::string_view key) {
    if (auto const* v = o.if_contains(key); v != nullptr && v->is_string())
        return std::string{v->get_string()};
    return {};
}

inline bool is_resource_of_type(boost::json::value const& v, std::string_view type) {
    if (!v.is_object()) return false;
    auto const* rt = v.get_object().if_contains("resourceType");
    return rt != nullptr && rt->is_string() && rt->get_string() == type;
}

}  // namespace cds::service
