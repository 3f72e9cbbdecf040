// The body budget: room is taken at once while there is some and nobody waits, given in
// arrival order once bodies are given back, and refused when a request's deadline comes first.

#include <chrono>
#include <cstddef>
#include <optional>

#include <doctest/doctest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "cds/service/http/body_budget.hpp"

namespace {

using namespace std::chrono_literals;
using cds::service::body_budget;
using cds::service::body_reservation;
namespace net = boost::asio;

// A request that takes `bytes` and keeps them until `release` is set; `taken` is the answer.
struct request {
    std::size_t bytes = 0;
    std::chrono::steady_clock::duration patience = 10s;
    std::optional<bool> taken;
    bool release = false;
};

net::awaitable<void> hold(body_budget& budget, request& r) {
    body_reservation reservation{budget};
    r.taken = co_await reservation.take(r.bytes, std::chrono::steady_clock::now() + r.patience);
    if (!*r.taken) co_return;
    net::steady_timer poll(co_await net::this_coro::executor);
    while (!r.release) {
        poll.expires_after(1ms);
        co_await poll.async_wait(net::use_awaitable);
    }
}

request asking_for(std::size_t bytes, std::chrono::steady_clock::duration patience = 10s) {
    request r;
    r.bytes = bytes;
    r.patience = patience;
    return r;
}

void start(net::io_context& io, body_budget& budget, request& r) {
    net::co_spawn(io, hold(budget, r), net::detached);
    io.run_for(20ms);
}

}  // namespace

TEST_CASE("body budget: room in arrival order, refused at the deadline") {
    net::io_context io;
    body_budget budget{10};
    request first = asking_for(8);
    start(io, budget, first);
    CHECK(first.taken == true);

    SUBCASE("a later, smaller body does not pass one that waits") {
        request large = asking_for(5);
        request small = asking_for(2);  // fits beside the first, but the large one came before it
        start(io, budget, large);
        start(io, budget, small);
        CHECK_FALSE(large.taken.has_value());
        CHECK_FALSE(small.taken.has_value());
        first.release = true;
        io.run_for(50ms);
        CHECK(large.taken == true);
        CHECK(small.taken == true);
        large.release = small.release = true;
        io.run_for(50ms);  // they end before they go out of scope
    }
    SUBCASE("a request whose deadline comes first is refused, and the next one still served") {
        request impatient = asking_for(5, 300ms);
        request patient = asking_for(5);
        start(io, budget, impatient);
        start(io, budget, patient);
        io.run_for(350ms);
        CHECK(impatient.taken == false);
        CHECK_FALSE(patient.taken.has_value());
        first.release = true;
        io.run_for(50ms);
        CHECK(patient.taken == true);
        patient.release = true;
        io.run_for(50ms);
    }
    SUBCASE("room given back by a refused request's departure reaches those behind it") {
        request blocked = asking_for(10, 300ms);  // needs everything: waits for the first
        request behind = asking_for(2);           // fits now, but waits behind the blocked one
        start(io, budget, blocked);
        start(io, budget, behind);
        CHECK_FALSE(behind.taken.has_value());
        io.run_for(350ms);
        CHECK(blocked.taken == false);
        CHECK(behind.taken == true);  // given as soon as the one before it left the queue
        behind.release = true;
        first.release = true;
        io.run_for(50ms);
    }
    first.release = true;
    io.run_for(50ms);
}
