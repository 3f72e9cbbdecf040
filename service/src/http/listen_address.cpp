#include <charconv>

#include "cds/service/http/http_server.hpp"

namespace cds::service {

std::optional<listen_address> parse_listen_address(std::string_view text) {
    listen_address out;
    std::string_view port_text;
    if (text.starts_with('[')) {
        auto const close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return std::nullopt;
        out.host = std::string{text.substr(1, close - 1)};
        port_text = text.substr(close + 2);
    } else {
        auto const colon = text.rfind(':');
        if (colon == std::string_view::npos || text.find(':') != colon) return std::nullopt;
        out.host = std::string{text.substr(0, colon)};
        port_text = text.substr(colon + 1);
    }
    if (out.host.empty() || port_text.empty()) return std::nullopt;
    unsigned port = 0;
    auto const [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535)
        return std::nullopt;
    out.port = static_cast<std::uint16_t>(port);
    return out;
}

}  // namespace cds::service
