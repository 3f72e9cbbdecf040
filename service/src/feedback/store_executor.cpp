#include "cds/service/feedback/store_executor.hpp"

#include <stdexcept>

namespace cds::service {

store_executor::store_executor(store_executor_options options) : options_{options} {
    if (options_.threads == 0 || options_.max_queued == 0) {
        throw std::invalid_argument("store_executor: threads and max_queued must be positive");
    }
    threads_.reserve(options_.threads);
    for (std::size_t i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { work(); });
}

store_executor::~store_executor() {
    {
        std::lock_guard const lock{mutex_};
        stopping_ = true;
    }
    wake_.notify_all();
    for (auto& thread : threads_) thread.join();
}

bool store_executor::try_post(std::function<void()> job) {
    {
        std::lock_guard const lock{mutex_};
        if (stopping_ || jobs_.size() >= options_.max_queued) return false;
        jobs_.push_back(std::move(job));
    }
    wake_.notify_one();
    return true;
}

std::size_t store_executor::queued() const {
    std::lock_guard const lock{mutex_};
    return jobs_.size();
}

void store_executor::work() {
    for (;;) {
        std::function<void()> job;
        {
            std::unique_lock lock{mutex_};
            wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
            // Queued jobs still run when stopping: each one's caller is waiting for its answer.
            if (jobs_.empty()) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        job();
    }
}

}  // namespace cds::service
