// Handing connections to per-thread event loops: in turn while the loops are even, to the loop
// with the fewest open connections once they are not.

#include <cstddef>
#include <vector>

#include <doctest/doctest.h>

#include "cds/service/http/connection_spread.hpp"

namespace {

using cds::service::connection_spread;

// `count` connections opened one after the other; the loop each went to.
std::vector<std::size_t> open_connections(connection_spread& spread, std::size_t count) {
    std::vector<std::size_t> loops;
    for (std::size_t i = 0; i < count; ++i) {
        loops.push_back(spread.next());
        spread.opened(loops.back());
    }
    return loops;
}

TEST_CASE("even loops take new connections in turn") {
    connection_spread spread(3);
    CHECK(open_connections(spread, 7) == std::vector<std::size_t>{0, 1, 2, 0, 1, 2, 0});
    CHECK(spread.open(0) == 3);
    CHECK(spread.open(1) == 2);
    CHECK(spread.open(2) == 2);
}

TEST_CASE("the loop whose connections closed takes the next ones") {
    connection_spread spread(2);
    open_connections(spread, 4);  // two on each loop
    spread.closed(0);
    spread.closed(0);
    // In turn would give loop 0 then 1; loop 0 has none open, so it takes both.
    CHECK(open_connections(spread, 2) == std::vector<std::size_t>{0, 0});
    // Even again: in turn, from the loop after the last one chosen.
    CHECK(open_connections(spread, 2) == std::vector<std::size_t>{1, 0});
}

TEST_CASE("a connection that was never admitted is not counted") {
    connection_spread spread(2);
    CHECK(spread.next() == 0);  // e.g. refused with 503: opened() is not called
    CHECK(spread.next() == 1);
    CHECK(spread.next() == 0);
    CHECK(spread.open(0) == 0);
    CHECK(spread.open(1) == 0);
}

TEST_CASE("one loop takes every connection") {
    connection_spread spread(1);
    CHECK(open_connections(spread, 3) == std::vector<std::size_t>{0, 0, 0});
    CHECK(spread.open(0) == 3);
}

}  // namespace
