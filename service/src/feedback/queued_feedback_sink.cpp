// The feedback_sink and card_ledger the server uses with a durable store. Both queue their
// store work on one store_executor with one thread, so a locked or slow database holds no
// server I/O thread, and jobs run in the order they were queued: feedback is stored after
// every ledger entry queued before it (card_ledger.hpp). A feedback call is answered only
// once the store has committed (200) or given up (503); ledger entries are never waited for.

#include <atomic>
#include <chrono>
#include <memory>
#include <utility>

#include <spdlog/spdlog.h>

#include "cds/service/feedback/feedback_store.hpp"

namespace cds::service {

namespace {

store_executor_options shared_executor_options(feedback_queue_options const& options) {
    store_executor_options shared = options.executor;
    // One writer, so that queue order is store order.
    shared.threads = 1;
    // Each kind keeps its own bound (counted below); the executor's is their sum.
    shared.max_queued = options.executor.max_queued + options.ledger_max_queued;
    return shared;
}

class queued_store_writer final : public feedback_sink, public card_ledger {
public:
    queued_store_writer(std::shared_ptr<feedback_store> store, feedback_queue_options options)
        : store_{std::move(store)},
          max_wait_{options.max_wait},
          feedback_max_queued_{options.executor.max_queued},
          ledger_max_queued_{options.ledger_max_queued},
          executor_{shared_executor_options(options)} {}

    boost::asio::awaitable<feedback_receipt> record(std::string service_id,
                                                    std::vector<feedback_entry> entries) override {
        auto const give_up_at = std::chrono::steady_clock::now() + max_wait_;
        std::optional<store_outcome> outcome;
        if (feedback_queued_.fetch_add(1) < feedback_max_queued_) {
            std::function<store_outcome()> job = [this, service_id = std::move(service_id),
                                                  entries = std::move(entries), give_up_at] {
                feedback_queued_.fetch_sub(1);
                return store_->record(service_id, entries, give_up_at);
            };
            outcome = co_await executor_.run(std::move(job));
        }
        if (!outcome) {
            // Refused by the bound, or by the executor (then the job never ran): not queued.
            feedback_queued_.fetch_sub(1);
            co_return feedback_receipt{
                false, "too many feedback calls are waiting for the database; retry later"};
        }
        last_outcome_.store(*outcome);
        switch (*outcome) {
            case store_outcome::stored:
                co_return feedback_receipt{true, {}};
            case store_outcome::busy:
                co_return feedback_receipt{
                    false, "the feedback database is locked by another process; retry later"};
            case store_outcome::failed:
                break;
        }
        co_return feedback_receipt{false, "feedback could not be stored now; retry later"};
    }

    std::optional<feedback_sink_health> health() const override {
        feedback_sink_health health;
        switch (last_outcome_.load()) {
            case store_outcome::stored:
                health.status = "ok";
                break;
            case store_outcome::busy:
                health.status = "busy";
                break;
            case store_outcome::failed:
                health.status = "failing";
                break;
        }
        health.queued = feedback_queued_.load();
        return health;
    }

    void record(std::vector<ledger_card> cards) override {
        if (cards.empty()) return;
        if (ledger_queued_.fetch_add(1) >= ledger_max_queued_) {
            ledger_queued_.fetch_sub(1);
            count_dropped("its queue is full");
            return;
        }
        bool const queued = executor_.try_post([this, cards = std::move(cards)] {
            ledger_queued_.fetch_sub(1);
            // The wait starts when the writer reaches the entry: a queued entry is never
            // dropped for having waited behind others, only for a store that stays locked.
            auto const outcome =
                store_->record_cards(cards, std::chrono::steady_clock::now() + max_wait_);
            if (outcome != store_outcome::stored) count_dropped("the store did not take them");
        });
        if (!queued) {
            ledger_queued_.fetch_sub(1);
            count_dropped("its queue is full");
        }
    }

    card_ledger_health ledger_health() const override {
        return {ledger_queued_.load(), dropped_.load()};
    }

private:
    // Logged at the 1st, 2nd, 4th, 8th... drop: a full queue under load is seen at once
    // without one log line per hook call.
    void count_dropped(char const* why) {
        auto const dropped = dropped_.fetch_add(1) + 1;
        if ((dropped & (dropped - 1)) == 0) {
            spdlog::warn(
                "card ledger: the cards of a hook call were not recorded ({}); {} hook calls' "
                "cards "
                "dropped so far; feedback on them is reported as for unknown cards",
                why, dropped);
        }
    }

    std::shared_ptr<feedback_store> store_;
    std::chrono::milliseconds max_wait_;
    std::size_t feedback_max_queued_;
    std::size_t ledger_max_queued_;
    std::atomic<std::size_t> feedback_queued_{0};
    std::atomic<std::size_t> ledger_queued_{0};
    std::atomic<std::uint64_t> dropped_{0};
    std::atomic<store_outcome> last_outcome_{store_outcome::stored};
    // Declared last: destroyed first, so queued jobs finish while the store is still alive.
    store_executor executor_;
};

}  // namespace

queued_store make_queued_store(std::shared_ptr<feedback_store> store,
                               feedback_queue_options options) {
    auto writer = std::make_shared<queued_store_writer>(std::move(store), options);
    return {writer, writer};
}

std::shared_ptr<feedback_sink> make_queued_feedback_sink(std::shared_ptr<feedback_store> store,
                                                         feedback_queue_options options) {
    return make_queued_store(std::move(store), options).feedback;
}

}  // namespace cds::service
