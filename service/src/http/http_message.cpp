#include "cds/service/http/http_message.hpp"

#include <algorithm>

namespace cds::service {

namespace {
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
}  // namespace

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                              [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view http_request::header(std::string_view name) const {
    for (auto const& [key, value] : headers) {
        if (iequals(key, name)) return value;
    }
    return {};
}

bool http_request::has_header(std::string_view name) const {
    return std::any_of(headers.begin(), headers.end(),
                       [&](auto const& h) { return iequals(h.first, name); });
}

void http_response::set_header(std::string name, std::string value) {
    for (auto& [key, existing] : headers) {
        if (iequals(key, name)) {
            existing = std::move(value);
            return;
        }
    }
    headers.emplace_back(std::move(name), std::move(value));
}

std::string_view http_response::header(std::string_view name) const {
    for (auto const& [key, value] : headers) {
        if (iequals(key, name)) return value;
    }
    return {};
}

}  // namespace cds::service
