#pragma once
// For the harnesses that drive the service (cds_service): a service state over the bundled
// rule set, built once per process; the harness sets what it needs deterministic (uuids,
// the clock) before the first input.

#include <memory>
#include <stdexcept>

#include "cds/rules/rule_set.hpp"
#include "cds/service/cds/service_state.hpp"

namespace cds::fuzz {

inline std::unique_ptr<service::service_state> bundled_service_state() {
    auto loaded = rules::load_rule_set(rules::bundled_rule_set_json());
    if (!loaded.rules) throw std::runtime_error("the bundled rule set does not load");
    return std::make_unique<service::service_state>(service::make_service_state(loaded.rules));
}

}  // namespace cds::fuzz
