#include "cds/service/http/body_budget.hpp"

#include <algorithm>
#include <tuple>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace cds::service {

namespace net = boost::asio;

bool body_budget::try_take_now(std::size_t bytes) {
    std::lock_guard lock(mutex_);
    if (!waiting_.empty() || bytes > capacity_ - held_) return false;
    held_ += bytes;
    return true;
}

void body_budget::grant_in_order() {
    while (!waiting_.empty() && waiting_.front()->bytes <= capacity_ - held_) {
        waiter& w = *waiting_.front();
        waiting_.pop_front();
        held_ += w.bytes;
        w.granted = true;
        // Cancelled where the waiter's own coroutine runs, never concurrently with it; the
        // shared timer outlives a waiter that has stopped waiting meanwhile.
        net::post(w.wake->get_executor(), [wake = w.wake] { wake->cancel(); });
    }
}

void body_budget::give_back(std::size_t bytes) {
    std::lock_guard lock(mutex_);
    held_ -= bytes;
    grant_in_order();
}

void body_budget::enqueue(waiter& w) {
    std::lock_guard lock(mutex_);
    waiting_.push_back(&w);
    grant_in_order();  // room may have come back since try_take_now
}

bool body_budget::withdraw(waiter& w) {
    std::lock_guard lock(mutex_);
    if (w.granted) return true;
    waiting_.erase(std::find(waiting_.begin(), waiting_.end(), &w));
    grant_in_order();  // those behind it may fit now
    return false;
}

void body_budget::abandon(waiter& w) {
    std::lock_guard lock(mutex_);
    if (w.granted) {
        held_ -= w.bytes;
    } else {
        waiting_.erase(std::find(waiting_.begin(), waiting_.end(), &w));
    }
    grant_in_order();
}

bool body_budget::is_granted(waiter const& w) {
    std::lock_guard lock(mutex_);
    return w.granted;
}

body_budget::queue_place::~queue_place() {
    if (!settled) budget.abandon(w);
}

net::awaitable<bool> body_budget::take(std::size_t bytes,
                                       std::chrono::steady_clock::time_point deadline) {
    if (try_take_now(bytes)) co_return true;
    auto const executor = co_await net::this_coro::executor;
    waiter w;
    w.bytes = bytes;
    w.wake = std::make_shared<net::steady_timer>(executor);
    enqueue(w);
    // From here on, a session destroyed while it waits (the server stopping) leaves no waiter
    // behind and holds no room.
    queue_place place{*this, w};
    bool granted = is_granted(w);
    while (!granted && std::chrono::steady_clock::now() < deadline) {
        w.wake->expires_at(deadline);
        // Woken by the grant (cancelled) or by the deadline: either way the state says which.
        std::tuple<boost::system::error_code> const woken =
            co_await w.wake->async_wait(net::as_tuple(net::use_awaitable));
        (void)woken;
        granted = is_granted(w);
    }
    place.settled = true;
    if (!granted) granted = withdraw(w);
    co_return granted;
}

}  // namespace cds::service
