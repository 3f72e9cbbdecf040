#pragma once
// The bytes of request bodies the server holds at once (service_limits::body_budget_bytes),
// shared by every connection. A request whose body does not fit waits for room with its body
// unread: the kernel's socket buffer holds it meanwhile (TCP flow control holds the client
// back), so the service's memory holds only the bodies it admitted, however many connections
// send at once. Room is given in arrival order, so a large body is not passed over again and
// again by smaller ones, and no request waits longer than those before it need. How long a
// request may wait is the caller's (service_limits::body_wait).

#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

namespace cds::service {

class body_budget {
public:
    explicit body_budget(std::size_t capacity) : capacity_{capacity} {}
    body_budget(body_budget const&) = delete;
    body_budget& operator=(body_budget const&) = delete;

    // `bytes` of the budget, taken at once when there is room and no request is waiting for
    // room, else when the requests before this one have been given theirs and the bodies
    // being read or handled have given enough back. False when `deadline` comes first.
    // Awaited on the executor the request's session runs on.
    [[nodiscard]] boost::asio::awaitable<bool> take(std::size_t bytes,
                                                    std::chrono::steady_clock::time_point deadline);
    void give_back(std::size_t bytes);

private:
    struct waiter {
        std::size_t bytes = 0;
        bool granted = false;  // guarded by mutex_
        // Woken (cancelled) on its own executor when granted.
        std::shared_ptr<boost::asio::steady_timer> wake;
    };
    // Keeps a waiting request's place until it settles; abandons it if the waiting session
    // is destroyed first.
    struct queue_place {
        body_budget& budget;
        waiter& w;
        bool settled = false;
        ~queue_place();
    };
    bool try_take_now(std::size_t bytes);
    void enqueue(waiter& w);
    // Gives room to the waiters at the head of the queue while it fits; mutex_ held.
    void grant_in_order();
    // A waiter whose deadline came: true if it was granted meanwhile (it keeps the room).
    bool withdraw(waiter& w);
    // A waiter that will not wait any longer: out of the queue, or its room given back.
    void abandon(waiter& w);
    bool is_granted(waiter const& w);

    std::mutex mutex_;
    std::size_t const capacity_;
    std::size_t held_ = 0;         // guarded by mutex_; never more than capacity_
    std::deque<waiter*> waiting_;  // guarded by mutex_; in arrival order
};

// One request's share of the body budget, given back when the request is done with.
class body_reservation {
public:
    explicit body_reservation(body_budget& budget) : budget_{budget} {}
    body_reservation(body_reservation const&) = delete;
    body_reservation& operator=(body_reservation const&) = delete;
    ~body_reservation() {
        if (bytes_ != 0) budget_.give_back(bytes_);
    }

    // See body_budget::take.
    [[nodiscard]] boost::asio::awaitable<bool> take(
        std::size_t bytes, std::chrono::steady_clock::time_point deadline) {
        bool const taken = co_await budget_.take(bytes, deadline);
        if (taken) bytes_ += bytes;
        co_return taken;
    }

private:
    body_budget& budget_;
    std::size_t bytes_ = 0;
};

}  // namespace cds::service
