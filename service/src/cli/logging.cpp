#include <iostream>
#include <memory>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "cds/service/cli/options.hpp"
#include "cds/service/ops/buffered_log_sink.hpp"
#include "cds/service/ops/log_format.hpp"

namespace cds::service::cli {

void use_stderr_logger(std::string const& level_name, bool buffered, std::string const& format) {
    auto const level = spdlog::level::from_str(level_name);
    if (level == spdlog::level::off && level_name != "off")
        throw usage_error("unknown --log-level " + level_name);
    if (format != "text" && format != "json")
        throw usage_error("--log-format must be text or json");
    std::shared_ptr<spdlog::logger> logger;
    if (buffered && format == "json") {
        logger = std::make_shared<spdlog::logger>("magnesium-cds",
                                                  std::make_shared<buffered_log_sink>());
        logger->set_formatter(std::make_unique<ops::json_log_formatter>());
    } else if (buffered && isatty(STDERR_FILENO) == 0) {
        logger = std::make_shared<spdlog::logger>("magnesium-cds",
                                                  std::make_shared<buffered_log_sink>());
        logger->set_formatter(std::make_unique<service_log_formatter>());  // the pattern below
    } else {
        logger = spdlog::stderr_color_mt("magnesium-cds");
        logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
    }
    logger->set_level(level);
    spdlog::set_default_logger(std::move(logger));
}

std::ostream& cerr_after_log() {
    spdlog::default_logger()->flush();
    return std::cerr;
}

}  // namespace cds::service::cli
