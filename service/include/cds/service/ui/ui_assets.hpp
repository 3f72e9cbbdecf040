#pragma once
// The card viewer's files (service/ui/*, embedded at build time with the scenario index
// generated from fixtures/scenarios), so that an installed binary serves them without a
// data directory. Served by the router at /ui when `serve --enable-ui` is given.

#include <optional>
#include <string_view>

namespace cds::service {

struct ui_asset {
    std::string_view content_type;
    std::string_view body;
};

// The file named `name` ("" is the page itself, index.html), or nothing.
[[nodiscard]] std::optional<ui_asset> find_ui_asset(std::string_view name);

}  // namespace cds::service
