// The feedback_sink the server uses with a durable store: each call's record runs on a
// store_executor thread, so a locked or slow database holds no server I/O thread, and the
// client is answered only once the store has committed (200) or given up (503).

#include <atomic>
#include <chrono>
#include <memory>
#include <utility>

#include "cds/service/feedback_store.hpp"

namespace cds::service {

namespace {

class queued_feedback_sink final : public feedback_sink {
public:
    queued_feedback_sink(std::shared_ptr<feedback_store> store, feedback_queue_options options)
        : store_{std::move(store)}, max_wait_{options.max_wait}, executor_{options.executor} {}

    boost::asio::awaitable<feedback_receipt> record(std::string service_id,
                                                    std::vector<feedback_entry> entries) override {
        auto const give_up_at = std::chrono::steady_clock::now() + max_wait_;
        std::function<store_outcome()> job = [store = store_, service_id = std::move(service_id),
                                              entries = std::move(entries), give_up_at] {
            return store->record(service_id, entries, give_up_at);
        };
        std::optional<store_outcome> const outcome = co_await executor_.run(std::move(job));
        if (!outcome) {
            co_return feedback_receipt{false, "too many feedback calls are waiting for the database; retry later"};
        }
        last_outcome_.store(*outcome);
        switch (*outcome) {
        case store_outcome::stored: co_return feedback_receipt{true, {}};
        case store_outcome::busy:
            co_return feedback_receipt{false, "the feedback database is locked by another process; retry later"};
        case store_outcome::failed: break;
        }
        co_return feedback_receipt{false, "feedback could not be stored now; retry later"};
    }

    std::optional<feedback_sink_health> health() const override {
        feedback_sink_health health;
        switch (last_outcome_.load()) {
        case store_outcome::stored: health.status = "ok"; break;
        case store_outcome::busy: health.status = "busy"; break;
        case store_outcome::failed: health.status = "failing"; break;
        }
        health.queued = executor_.queued();
        return health;
    }

private:
    std::shared_ptr<feedback_store> store_;
    std::chrono::milliseconds max_wait_;
    std::atomic<store_outcome> last_outcome_{store_outcome::stored};
    // Declared last: destroyed first, so queued jobs finish while the store is still alive.
    store_executor executor_;
};

}  // namespace

std::shared_ptr<feedback_sink> make_queued_feedback_sink(std::shared_ptr<feedback_store> store,
                                                         feedback_queue_options options) {
    return std::make_shared<queued_feedback_sink>(std::move(store), options);
}

}  // namespace cds::service
