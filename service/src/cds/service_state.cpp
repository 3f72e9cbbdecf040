#include "cds/service/cds/service_state.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <sys/random.h>

#include <boost/json.hpp>
#include <boost/uuid/uuid.hpp>
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
    schemas->context_by_hook.emplace(
        "patient-view",
        json_schema{embedded::patient_view_context_schema, "patient-view-context.json"});
    schemas->context_by_hook.emplace(
        "order-select",
        json_schema{embedded::order_select_context_schema, "order-select-context.json"});
    schemas->context_by_hook.emplace(
        "order-sign", json_schema{embedded::order_sign_context_schema, "order-sign-context.json"});
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

namespace {

// The kernel's CSPRNG, drawn 4 KiB at a time per thread: Boost.UUID's random_generator makes
// one getrandom(2) call per uuid (three per card), and OpenSSL's DRBG costs ~50k instructions
// per call; this is one system call per 256 uuids. The service never forks, so no two
// processes can hold copies of a buffer.
class thread_random_bytes {
public:
    void fill(unsigned char* out, std::size_t count) {
        if (count > pool_.size() - used_) refill();
        std::memcpy(out, pool_.data() + used_, count);
        std::memset(pool_.data() + used_, 0, count);  // a byte handed out is not kept
        used_ += count;
    }

private:
    void refill() {
        std::size_t filled = 0;
        while (filled < pool_.size()) {
            ssize_t const got = getrandom(pool_.data() + filled, pool_.size() - filled, 0);
            if (got < 0) {
                if (errno == EINTR) continue;
                // Only on a kernel without getrandom(2) (< 3.17): a broken host, not a request.
                throw std::runtime_error(std::string{"getrandom failed: "} + std::strerror(errno));
            }
            filled += static_cast<std::size_t>(got);
        }
        used_ = 0;
    }

    std::array<unsigned char, 4096> pool_{};
    std::size_t used_ = pool_.size();
};

}  // namespace

rules::uuid_source random_uuid_source() {
    return [] {
        thread_local thread_random_bytes random;
        boost::uuids::uuid id{};
        random.fill(id.data, id.size());
        // RFC 4122 §4.4: version 4 (random), variant 10x.
        id.data[6] = static_cast<std::uint8_t>((id.data[6] & 0x0F) | 0x40);
        id.data[8] = static_cast<std::uint8_t>((id.data[8] & 0x3F) | 0x80);
        return boost::uuids::to_string(id);
    };
}

namespace {

std::shared_ptr<loaded_rules const> load_rules_with_discovery(
    std::shared_ptr<rules::rule_set const> rules) {
    if (!rules) return nullptr;
    std::string discovery_body = render_discovery(*rules);
    return std::make_shared<loaded_rules const>(
        loaded_rules{std::move(rules), std::move(discovery_body)});
}

}  // namespace

current_rules::current_rules(std::shared_ptr<rules::rule_set const> rules)
    : loaded_{load_rules_with_discovery(std::move(rules))} {}

current_rules& current_rules::operator=(current_rules const& other) {
    auto loaded = other.snapshot();
    std::lock_guard const lock(mutex_);
    loaded_ = std::move(loaded);
    return *this;
}

current_rules& current_rules::operator=(std::shared_ptr<rules::rule_set const> rules) {
    auto loaded = load_rules_with_discovery(std::move(rules));
    std::lock_guard const lock(mutex_);
    loaded_ = std::move(loaded);
    return *this;
}

std::shared_ptr<rules::rule_set const> current_rules::get() const {
    auto const loaded = snapshot();
    return loaded ? loaded->rules : nullptr;
}

void current_rules::replace(std::shared_ptr<rules::rule_set const> rules) const {
    if (!rules) throw std::invalid_argument("current_rules::replace needs a rule set");
    auto loaded = load_rules_with_discovery(std::move(rules));
    std::lock_guard const lock(mutex_);
    loaded_ = std::move(loaded);
}

service_state make_service_state(std::shared_ptr<rules::rule_set const> rules,
                                 service_limits limits,
                                 cors_policy cors) {
    service_state state;
    state.rules = std::move(rules);
    state.limits = limits;
    state.cors = std::move(cors);
    state.schemas = load_protocol_schemas();
    state.next_uuid = random_uuid_source();
    return state;
}

}  // namespace cds::service
