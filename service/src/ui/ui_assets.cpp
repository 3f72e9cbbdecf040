#include "cds/service/ui/ui_assets.hpp"

#include <array>

namespace cds::embedded {
extern std::string_view const ui_index_html;
extern std::string_view const ui_app_js;
extern std::string_view const ui_markdown_js;
extern std::string_view const ui_style_css;
extern std::string_view const ui_scenarios_json;
}  // namespace cds::embedded

namespace cds::service {

std::optional<ui_asset> find_ui_asset(std::string_view name) {
    struct entry {
        std::string_view name;
        std::string_view content_type;
        std::string_view const* body;
    };
    static std::array<entry, 6> const assets{{
        {"", "text/html; charset=utf-8", &embedded::ui_index_html},
        {"index.html", "text/html; charset=utf-8", &embedded::ui_index_html},
        {"app.js", "text/javascript; charset=utf-8", &embedded::ui_app_js},
        {"markdown.js", "text/javascript; charset=utf-8", &embedded::ui_markdown_js},
        {"style.css", "text/css; charset=utf-8", &embedded::ui_style_css},
        {"scenarios.json", "application/json", &embedded::ui_scenarios_json},
    }};
    for (auto const& asset : assets) {
        if (asset.name == name) return ui_asset{asset.content_type, *asset.body};
    }
    return std::nullopt;
}

}  // namespace cds::service
