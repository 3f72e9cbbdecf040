#pragma once
// Runs blocking store work (the SQLite feedback store; later a PostgreSQL store and the card
// ledger) on threads of its own, so that a slow or locked database never holds a server I/O
// thread: /healthz, discovery and hook calls keep being answered while a store call waits.
//
// A server coroutine awaits run(job): the job is queued, runs on a store thread, and the
// coroutine resumes on its own executor with the result. The queue is bounded: when it is
// full the coroutine resumes at once with nothing, and the caller answers 503.
//
// Lifetime: a job holds outstanding work on the awaiting coroutine's executor until it
// completes, and lets go of it before the coroutine resumes. The server stops its io_contexts
// once no request is in flight, or at its shutdown timeout; so a job's running time must be
// bounded (the feedback store bounds its lock wait: feedback_queue_options::max_wait) and
// shorter than the server's shutdown timeout. The destructor runs the jobs already queued,
// then joins its threads.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace cds::service {

struct store_executor_options {
    // One thread: SQLite admits one writer at a time, so more threads would only wait for it.
    std::size_t threads = 1;
    // Jobs waiting to start beyond which new ones are refused at once (the client gets 503).
    std::size_t max_queued = 64;
};

class store_executor {
public:
    // Throws std::invalid_argument for zero threads or a zero queue bound (start-up error).
    explicit store_executor(store_executor_options options);
    ~store_executor();
    store_executor(store_executor const&) = delete;
    store_executor& operator=(store_executor const&) = delete;

    // Queues `job`; false when the queue is full or the executor is being destroyed (the job
    // is then dropped without running). Thread-safe. A job must not throw.
    [[nodiscard]] bool try_post(std::function<void()> job);

    // Jobs queued and not yet started.
    [[nodiscard]] std::size_t queued() const;

    // Runs `job` on a store thread and resumes the awaiting coroutine on its own executor with
    // the job's result, or with nothing (at once) when the queue is full. What the job throws
    // is rethrown in the coroutine.
    template <class Result>
    [[nodiscard]] boost::asio::awaitable<std::optional<Result>> run(std::function<Result()> job);

private:
    void work();

    store_executor_options options_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::function<void()>> jobs_;  // guarded by mutex_
    bool stopping_ = false;                   // guarded by mutex_
    std::vector<std::thread> threads_;
};

template <class Result>
boost::asio::awaitable<std::optional<Result>> store_executor::run(std::function<Result()> job) {
    using signature = void(std::exception_ptr, std::optional<Result>);
    auto initiate = [this, job = std::move(job)](auto handler) mutable {
        // The completion must run on the coroutine's executor (its strand), never on the store
        // thread; the tracked executor keeps that executor's io_context running meanwhile.
        using tracked_executor =
            decltype(boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                         boost::asio::execution::outstanding_work.tracked));
        auto resume_on = std::make_shared<std::optional<tracked_executor>>(
            boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                boost::asio::execution::outstanding_work.tracked));
        // std::function needs a copyable callable; the handler is move-only.
        auto pending = std::make_shared<decltype(handler)>(std::move(handler));
        // Once the coroutine has resumed, the server may finish and destroy its io_context at
        // any moment, so the store thread must have let go of every reference into it (the
        // executor copies inside post) before the completion runs: the completion waits for
        // `released`, set only after the store thread's last executor copy is gone.
        auto released = std::make_shared<std::atomic<bool>>(false);
        auto complete = [resume_on, pending, released](std::exception_ptr failure,
                                                       std::optional<Result> result) {
            {
                tracked_executor executor = std::move(**resume_on);
                resume_on->reset();
                boost::asio::post(
                    executor, [pending, released, failure, result = std::move(result)]() mutable {
                        while (!released->load(std::memory_order_acquire))
                            std::this_thread::yield();
                        std::move (*pending)(failure, std::move(result));
                    });
            }
            released->store(true, std::memory_order_release);
        };
        bool const queued = try_post([complete, job = std::move(job)] {
            std::optional<Result> result;
            std::exception_ptr failure;
            try {
                result.emplace(job());
            } catch (...) {
                failure = std::current_exception();
            }
            complete(failure, std::move(result));
        });
        if (!queued) complete(nullptr, std::nullopt);
    };
    co_return co_await boost::asio::async_initiate<decltype(boost::asio::use_awaitable), signature>(
        std::move(initiate), boost::asio::use_awaitable);
}

}  // namespace cds::service
